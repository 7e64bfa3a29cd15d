"""``modelworks guard eval``: build (optional) -> run -> score -> ASD/PAR -> report, in one recipe."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelworks.errors import ConfigError
from modelworks.guard.build import BuildConfig
from modelworks.guard.runner import RunConfig

__all__ = ["EvalConfig", "run_eval"]


@dataclass
class EvalConfig:
    build: BuildConfig | None = None  # set: generate samples into <out>/samples; unset: use run.data
    run: RunConfig = field(default_factory=RunConfig)
    scorer: str = "rules"  # guardrank:DIR | llm:PROVIDER | llm:sim | rules
    template: str | None = None  # rubric template file for llm: scorers (used verbatim)

    def __post_init__(self) -> None:
        if self.build is None and not self.run.data:
            raise ConfigError("key 'run.data' is required when no 'build' section generates samples")
        from modelworks.errors import UserError
        from modelworks.guard.scoring import check_scorer

        try:
            check_scorer(self.scorer, need_files=False)
        except UserError as exc:
            raise ConfigError(f"key 'scorer': {exc}") from None


def run_eval(cfg: EvalConfig, out: str | Path) -> dict[str, Any]:
    from modelworks.guard.build import build_samples
    from modelworks.guard.metrics import compute_metrics, read_scores
    from modelworks.guard.report import write_report
    from modelworks.guard.runner import read_responses, run_guard
    from modelworks.guard.scoring import check_scorer, make_scorer, score_responses, write_scores

    out = Path(out)
    check_scorer(cfg.scorer)  # a missing GuardRank folder, before any sample is built or answered
    run_cfg = cfg.run
    if cfg.build is not None:
        build_samples(out / "samples", None, cfg.build)
        run_cfg = RunConfig(**{**run_cfg.__dict__, "data": str(out / "samples" / "samples.jsonl")})
    run_dir = run_guard(run_cfg, out / "run")
    scored = score_responses(read_responses(run_dir), make_scorer(cfg.scorer, cfg.template, run_cfg.concurrency),
                             require_scores=True)  # a judge that is down is an error, not ASD=None
    scores_path = write_scores(scored, run_dir / "scores.jsonl")
    metrics = compute_metrics(read_scores(scores_path))
    report = write_report([scores_path], out / "report")
    return {"run_dir": run_dir, "scores": scores_path, "metrics": metrics, "report": report}
