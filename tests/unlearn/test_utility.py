"""Utility hooks: log-likelihood multiple choice, BLEU, Rep-3."""

from __future__ import annotations

import json

import pytest

from modelworks.errors import UserError
from modelworks.unlearn.utility import bleu, load_mc_jsonl, load_nlg_jsonl, multiple_choice_accuracy, rep_n


def test_rep3_hand_example():
    # "a b c a b c": trigrams abc, bca, cab, abc -> 3 unique of 4 -> 0.25
    assert rep_n(["a b c a b c"], 3) == pytest.approx(0.25)
    assert rep_n(["a b c d", "x y"], 3) == 0.0


def test_bleu():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(1.0)
    assert bleu(["the cat sat on the mat"], ["dogs run fast in parks today"]) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(UserError):
        bleu(["a"], [])


def test_multiple_choice(tiny_lm_dir, tmp_path):
    from modelworks.models import load_causal_lm, load_tokenizer

    p = tmp_path / "mc.jsonl"
    rows = [{"question": f"what is {i} plus {i}?", "choices": [str(2 * i), "zebra crossing"], "answer": 0}
            for i in range(6)]
    p.write_text("\n".join(json.dumps(r) for r in rows))
    loaded = load_mc_jsonl(p)
    model, tok = load_causal_lm(tiny_lm_dir), load_tokenizer(tiny_lm_dir, padding_side="right")
    out = multiple_choice_accuracy(model, tok, loaded)
    assert 0.0 <= out["accuracy"] <= 1.0 and out["n"] == 6
    # a model cannot be wrong when the gold option is the only one
    single = [{"question": r["question"], "choices": [r["choices"][0]], "answer": 0} for r in rows]
    assert multiple_choice_accuracy(model, tok, single)["accuracy"] == 1.0


def test_mc_bad_file(tmp_path):
    p = tmp_path / "mc.jsonl"
    p.write_text('{"question": "q", "choices": ["a"], "answer": 3}\n')
    with pytest.raises(UserError, match=":1: key 'answer'"):
        load_mc_jsonl(p)
    with pytest.raises(UserError, match="not found"):
        load_mc_jsonl(tmp_path / "none.jsonl")


def test_utility_cli(cli, tmp_path):
    p = tmp_path / "nlg.jsonl"
    p.write_text(json.dumps({"reference": "a b c d", "generation": "a b c a b c"}) + "\n")
    res = cli("unlearn", "utility", "--nlg", str(p))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["nlg"]["rep3"] == pytest.approx(0.25) and out["nlg"]["n"] == 1
    p.write_text('{"ref": "x"}\n')
    res = cli("unlearn", "utility", "--nlg", str(p))
    assert res.returncode == 2 and ":1: needs keys reference and generation" in res.stderr


@pytest.mark.parametrize(("row", "message"), [
    ({"question": "q", "choices": ["a", "b"], "answer": "x"}, "key 'answer' must be an integer index"),
    ({"question": "q", "choices": ["a", "b"], "answer": 1.7}, "key 'answer' must be an integer index"),
    ({"question": "q", "choices": ["a", "b"], "answer": True}, "key 'answer' must be an integer index"),
    ({"question": "q", "choices": ["a", "b"], "answer": -1}, "key 'answer' must be an integer index"),
    ({"question": "q", "choices": ["a", None], "answer": 0}, "key 'choices' must be a non-empty list of non-empty"),
    ({"question": "q", "choices": ["a", ""], "answer": 0}, "key 'choices' must be a non-empty list of non-empty"),
    ({"question": "q", "choices": [], "answer": 0}, "key 'choices' must be a non-empty list"),
    ({"question": None, "choices": ["a"], "answer": 0}, "key 'question' must be a string, got null"),
], ids=["string", "float", "bool", "negative", "null_choice", "empty_choice", "no_choices", "null_question"])
def test_mc_bad_values(tmp_path, row, message):
    p = tmp_path / "mc.jsonl"
    p.write_text(json.dumps({"question": "ok", "choices": ["a"], "answer": 0}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(UserError, match=f"mc.jsonl:2: {message}"):
        load_mc_jsonl(p)


def test_nlg_bad_files(tmp_path, cli):
    p = tmp_path / "nlg.jsonl"
    p.write_text("\n")
    with pytest.raises(UserError, match="nlg.jsonl: no reference/generation pairs"):
        load_nlg_jsonl(p)
    p.write_text(json.dumps({"reference": "a b", "generation": None}) + "\n")
    with pytest.raises(UserError, match="nlg.jsonl:1: key 'generation' must be a string, got null"):
        load_nlg_jsonl(p)
    p.write_text("")
    res = cli("unlearn", "utility", "--nlg", str(p))
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        f"error: {p}: no reference/generation pairs in the file"]
