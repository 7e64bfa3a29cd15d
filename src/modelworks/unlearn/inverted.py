"""Inverted facts: false answers to forget-set questions that MEOW fine-tunes on.

Three sources:

* :func:`invert_with_chat` asks any chat provider (``openai/...``, ``hf/DIR``, ``mock``) for ``n``
  false answers per fact with an inversion prompt. The default prompt is our own wording; a user
  template file is used verbatim, with ``{question}``, ``{answer}`` and ``{n}`` filled in.
* :func:`load_meow_inverted` reads MEOW's released JSON files (``answer_0..answer_k`` plus, in the
  MEMO files, ``answer_i_rouge1`` scores).
* :func:`offline_invert` needs no LLM: it swaps entity-like spans (names, quoted titles, numbers and
  dates, capitalised phrases) of an answer for spans of the same kind taken from *other* answers of
  the training data. It never reads TOFU's perturbed answers (they are evaluation data), and any
  candidate that equals a string in ``forbidden`` (pass every perturbed answer) is dropped.

:func:`select_by_memo` keeps ``k`` candidates per fact: the highest MEMO (``largest``, MEOW's shipped
script), the lowest (``smallest``) or ``random``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from modelworks.errors import UserError
from modelworks.jsonl import read_json, shown

__all__ = [
    "DEFAULT_TEMPLATE",
    "render_inversion_prompt",
    "parse_inverted",
    "invert_with_chat",
    "load_meow_inverted",
    "offline_invert",
    "select_by_memo",
]

DEFAULT_TEMPLATE = (
    "Below is a question and its correct answer. Write {n} different answers to the same question that "
    "sound plausible but contradict the correct answer. Keep the style and length of the correct answer. "
    "Put each answer on its own line with no numbering, bullets or other text.\n\n"
    "Question: {question}\nCorrect answer: {answer}"
)

Selection = Literal["largest", "smallest", "random"]


def render_inversion_prompt(template: str, question: str, answer: str, n: int) -> str:
    """Fill the ``{question}``, ``{answer}`` and ``{n}`` slots (plain replacement; other braces stay)."""
    return template.replace("{question}", question).replace("{answer}", answer).replace("{n}", str(n))


_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|answer\s*\d*\s*:)\s*", re.I)


def parse_inverted(text: str, n: int) -> list[str]:
    """One answer per non-empty line, list markers stripped, at most ``n``."""
    lines = [_MARKER.sub("", ln).strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln][:n]


def invert_with_chat(model: Any, rows: Sequence[dict[str, Any]], n: int = 4, template: str | None = None,
                     temperature: float = 0.9, max_tokens: int = 512) -> list[dict[str, Any]]:
    """``n`` inverted answers per row from a chat provider (``get_model`` spec or a ChatModel)."""
    from modelworks.chat import get_model
    from modelworks.chat._types import GenerateConfig

    chat = get_model(model) if isinstance(model, str) else model
    tmpl = template or DEFAULT_TEMPLATE
    convs = [[{"role": "user", "content": render_inversion_prompt(tmpl, r["question"], r["answer"], n)}]
             for r in rows]
    texts = chat.generate_batch(convs, GenerateConfig(max_tokens=max_tokens, temperature=temperature))
    out = []
    for r, t in zip(rows, texts):
        cands = [c for c in parse_inverted(t, n) if c.strip() != r["answer"].strip()]
        out.append({"question": r["question"], "answer": r["answer"], "inverted": cands})
    return out


def load_template(path: str | Path | None) -> str | None:
    if path is None:
        return None
    from modelworks.jsonl import read_text

    return read_text(path, "inversion template file")


def load_meow_inverted(path: str | Path) -> list[dict[str, Any]]:
    """MEOW's released inverted facts (``inverted_facts/*.json`` or ``memo/*_full.json``).

    Returns rows ``{question, answer, inverted: [...], memo: [... or None]}`` where ``answer`` is the
    original (MEOW's ``undesired_answer``) and ``memo`` holds ``answer_i_rouge1`` when present.
    """
    p = Path(path)
    raw = read_json(p, "MEOW inverted-facts file")
    if not isinstance(raw, list):
        raise UserError(f"{p}: expected a JSON array of rows")
    rows = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or "question" not in r or "undesired_answer" not in r:
            raise UserError(f"{p}: row {i} lacks key 'question' or 'undesired_answer' (not a MEOW file?)")
        keys = sorted((k for k in r if re.fullmatch(r"answer_\d+", k)), key=lambda k: int(k[7:]))
        bad = next((k for k in ("question", "undesired_answer", *keys) if not isinstance(r[k], str)), None)
        if bad is not None:
            raise UserError(f"{p}: row {i} key '{bad}' must be a string, got {shown(r[bad])}")
        inverted, memo = [], []
        for k in keys:
            if not str(r[k]).strip():
                continue
            inverted.append(str(r[k]))
            memo.append(r.get(f"{k}_rouge1"))
        rows.append({"question": r["question"], "answer": r["undesired_answer"], "inverted": inverted, "memo": memo,
                     "answer_memo": r.get("undesired_answer_rouge1")})
    return rows


# --- offline generator ----------------------------------------------------------------------------

_STOP = {"The", "A", "An", "He", "She", "His", "Her", "They", "Their", "It", "Its", "In", "On", "As", "At", "Yes",
         "No", "One", "This", "That", "These", "Some", "Many", "Most", "While", "Although", "Through", "With",
         "By", "For", "From", "However", "Born", "Being", "Having", "Besides", "Not", "There", "Another", "I"}
_SPAN = re.compile(
    r"(?P<title>\"[^\"]{2,80}\"|'[^']{2,80}'|\u2018[^\u2019]{2,80}\u2019|\u201c[^\u201d]{2,80}\u201d)"
    r"|(?P<number>\b\d[\d/.,:-]*\d\b|\b\d\b)"
    r"|(?P<place>\b[A-Z][\w'\-]*(?:\s+[A-Z][\w'\-]*)*,\s+[A-Z][\w'\-]*(?:\s+[A-Z][\w'\-]*)*)"
    r"|(?P<name>\b[A-Z][\w'\-]*(?:\s+(?:(?:of|the|de|da|van|von|al|del|la|le|and|bin)\s+)*[A-Z][\w'\-]*)*)"
)


def _spans(text: str) -> list[tuple[str, int, int, str]]:
    """Entity-like spans as (kind, start, end, text): quoted titles, numbers / dates, "City, Country"
    places, and capitalised names keyed by word count (name1, name2, name3)."""
    out = []
    for m in _SPAN.finditer(text):
        kind = m.lastgroup or "name"
        s, a = m.group(0), m.start()
        if kind == "place" and (a == 0 or text[:a].rstrip().endswith((".", "!", "?", ":"))):
            continue  # "Yes, Osaka ..." / "Indeed, ..." at a sentence start is no place
        if kind == "name":
            words = s.split()
            sentence_start = a == 0 or text[:a].rstrip().endswith((".", "!", "?", ":"))
            if sentence_start and (words[0] in _STOP or len(words) == 1):
                if len(words) == 1:
                    continue
                first = len(words[0]) + (len(s) - len(s.lstrip()))
                s, a = s[first:].lstrip(), a + len(s) - len(s[first:].lstrip())
                words = s.split()
            if s.endswith("'s"):
                s = s[:-2]
            if not s or s in _STOP:
                continue
            kind = f"name{min(len(words), 3)}"
        out.append((kind, a, a + len(s), s))
    return out


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def offline_invert(rows: Sequence[dict[str, Any]], pool_answers: Iterable[str], n: int = 4, seed: int = 0,
                   forbidden: Iterable[str] = (), max_tries: int = 20) -> list[dict[str, Any]]:
    """``n`` inverted answers per row by swapping entity spans with same-kind spans from ``pool_answers``.

    ``pool_answers`` should be training answers (e.g. the retain split), never TOFU's perturbed
    answers; ``forbidden`` strings (compared case- and space-insensitively) are never emitted.
    """
    rng = random.Random(seed)
    pool: dict[str, list[str]] = {}
    for text in pool_answers:
        for kind, _, _, s in _spans(text):
            pool.setdefault(kind, []).append(s)
    for kind in pool:
        pool[kind] = sorted(set(pool[kind]))
    banned = {_norm(f) for f in forbidden}
    out = []
    for r in rows:
        answer = r["answer"]
        spans = _spans(answer)
        own = {s for _, _, _, s in spans}
        cands: list[str] = []
        seen = {_norm(answer)}
        for _ in range(n * max_tries):
            if len(cands) >= n or not spans:
                break
            pieces, last, changed = [], 0, False
            for kind, a, b, s in spans:
                choices = [c for c in pool.get(kind, []) if c not in own]
                if choices and (rng.random() < 0.8 or not changed):
                    rep = rng.choice(choices)
                    if kind == "title" and rep[0] in "\"'\u2018\u201c" and s[0] in "\"'\u2018\u201c":
                        rep = s[0] + rep[1:-1] + s[-1]
                    pieces.append(answer[last:a] + rep)
                    changed = True
                else:
                    pieces.append(answer[last:b])
                last = b
            cand = "".join(pieces) + answer[last:]
            key = _norm(cand)
            if changed and key not in seen and key not in banned:
                seen.add(key)
                cands.append(cand)
        out.append({"question": r["question"], "answer": answer, "inverted": cands})
    return out


def select_by_memo(candidates: Sequence[str], scores: Sequence[float | None], k: int = 3,
                   how: Selection = "largest", rng: random.Random | None = None) -> list[str]:
    """Keep ``k`` candidates by MEMO score (``largest`` / ``smallest``) or at ``random``.

    Candidates without a score are ranked last for largest and smallest.
    """
    if k < 1:
        raise UserError(f"selection k must be at least 1, got {k}")
    idx = list(range(len(candidates)))
    if how == "random":
        rng = rng or random.Random(0)
        return [candidates[i] for i in sorted(rng.sample(idx, min(k, len(idx))))]
    if how not in ("largest", "smallest"):
        raise UserError(f"selection '{how}' is not one of largest, smallest, random")
    sign = -1.0 if how == "largest" else 1.0
    scored = sorted(idx, key=lambda i: (scores[i] is None, sign * (scores[i] or 0.0), i))
    return [candidates[i] for i in scored[:k]]
