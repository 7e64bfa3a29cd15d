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

    # raw and filtered Hits@10 differ: 31 sits at raw rank 12 in 20..39; filtering 20 and 25 (31 itself
    # is never filtered, 50 is not in the list) moves it to rank 10. Second query: 6 at rank 2 either way.
    res = evaluate_rankings([list(range(20, 40)), [5, 6]], [31, 6], [{20, 25, 31, 50}, set()])
    raw, flt = res["raw"], res["time_aware_filtered"]
    assert raw["hits@10"] == pytest.approx(1 / 2) and flt["hits@10"] == pytest.approx(1.0)
    assert raw["hits@3"] == pytest.approx(1 / 2) and flt["hits@3"] == pytest.approx(1 / 2)
    assert raw["hits@1"] == 0.0 and flt["hits@1"] == 0.0
    assert raw["mrr"] == pytest.approx((1 / 12 + 1 / 2) / 2)
    assert flt["mrr"] == pytest.approx((1 / 10 + 1 / 2) / 2)


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
    # facts at the same time that must not enter either filter:
    # [0, 1, 7, 10]: entity 0 forward but relation 1 (a filter ignoring the relation would add 7 to f[0]);
    # [5, 1, 1, 10]: answer 5 of (1, r1^-1, ?, 10), relation 1 (would add 5 to f[1]);
    # [1, 0, 9, 10]: entity 1, relation 0 but forward (a filter ignoring direction would add 9 to f[1]);
    # [9, 0, 0, 10]: inverse answer 9 of (0, r0^-1, ?, 10) (a filter ignoring direction would add 9 to f[0])
    more = np.concatenate([facts, np.array([[0, 1, 7, 10], [5, 1, 1, 10], [1, 0, 9, 10], [9, 0, 0, 10]])])
    f = time_aware_filters(qs, more)
    assert f[0] == {1, 2}
    assert f[1] == {0, 4}


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        evaluate_rankings([[1]], [1, 2], [set(), set()])
