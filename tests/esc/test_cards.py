"""Role cards: loading, validation with one-line errors, filtering."""

from __future__ import annotations

import json

import pytest

from modelworks.errors import UserError
from modelworks.esc.cards import filter_cards, load_cards


def card(i, lang="english", source="ESconv", res="家庭生活"):
    return {"base": f"Age: {i}\nGender: F\nOccupation: x\nProblem: p{i}", "base_biaozhu": "年龄", "res": res,
            "source": source, "language": lang, "id": i}


def test_shared_cards_load_and_counts(shared_data):
    en = load_cards(shared_data / "esc" / "role_cards" / "card_high_en.json")
    zh = load_cards(shared_data / "esc" / "role_cards" / "card_high_zh.json")
    assert len(en) == 331 and len(zh) == 324
    assert len(filter_cards(en, source=["esconv"])) == 158
    assert len(filter_cards(en, category=["work & study"])) == 87
    assert len(filter_cards(zh, source=["PsyQA"])) == 252
    assert len(filter_cards(en + zh, language="zh")) == 324
    test = load_cards(shared_data / "esc" / "role_cards" / "test_en.json")
    assert [c.id for c in test] == [32025, 32027, 32032]


def test_filter_sample_is_seeded_and_ordered(tmp_path):
    cards = load_cards(_write(tmp_path, [card(i) for i in range(20)] + [card(100, "chinese", "PsyQA", "工作学习")]))
    a = filter_cards(cards, n=5, seed=1)
    assert a == filter_cards(cards, n=5, seed=1) and len(a) == 5
    assert [c.id for c in a] == sorted(c.id for c in a)
    assert [c.id for c in filter_cards(cards, category=["工作学习"])] == [100]
    assert filter_cards(cards, language="chinese")[0].lang == "zh"
    with pytest.raises(UserError, match="unknown card category"):
        filter_cards(cards, category=["sports"])


def _write(tmp_path, records, name="cards.json"):
    p = tmp_path / name
    p.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return p


@pytest.mark.parametrize("records,match", [
    ([{k: v for k, v in card(1).items() if k != "base"}], r"card 0: missing field 'base'"),
    ([card(1), {**card(2), "language": "french"}], r"card 1: field 'language' is 'french'"),
    ([{**card(1), "id": "abc"}], r"field 'id' must be an integer"),
    ([card(1), card(1)], r"duplicate card id 1"),
    ([{**card(1), "res": ""}], r"field 'res' must be a non-empty string"),
    ([], r"no role cards"),
    (["text"], r"must be a JSON object"),
])
def test_bad_cards_one_line_errors(tmp_path, records, match):
    with pytest.raises(UserError, match=match) as e:
        load_cards(_write(tmp_path, records))
    assert "\n" not in str(e.value) and "cards.json" in str(e.value)


def test_bad_card_file_cli_exit_2(tmp_path, cli):
    bad = _write(tmp_path, [{**card(1), "language": "klingon"}])
    r = cli("esc", "run", "--cards", str(bad), "--out", str(tmp_path / "run"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "field 'language'" in r.stderr
    r = cli("esc", "cards", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "role-card file not found" in r.stderr


def test_jsonl_cards(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(json.dumps(card(i)) for i in range(3)) + "\n", encoding="utf-8")
    assert len(load_cards(p)) == 3
