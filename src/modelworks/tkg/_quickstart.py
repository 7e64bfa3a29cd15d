"""``modelworks quickstart --only tkg``: the event generator vs the rule baselines on a synthetic TKG."""

from __future__ import annotations

import json
from pathlib import Path

from modelworks.quickstart import QuickstartResult


def quickstart(out_dir: Path) -> QuickstartResult:
    from modelworks.config import load_config
    from modelworks.tkg.recipe import DataConfig, TKGRunConfig, run_recipe
    from modelworks.tkg.synthetic import SyntheticConfig

    path = Path(__file__).resolve().parents[3] / "configs" / "tkg" / "tiny_synthetic.yaml"
    if path.is_file():
        cfg = load_config(TKGRunConfig, path)
    else:  # an installed package without the configs folder: the same tiny defaults
        cfg = TKGRunConfig(data=DataConfig(synthetic=SyntheticConfig()), name="tiny-synthetic")
    run_dir = run_recipe(cfg, out=out_dir)
    res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    best_rule = max(res["rules"], key=lambda r: res["rules"][r]["time_aware_filtered"]["hits@1"])
    return QuickstartResult(
        headline={
            "model_filtered_H@1": res["model"]["time_aware_filtered"]["hits@1"],
            f"{best_rule}_filtered_H@1": res["rules"][best_rule]["time_aware_filtered"]["hits@1"],
        },
        report=run_dir / "report.md",
    )
