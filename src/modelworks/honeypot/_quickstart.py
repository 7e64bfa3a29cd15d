"""``modelworks quickstart --only honeypot``: the digits config (embedded data, CPU, about a minute)."""

from __future__ import annotations

from pathlib import Path

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "honeypot" / "digits.yaml"


def quickstart(out_dir: Path):
    from modelworks.config import load_config
    from modelworks.honeypot.config import HoneypotRunConfig
    from modelworks.honeypot.recipe import run_honeypot
    from modelworks.quickstart import QuickstartResult

    cfg = load_config(HoneypotRunConfig, CONFIG)  # a one-line ConfigError if the checkout lacks it
    res = run_honeypot(cfg, out=out_dir, config_path="configs/honeypot/digits.yaml", progress=lambda _msg: None)
    headline = {k: res[k] for k in ("victim_acc", "honeypot_acc", "substitute_acc", "asr", "independent_asr")}
    headline["verify_pvalue"] = res["verify_pvalue"]
    return QuickstartResult(headline=headline, report=Path(res["run_dir"]) / "report.md")
