"""Dialogue features for the light scorer: pooled MiniLM embeddings, length, and anchor similarities.

A dialogue is a list of (seeker | supporter, text) turns: ESC-Eval's 11 utterances
(``ESC-Role`` = seeker, ``AI assistant`` = supporter) or a whole ESConv conversation.

- **embedding group** (3 x 384 + 4): mean embedding of the supporter turns, of the seeker turns,
  of the seeker's last 5 turns (how the person reacts towards the end), and 4 length numbers;
- **compact group** (4 + 36): the 4 length numbers and cosine similarities of the seeker's turns
  (last 3: max and mean; all: mean) to 10 anchor sentences (relief/thanks vs. frustration) and of
  the supporter's turns (mean, max) to 3 comforting anchors. The anchors are our own sentences.

The ridge scorer fits one head per group and averages them (the compact signal would otherwise
be drowned among 1,150 embedding columns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["dialogue_features", "length_features", "turns_of_utterances", "FEATURE_DIM", "EMBED_COLS",
           "COMPACT_COLS", "SEEKER_ANCHORS", "SUPPORTER_ANCHORS"]

LAST = 5
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
SUPPORTER_ANCHORS = (
    "I'm so sorry you are going through this, it must be really hard.",
    "I understand how you feel.",
    "You are not alone in this.",
)
_EMB = 3 * 384 + 4
_COMPACT = 4 + 3 * len(SEEKER_ANCHORS) + 2 * len(SUPPORTER_ANCHORS)
FEATURE_DIM = _EMB + _COMPACT - 4  # the 4 length numbers are shared by both groups
EMBED_COLS = slice(0, _EMB)
COMPACT_COLS = slice(_EMB - 4, FEATURE_DIM)


def turns_of_utterances(utterances: Sequence[str]) -> list[tuple[str, str]]:
    from modelworks.esc.dialogue import split_utterance

    return [split_utterance(u) for u in utterances]


def length_features(turns: Sequence[tuple[str, str]]) -> np.ndarray:
    sup = sum(len(t) for r, t in turns if r == "supporter")
    seek = sum(len(t) for r, t in turns if r == "seeker")
    return np.array([np.log1p(len(turns)), np.log1p(sup), np.log1p(seek), sup / max(sup + seek, 1)], dtype=np.float32)


def _mean(vecs: np.ndarray) -> np.ndarray:
    return vecs.mean(0) if len(vecs) else np.zeros(vecs.shape[1], dtype=np.float32)


def dialogue_features(encoder, dialogues: Sequence[Sequence[tuple[str, str]]]) -> np.ndarray:
    """(n, FEATURE_DIM) features; all utterances are embedded in one cached batch."""
    anchors = encoder.encode(list(SEEKER_ANCHORS) + list(SUPPORTER_ANCHORS))
    a_seek, a_sup = anchors[: len(SEEKER_ANCHORS)], anchors[len(SEEKER_ANCHORS):]
    texts = [t for d in dialogues for _, t in d]
    emb = encoder.encode(texts) if texts else np.zeros((0, 384), dtype=np.float32)
    out, pos = [], 0
    for d in dialogues:
        e = emb[pos:pos + len(d)]
        pos += len(d)
        roles = np.array([r for r, _ in d])
        sup, seek = e[roles == "supporter"], e[roles == "seeker"]
        s_seek = seek @ a_seek.T if len(seek) else np.zeros((1, len(SEEKER_ANCHORS)), dtype=np.float32)
        s_sup = sup @ a_sup.T if len(sup) else np.zeros((1, len(SUPPORTER_ANCHORS)), dtype=np.float32)
        out.append(np.concatenate([
            _mean(sup), _mean(seek), _mean(seek[-LAST:]), length_features(d),
            s_seek[-3:].max(0), s_seek[-3:].mean(0), s_seek.mean(0), s_sup.mean(0), s_sup.max(0)]))
    return np.stack(out).astype(np.float32) if out else np.zeros((0, FEATURE_DIM), dtype=np.float32)
