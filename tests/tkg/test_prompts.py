import json

import pytest

from modelworks.errors import ConfigError, UserError
from modelworks.tkg.prompts import PromptConfig, export_jsonl, iter_prompts

from ._graphs import chain_graph


def _first(cfg):
    return next(iter_prompts(chain_graph(), "test", cfg))


def test_text_prompt_lines_and_answer():
    p = _first(PromptConfig(history=4, reverse="ordinary"))
    lines = p.text.splitlines()
    hist = lines[1:5]
    assert hist == ["1: [E0, R0, E1]", "4: [E0, R0, E5]", "5: [E0, R1, E3]", "7: [E0, R1, E2]"]
    assert lines[-1] == "10: [E0, R0, "
    assert p.answer == "E9"


def test_reverse_styles_render_inverse_facts():
    text_aware = _first(PromptConfig(history=4, reverse="text-aware")).text
    assert "7: [E0, reverse R1, E2]" in text_aware
    pos = _first(PromptConfig(history=4, reverse="position-aware")).text
    assert "7: [E2, R1, E0]" in pos
    ds = chain_graph()
    inverse = [p for p in iter_prompts(ds, "test", PromptConfig(history=4, reverse="position-aware")) if p.query.inverse]
    assert inverse[0].text.splitlines()[-1] == "10: [ , R0, E9]"


def test_text_plus_index_labels_by_first_appearance():
    p = _first(PromptConfig(history=4, style="text+index"))
    assert "1: [E0, R0, 0.E1]" in p.text and "4: [E0, R0, 1.E5]" in p.text
    assert p.labels == {1: "0.E1", 5: "1.E5", 3: "2.E3", 2: "3.E2"}
    assert p.answer == "E9"  # not in the history: the bare name


def test_template_file_used_verbatim(tmp_path):
    t = tmp_path / "t.txt"
    t.write_text("OFFICIAL\n{history}\nQ: {query}")
    p = _first(PromptConfig(history=2, template_file=str(t)))
    assert p.text.startswith("OFFICIAL\n1: [E0, R0, E1]") and p.text.endswith("Q: 10: [E0, R0, ")
    t.write_text("no slots")
    with pytest.raises(UserError, match="slot"):
        _first(PromptConfig(history=2, template_file=str(t)))


def test_export_jsonl(tmp_path):
    n = export_jsonl(chain_graph(), "test", tmp_path / "test.jsonl", PromptConfig(history=3))
    rows = [json.loads(x) for x in (tmp_path / "test.jsonl").read_text().splitlines()]
    assert n == len(rows) == 4
    assert set(rows[0]) == {"prompt", "response", "query"}
    assert rows[0]["response"] == "E9" and rows[1]["response"] == "E0"
    assert rows[0]["prompt"].endswith("10: [E0, R0, ")


def test_bad_prompt_config():
    with pytest.raises(ConfigError, match="style"):
        PromptConfig(style="index")
    with pytest.raises(ConfigError, match="reverse"):
        PromptConfig(reverse="backwards")


def test_bad_limit_or_split_is_a_user_error():
    with pytest.raises(UserError, match="--limit"):
        list(iter_prompts(chain_graph(), "test", PromptConfig(history=2), limit=-1))
    with pytest.raises(UserError, match="--split 'dev'"):
        list(iter_prompts(chain_graph(), "dev", PromptConfig(history=2)))
