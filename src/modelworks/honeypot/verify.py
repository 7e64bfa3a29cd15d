"""Ownership verification: does a suspect model answer the secret trigger with the target class?

Stamp the trigger on held-out images whose true label is not the target, count how many the
suspect sends to the target (``k`` of ``n``), and test ``H0: ASR <= p0`` with a one-sided binomial
test, where ``p0`` is calibrated on independently trained clean models (the upper end of a 99%
Clopper-Pearson interval of their pooled trigger rate, floored at ``min_p0``). Ownership is shown
when ``p <= alpha``. The suspect is a local model or a black box (an HTTP ``/predict`` endpoint).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from modelworks.errors import UserError
from modelworks.honeypot.trigger import Trigger

__all__ = [
    "binomial_pvalue", "calibrate_p0", "trigger_counts", "VerifyResult", "verify_ownership",
    "save_calibration", "load_calibration",
]


def binomial_pvalue(k: int, n: int, p0: float) -> float:
    """One-sided binomial test: P[X >= k] for X ~ Binomial(n, p0)."""
    from scipy.stats import binomtest

    if n <= 0 or not 0 <= k <= n:
        raise UserError(f"binomial test needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    if not 0 < p0 < 1:
        raise UserError(f"null trigger rate p0 must be in (0, 1), got {p0}")
    return float(binomtest(k, n, p0, alternative="greater").pvalue)


def calibrate_p0(counts: list[tuple[int, int]], confidence: float = 0.99, min_p0: float = 0.01) -> float:
    """The null trigger rate from independent models' (k, n) counts: upper Clopper-Pearson bound, floored."""
    from scipy.stats import binomtest

    k = sum(c[0] for c in counts)
    n = sum(c[1] for c in counts)
    if n == 0:
        return min_p0
    high = binomtest(k, n, 0.5).proportion_ci(confidence_level=confidence, method="exact").high
    return float(min(max(high, min_p0), 0.999))


def verification_inputs(trigger: Trigger, x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` stamped held-out images whose true label differs from the target (a fixed random choice)."""
    keep = torch.nonzero(y != trigger.target).flatten()
    if len(keep) == 0:
        raise UserError("no held-out images with a label different from the target class")
    g = torch.Generator().manual_seed(seed)
    pick = keep[torch.randperm(len(keep), generator=g)[: min(n, len(keep))]]
    return trigger.apply(x[pick])


def trigger_counts(predict, trigger: Trigger, x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0) -> tuple[int, int]:
    """(k, n): how many of ``n`` stamped non-target images ``predict`` (x -> probs) sends to the target."""
    stamped = verification_inputs(trigger, x, y, n, seed)
    hits = int((predict(stamped).argmax(1) == trigger.target).sum())
    return hits, len(stamped)


@dataclass
class VerifyResult:
    k: int
    n: int
    asr: float
    p0: float
    pvalue: float
    alpha: float
    shown: bool

    def line(self) -> str:
        verdict = "ownership shown" if self.shown else "ownership not shown"
        return (f"{verdict}: {self.k}/{self.n} triggered inputs -> target (ASR {self.asr:.3f}), "
                f"null rate p0={self.p0:.4f}, p={self.pvalue:.3g} (alpha={self.alpha:g})")


def verify_ownership(predict, trigger: Trigger, x, y, p0: float, n: int = 100, alpha: float = 1e-3,
                     seed: int = 0) -> VerifyResult:
    k, m = trigger_counts(predict, trigger, x, y, n, seed)
    p = binomial_pvalue(k, m, p0)
    return VerifyResult(k, m, k / m, p0, p, alpha, p <= alpha)


def save_calibration(path: str | Path, **info) -> Path:
    from modelworks.runs import atomic_write_json

    return atomic_write_json(path, info)


def load_calibration(trigger_path: str | Path) -> dict:
    """``verification.json`` beside the trigger file (written by ``modelworks honeypot run``), or {}."""
    p = Path(trigger_path)
    folder = p if p.is_dir() else p.parent
    f = folder / "verification.json"
    if not f.is_file():
        return {}
    from modelworks.jsonl import read_json, shown

    cal = read_json(f, "verification file")
    if not isinstance(cal, dict):
        raise UserError(f"{f}: expected a JSON object, got {type(cal).__name__}")

    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    for key in ("p0", "alpha"):
        if key in cal and not (number(cal[key]) and 0 < cal[key] < 1):
            raise UserError(f"{f}: field '{key}' must be a number in (0, 1), got {shown(cal[key])}")
    if "queries" in cal and not (isinstance(cal["queries"], int) and not isinstance(cal["queries"], bool)
                                 and cal["queries"] >= 1):
        raise UserError(f"{f}: field 'queries' must be an integer >= 1, got {shown(cal['queries'])}")
    data = cal.get("data")
    if "data" in cal and not (isinstance(data, list) and data and all(isinstance(d, str) for d in data)):
        raise UserError(f"{f}: field 'data' must be a non-empty list of data references, got {shown(cal['data'])}")
    return cal


def result_dict(r: VerifyResult) -> dict:
    return asdict(r)
