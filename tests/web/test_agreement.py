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
    # ordinal: the ordinal metric is the squared difference of mid-ranks in the pooled pairable values,
    # so an independent check is the interval alpha on mid-ranks (_alpha_on_midranks below): 112173/139048
    assert krippendorff_alpha(r, "ordinal") == pytest.approx(112173 / 139048)
    assert krippendorff_alpha(r, "ordinal") == pytest.approx(0.8067, abs=5e-5)
    assert krippendorff_alpha(r, "ordinal") == pytest.approx(_alpha_on_midranks(KRIPP))


def _alpha_on_midranks(rows):
    """Independent ordinal alpha: pairwise interval alpha with every value replaced by its mid-rank."""
    units = [[row[u] for row in rows if row[u] is not None] for u in range(len(rows[0]))]
    units = [v for v in units if len(v) >= 2]
    pooled = [x for v in units for x in v]
    n = len(pooled)

    def mid(g):
        return sum(x < g for x in pooled) + (sum(x == g for x in pooled) + 1) / 2

    def d(x, y):
        return (mid(x) - mid(y)) ** 2

    d_o = sum(sum(d(x, y) for i, x in enumerate(v) for j, y in enumerate(v) if i != j) / (len(v) - 1)
              for v in units) / n
    d_e = sum(d(x, y) for i, x in enumerate(pooled) for j, y in enumerate(pooled) if i != j) / (n * (n - 1))
    return 1 - d_o / d_e


def test_krippendorff_perfect_and_chance():
    assert krippendorff_alpha({"a": {"x": 1, "y": 1}, "b": {"x": 2, "y": 2}}, "ordinal") == 1.0
    # Systematic disagreement gives a negative alpha.
    # coincidences (1,2) = (2,1) = 2, n_1 = n_2 = 2, n = 4: D_o = 4, D_e = (2*2 + 2*2) / 3 = 8/3,
    # alpha = 1 - 4 / (8/3) = -0.5
    assert krippendorff_alpha({"a": {"x": 1, "y": 2}, "b": {"x": 2, "y": 1}}, "nominal") == pytest.approx(-0.5)
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
    # pairs: u1 (a,b) 3/3 equal, (a,c) 3/2 and (b,c) 3/2 off by 1; u2 (a,b) 0/2 off by 2 -> exact 1/4, ±1 3/4
    assert rep["exact"] == pytest.approx(0.25) and rep["within_1"] == pytest.approx(0.75) and rep["pairs"] == 4
    # a|b on u1, u2: a = [3, 0], b = [3, 2]; observed disagreement 1/2, expected (0+1+1+1)/4 = 3/4
    # -> kappa = 1 - (1/2) / (3/4) = 1/3; a|c and b|c: one unit 3 vs 2, observed = expected = 1 -> 0
    assert rep["cohen_kappa"]["a|b"]["kappa"] == pytest.approx(1 / 3)
    assert rep["cohen_kappa"]["a|c"] == {"kappa": pytest.approx(0.0), "n": 1}
    assert rep["cohen_kappa"]["b|c"] == {"kappa": pytest.approx(0.0), "n": 1}
    # ordinal alpha: pooled values 0, 2, 2, 3, 3 -> mid-ranks 0:1, 2:2.5, 3:4.5, so delta(0,2) = 2.25,
    # delta(2,3) = 4, delta(0,3) = 12.25; coincidences (3,3) = (3,2) = (2,3) = 1 (u1, weight 1/2),
    # (0,2) = (2,0) = 1 (u2); D_o = 2*4 + 2*2.25 = 12.5, D_e = 2*(1*2*2.25 + 1*2*12.25 + 2*2*4) / 4 = 22.5
    # -> alpha = 1 - 12.5 / 22.5 = 4/9
    assert rep["krippendorff_alpha"] == pytest.approx(4 / 9) and rep["level"] == "ordinal"
