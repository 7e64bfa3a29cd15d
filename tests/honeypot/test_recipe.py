"""End to end: the digits recipe (victim -> HoneypotNet -> KnockoffNets -> verification) with checked results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KEYS = ("victim_acc", "honeypot_acc", "substitute_acc", "undefended_substitute_acc", "asr", "undefended_asr",
        "independent_asr", "verify_pvalue")


@pytest.mark.slow
def test_digits_recipe_end_to_end(tmp_path, cli):
    from modelworks.config import load_config
    from modelworks.honeypot.config import HoneypotRunConfig
    from modelworks.honeypot.recipe import run_honeypot

    cfg = load_config(HoneypotRunConfig, REPO / "configs/honeypot/digits.yaml",
                      ["budgets=[1200]", 'defences=[{"name": "top1"}]', "threads=1"])
    out = tmp_path / "run"
    res = run_honeypot(cfg, out=out, config_path="configs/honeypot/digits.yaml", progress=lambda _m: None)
    saved = json.loads((out / "results.json").read_text())
    for k in KEYS:
        assert 0.0 <= saved[k] <= 1.0, k
    # the backdoor reaches the substitute, not the controls
    assert saved["asr"] >= 0.6
    assert saved["undefended_asr"] <= 0.2 and saved["independent_asr"] <= 0.2
    assert saved["honeypot_acc"] >= saved["victim_acc"] - 0.02
    assert saved["substitute_acc"] >= 0.5
    assert saved["verify_pvalue"] <= 1e-3 and saved["verify"]["main"]["n"] <= 100
    assert saved["verify"]["undefended_substitute"]["shown"] is False
    report = (out / "report.md").read_text()
    assert "substitute ASR" in report and "asr_vs_budget.png" in report
    for f in ("asr_vs_budget.png", "triggered_samples.png", "config.yaml", "metrics.jsonl",
              "honeypot_model/model.pt", "honeypot_model/trigger.pt", "honeypot_model/verification.json"):
        assert (out / f).is_file(), f
    assert [b["budget"] for b in saved["asr_vs_budget"]] == [1200, 2400]
    assert saved["defences"][0]["defence"] == "top1"
    assert res["run_dir"] == str(out)
    # the verify command on the saved substitute: ownership shown (exit 0); on the undefended one: not (exit 1)
    trig = str(out / "honeypot_model" / "trigger.pt")
    shown = cli("honeypot", "verify", "--suspect", str(out / "substitute"), "--trigger", trig)
    assert shown.returncode == 0, shown.stderr + shown.stdout
    assert "ownership shown" in shown.stdout
    not_shown = cli("honeypot", "verify", "--suspect", str(out / "undefended_substitute"), "--trigger", trig)
    assert not_shown.returncode == 1, not_shown.stderr + not_shown.stdout
