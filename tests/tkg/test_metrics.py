import math

import numpy as np
import pytest

from modelworks.tkg.metrics import Query, evaluate_rankings, queries_for, rank_of, time_aware_filters


def test_rank_of_raw_and_filtered():
    ranked = [5, 7, 3, 9]
    assert rank_of(ranked, 3) == 3
    assert rank_of(ranked, 3, {7}) == 2  # 7 is another true answer at the same time
    assert rank_of(ranked, 3, {3, 5, 7}) == 1  # the target itself is never filtered
    assert math.isinf(rank_of(ranked, 4))


def test_evaluate_rankings_raw_vs_time_aware_filtered():
    ranked = [[1, 2, 3], [4, 5], [6], list(range(20, 40))]
    targets = [3, 4, 9, 32]
    filters = [{1, 3}, {4}, {9}, {20, 21}]
    res = evaluate_rankings(ranked, targets, filters)
    raw, flt = res["raw"], res["time_aware_filtered"]
    # raw ranks: 3, 1, miss, 13 ; filtered: 2, 1, miss, 11
    assert raw["hits@1"] == pytest.approx(1 / 4) and flt["hits@1"] == pytest.approx(1 / 4)
    assert raw["hits@3"] == pytest.approx(2 / 4) and flt["hits@3"] == pytest.approx(2 / 4)
    assert raw["hits@10"] == pytest.approx(2 / 4) and flt["hits@10"] == pytest.approx(2 / 4)
    assert raw["mrr"] == pytest.approx((1 / 3 + 1 + 0 + 1 / 13) / 4)
    assert flt["mrr"] == pytest.approx((1 / 2 + 1 + 0 + 1 / 11) / 4)
    assert res["queries"] == 4


def test_filter_moves_target_into_hits_at_1():
    res = evaluate_rankings([[8, 9]], [9], [{8, 9}])
    assert res["raw"]["hits@1"] == 0.0 and res["time_aware_filtered"]["hits@1"] == 1.0


def test_time_aware_filters_use_only_the_query_time():
    facts = np.array([[0, 0, 1, 10], [0, 0, 2, 10], [0, 0, 3, 20], [4, 0, 1, 10]])
    qs = queries_for(facts[:1])
    assert qs == [Query(0, 0, 10, 1, False), Query(1, 0, 10, 0, True)]
    f = time_aware_filters(qs, facts)
    assert f[0] == {1, 2}  # not 3: that answer is at another time
    assert f[1] == {0, 4}


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        evaluate_rankings([[1]], [1, 2], [set(), set()])
