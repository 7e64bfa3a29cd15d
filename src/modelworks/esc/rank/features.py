"""Dialogue features for the light scorer: pooled MiniLM embeddings, turn statistics, anchor
similarities and hashed seeker words.

A dialogue is a list of (seeker | supporter, text) turns: ESC-Eval's 11 utterances
(``ESC-Role`` = seeker, ``AI assistant`` = supporter) or a whole ESConv conversation.

- **embedding group** (8 x 384 + 4): mean embedding of the supporter turns, of the seeker turns,
  of the seeker's last 5 turns; max-pooled supporter turns; mean of the supporter's last 2 turns;
  mean of each third (early / middle / late) of the supporter turns; and 4 length numbers;
- **compact group** (4 + 36 + 16): the 4 length numbers; cosine similarities of the seeker's turns
  (last 3: max and mean; all: mean) to 10 anchor sentences (relief/thanks vs. frustration) and of
  the supporter's turns (mean, max) to 3 comforting anchors (the anchors are our own sentences);
  16 turn statistics (:func:`turn_statistics`);
- **lexical group** (4,096): the seeker's words hashed into buckets (CRC-32), sublinear counts,
  L2-normalised (a fixed map: nothing is learned, so nothing but the head is stored).

The ridge scorer fits one head per group and averages them (the compact signal would otherwise
be drowned among the embedding columns). Version 2 of the layout; version 1 had only the first
three embedding means, the length numbers and the anchors.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["dialogue_features", "length_features", "turn_statistics", "hashed_words", "turns_of_utterances",
           "FEATURE_DIM", "FEATURE_VERSION", "EMBED_COLS", "COMPACT_COLS", "LEXICAL_COLS", "SEEKER_ANCHORS",
           "SUPPORTER_ANCHORS"]

FEATURE_VERSION = 2
LAST = 5
HASH_BUCKETS = 4096
SEEKER_ANCHORS = (
    "Thank you so much, talking to you really helped me.",
    "I feel a lot better now, thanks.",
    "That's a good idea, I'm going to try it.",
    "You have been so kind and helpful.",
    "I really appreciate your advice.",
    "That doesn't help me at all.",
    "I still feel awful.",
    "You're not listening to what I'm saying.",
    "I don't think that would work for me.",
    "Whatever, never mind.",
)
N_POSITIVE_ANCHORS = 5  # the first five seeker anchors are positive, the rest negative
SUPPORTER_ANCHORS = (
    "I'm so sorry you are going through this, it must be really hard.",
    "I understand how you feel.",
    "You are not alone in this.",
)
D = 384
N_STATS = 16
_POOLED = 8 * D
_ANCHOR = 3 * len(SEEKER_ANCHORS) + 2 * len(SUPPORTER_ANCHORS)
EMBED_COLS = slice(0, _POOLED + 4)                          # pooled embeddings + length numbers
COMPACT_COLS = slice(_POOLED, _POOLED + 4 + _ANCHOR + N_STATS)  # length numbers + anchors + statistics
LEXICAL_COLS = slice(COMPACT_COLS.stop, COMPACT_COLS.stop + HASH_BUCKETS)
FEATURE_DIM = LEXICAL_COLS.stop
_TOKEN = re.compile(r"[a-z0-9']+")
_FIRST_PERSON = re.compile(r"\b(i|my|me)\b")


def turns_of_utterances(utterances: Sequence[str]) -> list[tuple[str, str]]:
    from modelworks.esc.dialogue import split_utterance

    return [split_utterance(u) for u in utterances]


def length_features(turns: Sequence[tuple[str, str]]) -> np.ndarray:
    sup = sum(len(t) for r, t in turns if r == "supporter")
    seek = sum(len(t) for r, t in turns if r == "seeker")
    return np.array([np.log1p(len(turns)), np.log1p(sup), np.log1p(seek), sup / max(sup + seek, 1)], dtype=np.float32)


def hashed_words(text: str, buckets: int = HASH_BUCKETS) -> np.ndarray:
    """Words of two or more characters -> CRC-32 buckets, 1 + log(count), L2-normalised."""
    v = np.zeros(buckets, dtype=np.float32)
    for w in _TOKEN.findall(text.lower()):
        if len(w) >= 2:
            v[zlib.crc32(w.encode("utf-8")) % buckets] += 1
    nz = v > 0
    v[nz] = 1 + np.log(v[nz])
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def turn_statistics(turns: Sequence[tuple[str, str]], e: np.ndarray, s_seek: np.ndarray) -> np.ndarray:
    """16 numbers: turns per role (log), question rates, similarity of each supporter turn to the
    seeker turn before it (mean, min, max), the seeker's drift (first 3 vs last 3 turns), the
    supporter's self-similarity, the seeker's positive-minus-negative anchor balance (last third,
    first third, their difference, last turn), mean characters per turn per role (log), and the
    share of supporter turns that speak in the first person."""
    roles = [r for r, _ in turns]
    sup_t = [t for r, t in turns if r == "supporter"]
    seek_t = [t for r, t in turns if r == "seeker"]
    sup = e[[r == "supporter" for r in roles]]
    seek = e[[r == "seeker" for r in roles]]
    sims, last = [], None
    for i, r in enumerate(roles):
        if r == "seeker":
            last = e[i]
        elif last is not None:
            sims.append(float(e[i] @ last))
    sim = np.array(sims) if sims else np.zeros(1)
    drift = float(seek[:3].mean(0) @ seek[-3:].mean(0)) if len(seek) else 0.0
    if len(sup) > 1:
        g = sup @ sup.T
        div = float((g.sum() - np.trace(g)) / (len(sup) * (len(sup) - 1)))
    else:
        div = 1.0
    pn = s_seek[:, :N_POSITIVE_ANCHORS].mean(1) - s_seek[:, N_POSITIVE_ANCHORS:].mean(1)
    k = max(1, len(pn) // 3)
    sup_c, seek_c = sum(map(len, sup_t)), sum(map(len, seek_t))
    return np.array([
        np.log1p(len(sup_t)), np.log1p(len(seek_t)),
        np.mean(["?" in t for t in sup_t]) if sup_t else 0.0, np.mean(["?" in t for t in seek_t]) if seek_t else 0.0,
        sim.mean(), sim.min(), sim.max(), drift, div,
        pn[-k:].mean(), pn[:k].mean(), pn[-k:].mean() - pn[:k].mean(), pn[-1],
        np.log1p(sup_c / max(len(sup_t), 1)), np.log1p(seek_c / max(len(seek_t), 1)),
        np.mean([bool(_FIRST_PERSON.search(t.lower())) for t in sup_t]) if sup_t else 0.0,
    ], dtype=np.float32)


def _mean(vecs: np.ndarray) -> np.ndarray:
    return vecs.mean(0) if len(vecs) else np.zeros(D, dtype=np.float32)


def _max(vecs: np.ndarray) -> np.ndarray:
    return vecs.max(0) if len(vecs) else np.zeros(D, dtype=np.float32)


def dialogue_features(encoder, dialogues: Sequence[Sequence[tuple[str, str]]]) -> np.ndarray:
    """(n, FEATURE_DIM) features; all utterances are embedded in one cached batch."""
    anchors = encoder.encode(list(SEEKER_ANCHORS) + list(SUPPORTER_ANCHORS))
    a_seek, a_sup = anchors[: len(SEEKER_ANCHORS)], anchors[len(SEEKER_ANCHORS):]
    texts = [t for d in dialogues for _, t in d]
    emb = encoder.encode(texts) if texts else np.zeros((0, D), dtype=np.float32)
    out, pos = [], 0
    for d in dialogues:
        e = emb[pos:pos + len(d)]
        pos += len(d)
        roles = np.array([r for r, _ in d])
        sup, seek = e[roles == "supporter"], e[roles == "seeker"]
        s_seek = seek @ a_seek.T if len(seek) else np.zeros((1, len(SEEKER_ANCHORS)), dtype=np.float32)
        s_sup = sup @ a_sup.T if len(sup) else np.zeros((1, len(SUPPORTER_ANCHORS)), dtype=np.float32)
        thirds = [_mean(sup[i]) for i in np.array_split(np.arange(len(sup)), 3)]
        out.append(np.concatenate([
            _mean(sup), _mean(seek), _mean(seek[-LAST:]), _max(sup), _mean(sup[-2:]), *thirds,
            length_features(d),
            s_seek[-3:].max(0), s_seek[-3:].mean(0), s_seek.mean(0), s_sup.mean(0), s_sup.max(0),
            turn_statistics(d, e, s_seek),
            hashed_words(" ".join(t for r, t in d if r == "seeker"))]))
    return np.stack(out).astype(np.float32) if out else np.zeros((0, FEATURE_DIM), dtype=np.float32)
