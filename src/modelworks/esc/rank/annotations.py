"""Human (or machine) scores of ESC-Eval dialogues, the training data of ESC-RANK.

Annotation file: JSON lines, one scored dialogue per line::

    {"utterances": ["AI assistant：...", "ESC-Role：...", ...], "scores": {"empathic": 3, ...},
     "language": "en", "annotator": "a1"}

``language`` (en | zh) and ``annotator`` are optional; ``scores`` may hold any subset of the 7
dimensions (each an int in 0..4). Several lines for the same dialogue (several annotators) are
averaged. ``modelworks esc annotate``'s export (``annotations.jsonl``) has this format, and
:func:`pair_files` turns an ESC-Eval dialogue file + score file into it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from modelworks.errors import UserError
from modelworks.esc.dialogue import validate_dialogue
from modelworks.esc.templates import DIMENSIONS
from modelworks.jsonl import read_jsonl

__all__ = ["ScoredDialogue", "load_annotations", "pair_files", "LOW", "HIGH"]

LOW, HIGH = 0, 4


@dataclass
class ScoredDialogue:
    utterances: list[str]
    scores: dict[str, float]   # dimension -> mean score over annotators
    language: str = "en"
    n_annotators: int = 1


def _check_scores(scores: object, where: str) -> dict[str, int]:
    if not isinstance(scores, dict) or not scores:
        raise UserError(f"{where}: field 'scores' must be an object of dimension -> 0..4")
    for dim, v in scores.items():
        if dim not in DIMENSIONS:
            raise UserError(f"{where}: unknown dimension '{dim}' in 'scores'; choose from {', '.join(DIMENSIONS)}")
        if isinstance(v, bool) or not isinstance(v, int) or not LOW <= v <= HIGH:
            raise UserError(f"{where}: score '{dim}' must be an integer {LOW}..{HIGH}, got {v!r}")
    return scores  # type: ignore[return-value]


def load_annotations(path: str | Path) -> list[ScoredDialogue]:
    groups: dict[str, dict] = {}
    for where, obj in read_jsonl(path, "annotation file"):
        if "utterances" not in obj:
            raise UserError(f"{where}: missing field 'utterances' (the dialogue's list of strings)")
        utts = validate_dialogue(obj["utterances"], where)
        scores = _check_scores(obj.get("scores"), where)
        lang = obj.get("language", "en")
        if lang not in ("en", "zh"):
            raise UserError(f"{where}: field 'language' must be en or zh, got {lang!r}")
        g = groups.setdefault(json.dumps(utts, ensure_ascii=False), {"utts": utts, "lang": lang, "s": {}, "n": 0})
        g["n"] += 1
        for dim, v in scores.items():
            g["s"].setdefault(dim, []).append(v)
    if not groups:
        raise UserError(f"{path}: no annotations")
    return [ScoredDialogue(g["utts"], {d: sum(v) / len(v) for d, v in g["s"].items()}, g["lang"], g["n"])
            for g in groups.values()]


def pair_files(dialogue_file: str | Path, score_file: str | Path, language: str = "en") -> list[dict]:
    """ESC-Eval ``result/*.json`` + ``score/*.json`` -> annotation records (scores of -1 dropped)."""
    from modelworks.jsonl import read_json

    d = read_json(dialogue_file, "ESC-Eval dialogue file")
    s = read_json(score_file, "ESC-Eval score file")
    out = []
    for idx, utts in d.items():
        if idx not in s:
            raise UserError(f"{score_file}: no scores for dialogue '{idx}' of {dialogue_file}")
        out.append({"utterances": utts, "language": language,
                    "scores": {k: v for k, v in s[idx].items() if k in DIMENSIONS and v != -1}})
    return out
