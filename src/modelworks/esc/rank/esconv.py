"""ESConv conversations (``esconv_dev.jsonl`` and ``FailedESConv.json``) as speaker turns + survey.

Both schemas are read: the HF re-format (``dialog[{text, speaker: usr|sys}]``) and the original one
(``dialog[{content, speaker: seeker|supporter|speaker|listener}]``; in FailedESConv "speaker" is
the seeker and "listener" the supporter). Targets from the seeker's post-chat survey:
``empathy`` and ``relevance`` (1-5) and ``intensity_drop`` = initial - final emotion intensity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from modelworks.errors import UserError
from modelworks.jsonl import line_number, read_jsonl

__all__ = ["Conversation", "load_esconv", "TARGETS", "target_value"]

TARGETS = ("empathy", "relevance", "intensity_drop")
_SEEKER = {"usr", "seeker", "speaker"}
_SUPPORTER = {"sys", "supporter", "listener"}


@dataclass
class Conversation:
    id: str
    turns: list[tuple[str, str]]  # (seeker | supporter, text)
    survey: dict[str, str] = field(default_factory=dict)
    situation: str = ""


def target_value(conv: Conversation, target: str) -> float | None:
    """The survey value of ``target`` or None when the conversation has no post-chat survey."""
    if target not in TARGETS:
        raise UserError(f"unknown ESConv target '{target}'; choose from {', '.join(TARGETS)}")
    s = conv.survey
    try:
        if target == "intensity_drop":
            return float(s["initial_emotion_intensity"]) - float(s["final_emotion_intensity"])
        return float(s[target])
    except (KeyError, TypeError, ValueError):
        return None


def _parse(record: dict, where: str, default_id: str) -> Conversation:
    if not isinstance(record, dict) or not isinstance(record.get("dialog"), list):
        raise UserError(f"{where}: missing field 'dialog' (a list of turns)")
    turns = []
    for j, t in enumerate(record["dialog"]):
        if not isinstance(t, dict):
            raise UserError(f"{where}: dialog[{j}] is not an object")
        speaker = t.get("speaker")
        text = t.get("text", t.get("content"))
        if speaker in _SEEKER:
            role = "seeker"
        elif speaker in _SUPPORTER:
            role = "supporter"
        else:
            raise UserError(f"{where}: dialog[{j}] field 'speaker' is {speaker!r}; expected usr/sys or seeker/supporter")
        if not isinstance(text, str):
            raise UserError(f"{where}: dialog[{j}] has no 'text' (or 'content') string")
        turns.append((role, text.strip()))
    scores = record.get("survey_score") or {}
    survey = scores.get("seeker") if isinstance(scores, dict) else None
    if not isinstance(scores, dict) or not isinstance(survey or {}, dict):
        raise UserError(f"{where}: field 'survey_score' must be an object with a 'seeker' object")
    survey = survey or {}
    for key in ("initial_emotion_intensity", "empathy", "relevance", "final_emotion_intensity"):
        value = survey.get(key)
        if value is None:
            continue
        try:
            ok = float(value) in (1, 2, 3, 4, 5) and not isinstance(value, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UserError(f"{where}: survey_score.seeker.{key} must be a rating 1-5, got {value!r}")
    return Conversation(id=str(record.get("id", default_id)), turns=turns, survey=dict(survey),
                        situation=str(record.get("situation", "")))


def load_esconv(path: str | Path) -> list[Conversation]:
    """Read ESConv JSONL (one conversation per line) or a JSON list (FailedESConv.json); errors name
    ``<file>:<line>`` (JSONL) or ``<file> item <i>`` (JSON list)."""
    from modelworks.jsonl import read_text

    p = Path(path)
    text = read_text(p, "ESConv file")
    out = []
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        for i, r in enumerate(records):
            out.append(_parse(r, f"{p} item {i}", str(i)))
    else:  # JSONL: the shared reader; a record without an id gets its 0-based line number
        for where, r in read_jsonl(p, "ESConv file"):
            out.append(_parse(r, where, str(line_number(where) - 1)))
    if not out:
        raise UserError(f"{p}: no conversations")
    return out
