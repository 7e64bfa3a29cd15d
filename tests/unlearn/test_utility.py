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
    # per-text mean: "a b c a b c" 0.25, "a b c d e f g h" 6 distinct trigrams 0.0 -> 0.125
    # (pooling counts would give 1 - 9/10 = 0.1; pooling unique trigrams across texts 1 - 8/10 = 0.2)
    assert rep_n(["a b c a b c", "a b c d e f g h"], 3) == pytest.approx(0.125)
    assert rep_n(["a b c a b c", "a b c d e f g h", "x y"], 3) == pytest.approx(0.125)  # too short: skipped


def test_bleu():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(1.0)
    assert bleu(["the cat sat on the mat"], ["dogs run fast in parks today"]) == pytest.approx(0.0, abs=1e-9)
    # same length (BP = 1); clipped n-gram precisions 5/6, 3/5, 2/4, 1/3 -> product 1/12 -> BLEU-4 = 12^(-1/4)
    assert bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(12 ** -0.25)
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
    assert out["n"] == 6
    # a model cannot be wrong when the gold option is the only one
    single = [{"question": r["question"], "choices": [r["choices"][0]], "answer": 0} for r in rows]
    assert multiple_choice_accuracy(model, tok, single)["accuracy"] == 1.0


class _WordTokenizer:
    """Whitespace tokens: 'good' -> 3, 'x' -> 4, any other word -> 5; pad 0, bos 1, eos 2."""

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [{"good": 3, "x": 4}.get(w, 5) for w in text.split()]}


def _fixed_next_token_model(probs):
    """A causal LM stub whose next-token distribution is ``probs`` at every position."""
    import math
    from types import SimpleNamespace

    import torch

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.logp = torch.nn.Parameter(torch.tensor([math.log(p) for p in probs]))

        def forward(self, input_ids, attention_mask=None):
            b, t = input_ids.shape
            return SimpleNamespace(logits=self.logp.expand(b, t, len(probs)))

    return Fixed()


def test_multiple_choice_summed_vs_length_normalised():
    # p(pad, bos, eos, good, x, other) at every position; answer tokens include the eos
    model = _fixed_next_token_model([0.025, 0.025, 0.2, 0.5, 0.2, 0.05])
    tok = _WordTokenizer()
    # "x": tokens x, eos -> summed log-lik 2 ln 0.2 = -3.22, mean -1.61
    # "good good good good": 4 x good, eos -> summed 4 ln 0.5 + ln 0.2 = -4.38, mean -0.88
    # summed picks "x" (index 0), length-normalised picks "good good good good" (index 1)
    choices = ["x", "good good good good"]
    rows = [{"question": "q one", "choices": choices, "answer": 0},
            {"question": "q two", "choices": choices, "answer": 0},
            {"question": "q three", "choices": choices, "answer": 1}]
    assert multiple_choice_accuracy(model, tok, rows)["accuracy"] == pytest.approx(2 / 3)
    assert multiple_choice_accuracy(model, tok, rows, normalize=True)["accuracy"] == pytest.approx(1 / 3)
    assert multiple_choice_accuracy(model, tok, rows, batch_size=2)["accuracy"] == pytest.approx(2 / 3)


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
