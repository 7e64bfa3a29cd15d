"""ESC-RANK prompt format and the score-parsing rule."""

from __future__ import annotations

import pytest

from modelworks.chat import MockChat
from modelworks.esc.judge import judge_dialogue, parse_score, rank_dialogue_text, rank_prompt
from modelworks.esc.templates import DIMENSIONS, load_templates

UTTS = ["AI assistant：Hello!", "ESC-Role：I feel low.", "AI assistant：I'm sorry to hear that."]


@pytest.mark.parametrize("reply,score", [
    ("3", 3), ("Score: 2", 2), ("4", 4), ("0", 0), ("", -1), (None, -1), ("five", -1), ("5", -1),
    ("9 out of 10", 0), ("9 out of 9", -1), ("Score: 3/4", 3), ("4 (on a 0-4 scale)", 0),  # smallest label present wins
    ("I give it 4, not 2", 2), ("-1", 1), ("３", -1),  # full-width digits are not labels
])
def test_parse_score(reply, score):
    assert parse_score(reply) == score


def test_dialogue_text_rewrites_tags():
    text = rank_dialogue_text(UTTS)
    assert text == "**AI助手**：Hello!\n\n**用户**I feel low.\n\n**AI助手**：I'm sorry to hear that."


def test_prompt_structure_and_judge_calls():
    t = load_templates("en")
    p = rank_prompt(UTTS, "empathic", t)
    assert p.startswith(t.rubrics["empathic"])
    assert rank_dialogue_text(UTTS) in p and "empathy score" in p
    judge = MockChat(responses=["3", "x", "Score 2", "4", "1", "0", "2"])
    scores = judge_dialogue(UTTS, judge, t)
    assert list(scores) == list(DIMENSIONS)
    assert list(scores.values()) == [3, -1, 2, 4, 1, 0, 2]
    assert [c[0]["role"] for c in judge.calls] == ["user"] * 7 and all(len(c) == 1 for c in judge.calls)


def test_supplied_rank_template_verbatim(tmp_path):
    f = tmp_path / "rank.txt"
    f.write_text("{rubric}Dialogue:\n{dialogue}\nGive {dimension} now.", encoding="utf-8")
    r = tmp_path / "rub.txt"
    r.write_text("RUBRIC-E\n", encoding="utf-8")
    t = load_templates("en", {"rank_prompt": str(f), "rubric.empathic": str(r)})
    assert rank_prompt(UTTS, "empathic", t) == "RUBRIC-E\nDialogue:\n" + rank_dialogue_text(UTTS) + "\nGive empathy now."
