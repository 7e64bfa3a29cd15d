"""ESC-RANK-style scoring with any chat provider (a real ESC-RANK, a GPT-4-class judge, a mock).

Prompt (one user message per dimension, as in ESC-Eval's ``score.py``): the dimension's rubric,
then the dialogue, then the question, filled into the ``rank_prompt`` template. The dialogue is
the utterances joined by a blank line, stripped, with the speaker tags rewritten as the original
does: ``"AI assistant"`` -> ``"**AI助手**"`` (the colon kept) and ``"ESC-Role："`` -> ``"**用户**"``
(the colon dropped).

Score parsing follows the original loop exactly: the labels "0", "1", "2", "3", "4" are tried in
that order and the first one that occurs anywhere in the reply is the score, else -1. Note that
this is the *smallest* digit present, not the leftmost: "4 (on a 0-4 scale)" parses as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from modelworks.chat import ChatModel, GenerateConfig
from modelworks.esc.dialogue import ROLE_TAG
from modelworks.esc.templates import DIMENSIONS, TemplateSet, fill

__all__ = ["rank_dialogue_text", "rank_prompt", "parse_score", "judge_dialogue", "JUDGE_CONFIG"]

JUDGE_CONFIG = GenerateConfig(max_tokens=16, temperature=0.0)


def rank_dialogue_text(utterances: Sequence[str]) -> str:
    """The 11 utterances joined by "\\n\\n" with ESC-RANK's speaker tags."""
    return "\n\n".join(utterances).replace("AI assistant", "**AI助手**").replace(ROLE_TAG, "**用户**").strip()


def rank_prompt(utterances: Sequence[str], dimension: str, templates: TemplateSet) -> str:
    if dimension not in DIMENSIONS:
        from modelworks.errors import UserError

        raise UserError(f"unknown ESC dimension '{dimension}'; choose from {', '.join(DIMENSIONS)}")
    return fill(
        templates.rank_prompt,
        rubric=templates.rubrics[dimension],
        dialogue=rank_dialogue_text(utterances),
        dimension=templates.question_names[dimension],
    )


def parse_score(reply: str | None) -> int:
    """The first of "0".."4" (in that order) contained in ``reply``, else -1: "3" -> 3, "Score: 3/4" -> 3,
    "4 of 0-4" -> 0, "5" -> -1, "" -> -1."""
    text = reply or ""
    for label in "01234":
        if label in text:
            return int(label)
    return -1


def judge_dialogue(
    utterances: Sequence[str],
    judge: ChatModel,
    templates: TemplateSet,
    dimensions: Iterable[str] = DIMENSIONS,
    config: GenerateConfig | None = None,
) -> dict[str, int]:
    """Score one dialogue on each dimension (-1 where the judge gave no digit 0-4)."""
    out = {}
    for dim in dimensions:
        reply = judge.generate([{"role": "user", "content": rank_prompt(utterances, dim, templates)}],
                               config or JUDGE_CONFIG)
        out[dim] = parse_score(reply)
    return out
