"""Inter-annotator agreement: Cohen's kappa per pair, Krippendorff's alpha, exact and ±1 agreement.

Written here (≈60 lines) rather than taken from a package: scikit-learn has Cohen's kappa but
not Krippendorff's alpha, and the ``krippendorff`` package is not a dependency; the formulas are
the textbook ones (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"), checked in
tests on published examples and against scikit-learn.

Input everywhere is ``ratings[unit][annotator] = value`` (missing entries allowed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import combinations

__all__ = ["cohen_kappa", "krippendorff_alpha", "pairwise_agreement", "agreement_report"]

Ratings = Mapping[str, Mapping[str, int]]


def cohen_kappa(a: list[int], b: list[int], weights: str | None = None) -> float:
    """Cohen's kappa of two equally long label lists; ``weights`` None | "linear" | "quadratic"."""
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two lists of the same length")
    n = len(a)
    if n == 0:
        return float("nan")
    cats = sorted(set(a) | set(b))
    pa, pb = Counter(a), Counter(b)

    def w(x: int, y: int) -> float:
        if weights is None:
            return 0.0 if x == y else 1.0
        span = (max(cats) - min(cats)) or 1
        d = abs(x - y) / span
        return d if weights == "linear" else d * d

    observed = sum(w(x, y) for x, y in zip(a, b, strict=True)) / n
    expected = sum(pa[x] * pb[y] * w(x, y) for x in cats for y in cats) / (n * n)
    if expected == 0:
        return 1.0 if observed == 0 else float("nan")
    return 1.0 - observed / expected


def krippendorff_alpha(ratings: Ratings, level: str = "ordinal") -> float:
    """Krippendorff's alpha over units with >= 2 ratings; level nominal | ordinal | interval."""
    units = [list(r.values()) for r in ratings.values() if len(r) >= 2]
    coinc: Counter = Counter()
    for vals in units:
        m = len(vals)
        for i, x in enumerate(vals):
            for j, y in enumerate(vals):
                if i != j:
                    coinc[(x, y)] += 1.0 / (m - 1)
    cats = sorted({c for pair in coinc for c in pair})
    n_c = {c: sum(coinc[(c, k)] for k in cats) for c in cats}
    n = sum(n_c.values())
    if n <= 1 or len(cats) < 2:
        return float("nan")

    def delta(c: int, k: int) -> float:
        if level == "nominal":
            return 0.0 if c == k else 1.0
        if level == "interval":
            return float(c - k) ** 2
        if level == "ordinal":
            lo, hi = (c, k) if c <= k else (k, c)
            inside = sum(n_c[g] for g in cats if lo <= g <= hi)
            return (inside - (n_c[c] + n_c[k]) / 2.0) ** 2
        raise ValueError(f"unknown level '{level}'; use nominal, ordinal or interval")

    d_o = sum(coinc[(c, k)] * delta(c, k) for c in cats for k in cats)
    d_e = sum(n_c[c] * n_c[k] * delta(c, k) for c in cats for k in cats) / (n - 1)
    return 1.0 - d_o / d_e if d_e > 0 else float("nan")


def pairwise_agreement(ratings: Ratings, tolerance: int = 0) -> tuple[float, int]:
    """Share of annotator pairs (on the same unit) whose labels differ by <= tolerance; (share, pairs)."""
    hits = total = 0
    for r in ratings.values():
        for x, y in combinations(list(r.values()), 2):
            total += 1
            hits += abs(x - y) <= tolerance
    return (hits / total if total else float("nan")), total


def agreement_report(labels: Mapping[str, Ratings], level: str = "ordinal") -> dict:
    """Per dimension: alpha, exact and ±1 agreement, and Cohen's kappa for every annotator pair."""
    out = {}
    for dim, ratings in labels.items():
        annotators = sorted({a for r in ratings.values() for a in r})
        kappas = {}
        for x, y in combinations(annotators, 2):
            shared = [u for u, r in ratings.items() if x in r and y in r]
            if shared:
                kappas[f"{x}|{y}"] = {"kappa": cohen_kappa([ratings[u][x] for u in shared], [ratings[u][y] for u in shared]),
                                      "n": len(shared)}
        exact, pairs = pairwise_agreement(ratings, 0)
        soft, _ = pairwise_agreement(ratings, 1)
        out[dim] = {"krippendorff_alpha": krippendorff_alpha(ratings, level), "level": level, "exact": exact,
                    "within_1": soft, "pairs": pairs, "units": sum(len(r) >= 2 for r in ratings.values()),
                    "cohen_kappa": kappas}
    return out
