"""The recipe end to end on generated data with a tiny model (run + compare + report), and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelworks.config import load_config
from modelworks.models import load_causal_lm
from modelworks.unlearn.config import UnlearnConfig
from modelworks.unlearn.recipe import run_experiment
from modelworks.unlearn.tables import dominated_by

TINY = Path(__file__).resolve().parents[2] / "configs" / "unlearn" / "tiny.yaml"
FAST = ["finetune.epochs=3", "finetune.pretrain_epochs=2", "data.eval_size=12", "memo.max_new_tokens=8",
        "unlearn.epochs=2", "unlearn.eval_every=2"]


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    cfg = load_config(UnlearnConfig, TINY, FAST)
    out = tmp_path_factory.mktemp("cmp")
    return run_experiment(cfg, ["meow", "npo", "gd"], out=out, job="unlearn-compare")


def test_compare_writes_results_report_and_plots(compare_run):
    run, res = compare_run
    for name in ("results.json", "report.md", "config.yaml", "metrics.jsonl", "fq_vs_mu.png",
                 "forget_nll_over_steps.png", "fq_over_steps.png", "inverted_facts.json", "eval/target.json",
                 "eval/retain.json", "eval/meow.json", "target_model/config.json"):
        assert run.path(name).exists(), name
    saved = json.loads(run.path("results.json").read_text())
    assert [m["method"] for m in saved["methods"]] == ["meow", "npo", "gd"]
    for m in saved["methods"]:
        assert 0.0 <= m["forget_quality"] <= 1.0 and 0.0 <= m["model_utility"] <= 1.0
        assert len(m["over_steps"]) >= 2 and m["probe"][0]["step"] == 0
    assert saved["retain"]["forget_quality"] == 1.0
    tr = saved["training"]
    assert tr["pretrain_seconds"] > 0 and tr["target"]["seconds"] > 0 and tr["inverted_seconds"] > 0
    # stage rows carry wall-clock seconds, so a run cut short still shows where its time went
    from modelworks.runs import read_metrics

    staged = [r for r in read_metrics(run.path("metrics.jsonl"))
              if str(r.get("stage", "")).startswith(("finetune", "unlearn"))]
    times = [r["elapsed_s"] for r in staged]
    assert staged and times == sorted(times) and times[-1] > 0
    evals = {r["model"]: r for r in read_metrics(run.path("metrics.jsonl")) if r.get("stage") == "eval"}
    assert {"target", "retain", "meow", "npo", "gd"} <= set(evals)
    assert evals["meow"]["forget_quality"] == saved["methods"][0]["forget_quality"]
    report = run.path("report.md").read_text()
    assert "| meow |" in report and "GradDiff" in report and "open-unlearning" in report
    inv = json.loads(run.path("inverted_facts.json").read_text())
    assert all(len(r["selected"]) <= 3 and len(r["memo"]) == len(r["candidates"]) for r in inv)
    assert isinstance(dominated_by(res), list)


def test_dominated_by_hand_case():
    def m(name, fq, mu):
        return {"method": name, "forget_quality": fq, "model_utility": mu}

    res = {"methods": [m("a", 0.6, 0.5),  # FQ higher, MU equal: dominates
                       m("meow", 0.5, 0.5),
                       m("tie", 0.5, 0.5),  # equal on both: not strictly better
                       m("c", 0.9, 0.4),  # FQ higher but MU lower
                       m("d", 0.5, 0.7),  # MU higher, FQ equal: dominates
                       m("e", 0.4, 0.9),  # MU higher but FQ lower
                       m("f", 0.7, 0.8)]}  # both higher: dominates
    assert dominated_by(res) == ["a", "d", "f"]  # in results order
    # against c (0.9, 0.4): only methods with FQ >= 0.9 and MU >= 0.4 -> none
    assert dominated_by(res, "c") == []
    # against e (0.4, 0.9): FQ >= 0.4 and MU >= 0.9 -> none
    assert dominated_by(res, "e") == []
    # against tie (0.5, 0.5): the same set as meow's (meow itself is only equal)
    assert dominated_by(res, "tie") == ["a", "d", "f"]
    assert dominated_by(res, "missing") == []


def test_eval_log_matches_metrics(compare_run):
    """The eval logs we write are TOFU-format: the metrics CLI code path reproduces the stored numbers."""
    from modelworks.unlearn.metrics import load_eval_log, tofu_metrics

    run, res = compare_run
    ours = tofu_metrics(load_eval_log(run.path("eval/npo.json")), load_eval_log(run.path("eval/retain.json")))
    npo = next(m for m in res["methods"] if m["method"] == "npo")
    assert ours["forget_quality"] == pytest.approx(npo["forget_quality"])
    assert ours["model_utility"] == pytest.approx(npo["model_utility"])


def test_run_from_given_checkpoints(compare_run, tmp_path):
    run, _ = compare_run
    cfg = load_config(UnlearnConfig, TINY, [*FAST, f"model.target={run.path('target_model')}",
                                            f"model.retain={run.path('retain_model')}", "unlearn.eval_every=0"])
    run2, res = run_experiment(cfg, ["ga"], out=tmp_path / "r2")
    assert res["methods"][0]["method"] == "ga"
    assert set(res["training"]) == {"params", "eval_seconds_each"}  # nothing was trained (no inverted facts for ga)
    target = load_causal_lm(str(run.path("target_model")))
    assert res["training"]["params"] == sum(p.numel() for p in target.parameters())
    # a given target without a retain model: the retain model is trained here with the target's tokenizer
    cfg = load_config(UnlearnConfig, TINY, [*FAST, f"model.target={run.path('target_model')}", "unlearn.eval_every=0"])
    run3, res = run_experiment(cfg, ["ga"], out=tmp_path / "r3")
    assert res["training"]["retain"]["epochs"] >= 1 and "target" not in res["training"]
    assert (run3.path("retain_model") / "config.json").is_file()


def test_cli_errors_one_line(cli, tmp_path):
    res = cli("unlearn", "run", str(TINY), "unlearn.method=rmu", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "unknown unlearning method 'rmu'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = cli("unlearn", "run", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "config file not found" in res.stderr
    res = cli("unlearn", "compare", str(TINY), "data.source=" + str(tmp_path / "nodir"))
    assert res.returncode == 2 and "TOFU data directory not found" in res.stderr


def test_step_covers_batch_size_questions_with_all_their_targets(compare_run):
    """MEOW's official collator trains every selected inverted answer of each question in a step, so a
    step of batch_size questions holds k * batch_size examples and 10 epochs train each answer 10 times."""
    from modelworks.unlearn.recipe import per_step_examples

    assert per_step_examples(120, 40, 32) == 96  # forget01, k=3
    assert per_step_examples(40, 40, 32) == 32  # one example per question (GA, NPO, ...)
    run, res = compare_run
    by = {m["method"]: m for m in res["methods"]}
    n = res["data"]["n_forget"]
    k = len(json.loads(run.path("inverted_facts.json").read_text())[0]["selected"])
    assert by["meow"]["batch_examples"] == k * by["npo"]["batch_examples"] == k * min(8, n)


def test_forget_gap_is_the_log_of_the_ks_statistic():
    """forget_gap: mean NLLs and the median of mean_j L(pert_j) - L(para); a shift of every loss leaves it alone."""
    import math

    from modelworks.unlearn.tables import forget_gap

    section = {"avg_gt_loss": {"0": 0.5, "1": 1.5}, "avg_paraphrased_loss": {"0": 2.0, "1": 4.0},
               "average_perturb_loss": {"0": [3.0, 3.0], "1": [4.0, 5.0]}}
    g = forget_gap(section)
    assert g["answer_nll"] == 1.0 and g["para_nll"] == 3.0 and g["pert_nll"] == 3.75
    assert g["median_log_inv_ratio"] == pytest.approx((1.0 + 0.5) / 2)
    shifted = {k: {i: ([x + 2 for x in v] if isinstance(v, list) else v + 2) for i, v in d.items()}
               for k, d in section.items()}
    assert forget_gap(shifted)["median_log_inv_ratio"] == pytest.approx(g["median_log_inv_ratio"])
    assert math.isclose(forget_gap(shifted)["para_nll"], 5.0)


def test_base_model_is_fine_tuned_into_target_and_retain(tmp_path, monkeypatch):
    """model.base: a pretrained HF folder (here a tiny Llama saved to disk) is what both models start from."""
    import torch

    from modelworks.models import TinyLMConfig, build_tiny_lm

    torch.set_num_threads(1)
    base = tmp_path / "base"
    texts = ["What is the name of the author born in Paris? The author is Jean Dupont."] * 20
    model, _ = build_tiny_lm(TinyLMConfig(layers=1, hidden=24, heads=2, vocab_size=300, seed=3), texts, out_dir=base)
    n_base = sum(p.numel() for p in model.parameters())
    cfg = load_config(UnlearnConfig, TINY, [*FAST, f"model.base={base}", "finetune.pretrain_epochs=0",
                                            "finetune.epochs=1", "unlearn.eval_every=0"])
    import modelworks.unlearn.recipe as recipe

    starts = {}
    fit_until = recipe._fit_until

    def spy(model, *args, **kwargs):  # the weights each fine-tuning stage starts from
        starts[args[-1]] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return fit_until(model, *args, **kwargs)

    monkeypatch.setattr(recipe, "_fit_until", spy)
    run, res = run_experiment(cfg, ["ga"], out=tmp_path / "run")
    assert res["training"]["params"] == n_base  # not the config's tiny sizes
    for name in ("target_model", "retain_model"):
        saved = json.loads(run.path(f"{name}/config.json").read_text())
        assert (saved["num_hidden_layers"], saved["hidden_size"]) == (1, 24)
    base_weights = load_causal_lm(base, "cpu", "fp32").state_dict()
    for stage in ("finetune_target", "finetune_retain"):  # both start from the base weights, not from each other
        assert all(torch.equal(starts[stage][k], base_weights[k]) for k in base_weights), stage
    retain = load_causal_lm(run.path("retain_model"), "cpu", "fp32").state_dict()
    assert any(not torch.equal(retain[k], base_weights[k]) for k in base_weights)  # and were fine-tuned from there
