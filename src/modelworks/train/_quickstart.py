"""`modelworks quickstart --only train`: the tiny config (a 2-layer Llama on a small text set) in seconds."""

from __future__ import annotations

from pathlib import Path

from modelworks.quickstart import QuickstartResult


def quickstart(out_dir: Path) -> QuickstartResult:
    from modelworks.train import TrainConfig, fit

    # the same settings as configs/train/tiny.yaml, with its seeded builtin text set instead of the JSONL file
    cfg = TrainConfig(
        model="tiny:layers=2,hidden=64,heads=4,vocab_size=512", data=["builtin:text"], data_format="text",
        eval_fraction=0.1, max_len=64, packing=True, optimizer="adamw", lr=3e-3, scheduler="cosine",
        warmup_steps=5, batch_size=8, max_steps=40, eval_every=20, seed=0, out=str(out_dir), progress=False,
    )
    res = fit(cfg)
    m = res.metrics
    return QuickstartResult(
        headline={"first_loss": m["first_loss"], "final_loss": m["final_loss"], "eval_loss": m["eval_loss"],
                  "tokens_per_s": m["tokens_per_s"]},
        report=res.out_dir / "report.md",
    )
