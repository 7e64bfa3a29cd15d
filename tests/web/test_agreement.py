"""Agreement statistics on hand examples with published values."""

from __future__ import annotations

import math

import pytest

from modelworks.web.agreement import agreement_report, cohen_kappa, krippendorff_alpha, pairwise_agreement

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 3-observer example with
# missing values (also the example of the `krippendorff` package): nominal 0.691, interval 0.811.
N = None
KRIPP = [[N, N, N, N, N, 3, 4, 1, 2, 1, 1, 3, 3, N, 3],
         [1, N, 2, 1, 3, 3, 4, 3, N, N, N, N, N, N, N],
         [N, N, 2, 1, 3, 4, 4, N, 2, 1, 1, 3, 3, N, 4]]


def ratings(rows):
    out = {}
    for a, row in enumerate(rows):
        for u, v in enumerate(row):
            if v is not None:
                out.setdefault(str(u), {})[f"obs{a}"] = v
    return out


def test_krippendorff_published_values():
    r = ratings(KRIPP)
    assert krippendorff_alpha(r, "nominal") == pytest.approx(0.691, abs=5e-4)
    assert krippendorff_alpha(r, "interval") == pytest.approx(0.811, abs=5e-4)
    assert 0.5 < krippendorff_alpha(r, "ordinal") < 1


def test_krippendorff_perfect_and_chance():
    assert krippendorff_alpha({"a": {"x": 1, "y": 1}, "b": {"x": 2, "y": 2}}, "ordinal") == 1.0
    # Systematic disagreement gives a negative alpha.
    assert krippendorff_alpha({"a": {"x": 1, "y": 2}, "b": {"x": 2, "y": 1}}, "nominal") < 0
    assert math.isnan(krippendorff_alpha({"a": {"x": 1}}, "nominal"))


def test_cohen_kappa_textbook_example():
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    a = [0, 1, 2, 3, 4, 4, 3, 2, 2, 1, 0, 3]
    b = [0, 2, 2, 3, 3, 4, 3, 1, 2, 1, 1, 3]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(a, b, "quadratic") == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))


def test_pairwise_and_report():
    r = {"u1": {"a": 3, "b": 3, "c": 2}, "u2": {"a": 0, "b": 2}, "u3": {"a": 4}}
    exact, pairs = pairwise_agreement(r, 0)
    assert pairs == 4 and exact == pytest.approx(1 / 4)
    soft, _ = pairwise_agreement(r, 1)
    assert soft == pytest.approx(3 / 4)
    rep = agreement_report({"empathic": r})["empathic"]
    assert rep["units"] == 2 and set(rep["cohen_kappa"]) == {"a|b", "a|c", "b|c"}
    assert rep["cohen_kappa"]["a|b"]["n"] == 2
