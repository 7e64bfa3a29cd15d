"""Tiny hand-made graphs shared by the tkg tests."""

import numpy as np

from modelworks.tkg.datasets import TKGDataset


def make(train, valid, test, n_ent=10, n_rel=3) -> TKGDataset:
    arr = lambda rows: np.asarray(rows, dtype=np.int64).reshape(-1, 4)  # noqa: E731
    return TKGDataset("hand", [f"E{i}" for i in range(n_ent)], [f"R{i}" for i in range(n_rel)],
                      arr(train), arr(valid), arr(test))


def rule_graph() -> TKGDataset:
    train = [(0, 0, 1, 0), (0, 0, 2, 1), (0, 0, 1, 2), (0, 0, 3, 3), (0, 1, 4, 3)]
    return make(train, [(5, 1, 4, 3)], [(0, 0, 1, 4)])


def chain_graph() -> TKGDataset:
    train = [(0, 0, 1, 1), (0, 1, 2, 2), (3, 0, 4, 3), (0, 0, 5, 4), (0, 1, 3, 5), (6, 0, 1, 6), (2, 1, 0, 7)]
    return make(train, [(7, 2, 8, 8)], [(0, 0, 9, 10), (0, 0, 8, 10)])
