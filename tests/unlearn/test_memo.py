"""MEMO on hand-computed examples, both modes."""

from __future__ import annotations

import pytest

from modelworks.errors import UserError
from modelworks.unlearn.memo import memo_scores, memo_windows, rouge1_precision


def test_suffix_windows_step_five_characters():
    w = memo_windows("Who?", "red fox jumps", "suffix", 5)
    assert w == [("Who? r", "ed fox jumps"), ("Who? red fo", "x jumps"), ("Who? red fox jum", "ps")]


def test_prefix_windows():
    w = memo_windows("Who is Ann?", "red fox", "prefix", 5)
    assert w == [("W", "ho is Ann? red fox"), ("Who is", " Ann? red fox")]


def test_rouge1_precision_counts_generation_unigrams():
    # generation {fox, jump, high} vs target {ed, fox, jump}: 2 of 3 generated unigrams match (stemmed)
    assert rouge1_precision("ed fox jumps", "fox jumping high") == pytest.approx(2 / 3)
    assert rouge1_precision("ps", "fox jumps high") == 0.0


def test_memo_suffix_hand_example():
    calls = []

    def gen(prompts):
        calls.append(list(prompts))
        return ["fox jumps high"] * len(prompts)

    # windows: targets "ed fox jumps" (2/3), "x jumps" (1/3), "ps" (0) -> mean 1/3
    scores = memo_scores(gen, [("Who?", "red fox jumps")], "suffix", 5, batch_size=2)
    assert scores == [pytest.approx(1 / 3)]
    assert [len(c) for c in calls] == [2, 1]  # batched across windows


def test_memo_prefix_hand_example():
    outs = {"W": "is ann", "Who is": "ann cat cat cat"}
    # "is ann" vs "ho is Ann? red fox": 2/2; "ann cat cat cat" vs " Ann? red fox": 1/4 -> 0.625
    scores = memo_scores(lambda ps: [outs[p] for p in ps], [("Who is Ann?", "red fox")], "prefix", 5)
    assert scores == [pytest.approx(0.625)]


def test_memo_many_pairs_and_edge_cases():
    scores = memo_scores(lambda ps: [p.split()[-1] for p in ps], [("q", "a b c d e f g"), ("q", "x")], "suffix", 5)
    assert len(scores) == 2 and scores[1] == 0.0  # one character: no window

    def gen(prompts):
        return ["fox jumps high" if p.startswith("Who?") else "f g zzz" for p in prompts]

    scores = memo_scores(gen, [("q", "a b c d e f g"), ("Who?", "red fox jumps")], "suffix", 5, batch_size=2)
    # pair 1, k = 1, 6, 11: targets "b c d e f g", "d e f g", "g"; generation {f, g, zzz}
    #   -> precisions 2/3, 2/3, 1/3 -> MEMO 5/9
    # pair 2, k = 1, 6, 11: targets "ed fox jumps", "x jumps", "ps"; generation {fox, jump, high} (stemmed)
    #   -> precisions 2/3, 1/3, 0 -> MEMO 1/3
    assert scores == [pytest.approx(5 / 9), pytest.approx(1 / 3)]
    with pytest.raises(UserError):
        memo_windows("q", "a", "middle", 5)  # type: ignore[arg-type]


def test_char_tokenizer_scores_chinese():
    assert rouge1_precision("猫在睡觉", "猫在吃") == 0.0  # default tokenizer drops non-latin text
    assert rouge1_precision("猫在睡觉", "猫在吃", tokenizer="char") == pytest.approx(2 / 3)


def test_memo_cli_writes_per_sample_scores(cli, tiny_lm_dir, tmp_path, shared_data):
    import json

    rows = json.loads((shared_data / "meow" / "inverted_facts" / "forget01_perturbed_generated.json").read_text())[:2]
    data = tmp_path / "inv.json"
    data.write_text(json.dumps(rows))
    out = tmp_path / "run"
    res = cli("unlearn", "memo", "--model", str(tiny_lm_dir), "--data", str(data), "--max-new-tokens", "4",
              "--step", "40", "--out", str(out))
    assert res.returncode == 0, res.stderr
    per = json.loads((out / "memo_scores.json").read_text())
    assert len(per) == 2 and "answer_0_memo" in per[0] and "undesired_answer_memo" in per[0]
    assert all(0.0 <= per[0][k] <= 1.0 for k in per[0] if k.endswith("_memo"))
    assert json.loads((out / "results.json").read_text())["n_pairs"] == 10
    bad = cli("unlearn", "memo", "--model", str(tiny_lm_dir), "--data", str(tmp_path / "none.json"))
    assert bad.returncode == 2 and "data file not found" in bad.stderr


def test_memo_cli_bad_rows_fail_before_loading_the_model(cli, tmp_path):
    import json

    data = tmp_path / "qa.json"
    for rows, args, message in [
        ([{"question": "q", "answer": None}], [], "qa.json: row 0 key 'answer' must be a string, got null"),
        ([{"question": "q", "answer": "a"}, {"question": "q", "answer": 123}], [],
         "qa.json: row 1 key 'answer' must be a string, got 123"),
        ([], [], "qa.json: no rows to score"),
        ([{"question": "q", "answer": "a"}], ["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    ]:
        data.write_text(json.dumps(rows))
        res = cli("unlearn", "memo", "--model", str(tmp_path / "no-model"), "--data", str(data),
                  "--out", str(tmp_path / "run"), *args)
        assert res.returncode == 2 and message in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
