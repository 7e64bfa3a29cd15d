import math

import numpy as np
import pytest

from modelworks.tkg.graph_features import graph_features
from modelworks.tkg.rule_prior import rule_features

from ._graphs import rule_graph


def _rows(f, i):
    s = slice(f.offsets[i], f.offsets[i + 1])
    return {c: np.round(np.expm1(v), 4).tolist() for c, v in zip(f.candidate[s].tolist(), f.values[s])}


def test_one_and_two_hop_counts_in_the_window():
    ds = rule_graph()  # query (0, 0, ?, 4) and its inverse (1, 0^-1, ?, 4)
    f = graph_features(ds, "test", window=2)  # facts at t = 2, 3: 0-1, 0-3, 0-4, 5-4 (valid), both directions
    assert len(f) == 2
    assert _rows(f, 0) == {1: [1, 0], 3: [1, 0], 4: [1, 0], 5: [0, 1]}  # 5 only through 4; 0 itself never
    assert _rows(f, 1) == {0: [1, 0], 3: [0, 1], 4: [0, 1]}
    wide = graph_features(ds, "test", window=10)  # every earlier fact: 0-1 twice, 0-2
    assert _rows(wide, 0)[1] == [2, 0] and _rows(wide, 0)[2] == [1, 0]


def test_candidates_are_capped_one_hop_first():
    f = graph_features(rule_graph(), "test", window=2, top=2)
    assert sorted(_rows(f, 0)) == [1, 3]


def test_join_with_the_rule_features():
    ds = rule_graph()
    rules, graph = rule_features(ds, "test", length=100), graph_features(ds, "test", window=2)
    both = rules.join(graph)
    assert len(both) == 2 and both.values.shape[1] == 6
    rows = {c: v for c, v in zip(both.candidate[both.offsets[0]:both.offsets[1]].tolist(),
                                 both.values[both.offsets[0]:both.offsets[1]])}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert rows[5][:4].tolist() == [0, 0, 0, 0] and rows[5][5] == pytest.approx(math.log1p(1))
    assert rows[2][4:].tolist() == [0, 0] and rows[2][0] == pytest.approx(math.log1p(1))
    assert both.candidate[both.offsets[1]:both.offsets[2]].tolist() == [0, 3, 4]
    with pytest.raises(ValueError, match="cannot join"):
        rules.join(graph.take(np.array([0])))
