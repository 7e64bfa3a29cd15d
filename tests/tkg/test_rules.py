import pytest

from modelworks.errors import UserError
from modelworks.tkg.history import walk
from modelworks.tkg.rules import rank_by_rule, run_rule

from ._graphs import rule_graph


def _forward_and_inverse(rule, length):
    ds = rule_graph()
    _t, qs, index = next(walk(ds, "test"))  # the index is only valid before the next step
    fwd, inv = qs
    assert not fwd.inverse and inv.inverse
    return rank_by_rule(index, fwd, rule, length), rank_by_rule(index, inv, rule, length)


@pytest.mark.parametrize(
    "rule, length, forward, inverse",
    [
        ("pair-frequency", 100, [1, 2, 3], [0]),
        ("pair-recency", 100, [3, 1, 2], [0]),
        ("pair-frequency", 2, [1, 3], [0]),  # last two facts only; the tie keeps first appearance
        ("pair-recency", 2, [3, 1], [0]),
        ("entity-frequency", 100, [1, 2, 3, 4], [0]),
        ("entity-recency", 100, [3, 4, 1, 2], [0]),  # 3 and 4 both at t=3: first appearance wins
        ("pair-recency", 0, [3, 1, 2], [0]),  # 0 = unlimited
    ],
)
def test_rules_on_hand_made_graph(rule, length, forward, inverse):
    assert _forward_and_inverse(rule, length) == (forward, inverse)


def test_run_rule_metrics():
    res = run_rule(rule_graph(), "pair-recency", 100)
    # forward target 1 ranks 2nd (after 3), inverse target 0 ranks 1st
    assert res["queries"] == 2
    assert res["raw"]["hits@1"] == 0.5 and res["raw"]["hits@3"] == 1.0
    assert res["raw"]["mrr"] == pytest.approx(0.75)


def test_unknown_rule():
    with pytest.raises(UserError, match="unknown rule"):
        run_rule(rule_graph(), "object-recency")


def test_icews14_pair_recency_reproduces_anchor(shared_data):
    from modelworks.tkg.datasets import load_tkg

    ds = load_tkg(shared_data / "tkg" / "ICEWS14")
    res = run_rule(ds, "pair-recency", 100, "test")
    f = res["time_aware_filtered"]
    assert res["queries"] == 14742
    assert abs(f["hits@1"] - 0.281) <= 0.003
    assert abs(f["hits@3"] - 0.394) <= 0.003
    assert abs(f["hits@10"] - 0.475) <= 0.003
    assert res["raw"]["hits@1"] < f["hits@1"]
