"""The recipe end to end on generated data with a tiny model (run + compare + report), and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelworks.config import load_config
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
    report = run.path("report.md").read_text()
    assert "| meow |" in report and "GradDiff" in report and "open-unlearning" in report
    inv = json.loads(run.path("inverted_facts.json").read_text())
    assert all(len(r["selected"]) <= 3 and len(r["memo"]) == len(r["candidates"]) for r in inv)
    assert isinstance(dominated_by(res), list)


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
    assert res["methods"][0]["method"] == "ga" and res["training"] == {}
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
