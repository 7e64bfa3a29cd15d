"""``modelworks quickstart --only unlearn``: MEOW vs NPO on generated TOFU-format data with a tiny model."""

from __future__ import annotations

from pathlib import Path

from modelworks.quickstart import QuickstartResult


def quickstart(out_dir: Path) -> QuickstartResult:
    from modelworks.config import load_config
    from modelworks.unlearn.config import UnlearnConfig
    from modelworks.unlearn.recipe import run_experiment

    path = Path(__file__).resolve().parents[3] / "configs" / "unlearn" / "tiny.yaml"
    cfg = load_config(UnlearnConfig, path) if path.is_file() else UnlearnConfig()
    run, res = run_experiment(cfg, cfg.unlearn.methods, out=out_dir, job="unlearn-quickstart")
    headline = {"target_MU": res["target"]["model_utility"]}
    for m in res["methods"]:
        headline[f"{m['method']}_FQ"] = m["forget_quality"]
        headline[f"{m['method']}_MU"] = m["model_utility"]
    return QuickstartResult(headline=headline, report=run.path("report.md"))
