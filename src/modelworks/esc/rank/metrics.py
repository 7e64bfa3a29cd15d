"""Scorer agreement with human labels: exact ACC, ±1 ACC_soft (ESC-Eval Table 4), Spearman, AUROC."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["exact_accuracy", "soft_accuracy", "spearman", "auroc", "to_levels"]


def to_levels(pred: Sequence[float], low: int, high: int) -> np.ndarray:
    """Continuous predictions rounded to the nearest label and clipped to [low, high]."""
    return np.clip(np.rint(np.asarray(pred, dtype=float)), low, high).astype(int)


def exact_accuracy(pred: Sequence[int], gold: Sequence[int]) -> float:
    p, g = np.asarray(pred), np.asarray(gold)
    return float((p == g).mean()) if len(g) else float("nan")


def soft_accuracy(pred: Sequence[int], gold: Sequence[int], tolerance: int = 1) -> float:
    """Share of predictions within ``tolerance`` of the label (ACC_soft: ±1)."""
    p, g = np.asarray(pred, dtype=float), np.asarray(gold, dtype=float)
    return float((np.abs(p - g) <= tolerance).mean()) if len(g) else float("nan")


def spearman(pred: Sequence[float], gold: Sequence[float]) -> float:
    """Spearman's rho (ties averaged); NaN when either side is constant."""
    from scipy.stats import spearmanr

    p, g = np.asarray(pred, dtype=float), np.asarray(gold, dtype=float)
    if len(p) < 2 or np.all(p == p[0]) or np.all(g == g[0]):
        return float("nan")
    rho = spearmanr(p, g).statistic
    return float(rho) if not math.isnan(rho) else float("nan")


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(positive, dtype=int)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))
