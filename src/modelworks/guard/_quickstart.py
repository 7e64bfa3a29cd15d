"""Quickstart: configs/guard/mock.yaml — the stand-in MLLM on generated red-team samples, ASD/PAR."""

from __future__ import annotations

from pathlib import Path

from modelworks.quickstart import QuickstartResult


def _config_path() -> Path:
    for base in (Path.cwd(), *Path(__file__).resolve().parents[3:4]):
        p = base / "configs" / "guard" / "mock.yaml"
        if p.is_file():
            return p
    raise FileNotFoundError("configs/guard/mock.yaml not found (run from the repository root)")


def quickstart(out_dir: Path) -> QuickstartResult:
    from modelworks.config import load_config
    from modelworks.guard.pipeline import EvalConfig, run_eval

    cfg = load_config(EvalConfig, _config_path())
    result = run_eval(cfg, out_dir)
    m = result["metrics"]
    headline = {"overall_asd": m["overall"]["asd"], "overall_par": m["overall"]["par"],
                "noise_asd": m["subtasks"]["truthfulness"]["noise-injection"]["asd"],
                "swap_asd": m["subtasks"]["truthfulness"]["position-swapping"]["asd"], "samples": m["n"]}
    return QuickstartResult(headline=headline, report=result["report"])
