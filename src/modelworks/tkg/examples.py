"""Queries with their history chains as arrays: what the event generator trains and predicts on.

:func:`build_examples` walks a split in time order and stores, for every query of both directions,
``(entity, relation', time, target)`` and the fact ids of its Chain-of-History chain (padded with -1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from modelworks.tkg.datasets import TKGDataset
from modelworks.tkg.history import FactTable, chain, relation_prime, walk
from modelworks.tkg.metrics import Query, time_aware_filters

if TYPE_CHECKING:
    from modelworks.tkg.rule_prior import RuleFeatures

__all__ = ["Examples", "build_examples"]


@dataclass
class Examples:
    entity: np.ndarray  # (N,)
    relation: np.ndarray  # (N,) relation' in [0, 2R)
    time: np.ndarray
    target: np.ndarray
    chains: np.ndarray  # (N, L) fact ids into the FactTable, -1 = padding
    queries: list[Query]
    features: RuleFeatures | None = None  # per-query candidate features (model.history_features / graph_window)

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, idx: np.ndarray) -> Examples:
        return Examples(self.entity[idx], self.relation[idx], self.time[idx], self.target[idx], self.chains[idx],
                        [self.queries[i] for i in idx.tolist()],
                        None if self.features is None else self.features.take(idx))

    @classmethod
    def concat(cls, parts: list[Examples]) -> Examples:
        """The queries of ``parts`` one after the other (features too, when the parts have them)."""
        from modelworks.tkg.rule_prior import RuleFeatures

        arrays = (np.concatenate([getattr(p, f) for p in parts]) for f in ("entity", "relation", "time", "target",
                                                                           "chains"))
        features = RuleFeatures.concat([p.features for p in parts]) if parts[0].features is not None else None
        return cls(*arrays, [q for p in parts for q in p.queries], features)

    def filters(self, ds: TKGDataset) -> list[frozenset[int]]:
        return time_aware_filters(self.queries, ds.all_facts())


def build_examples(ds: TKGDataset, split: str, length: int, augment: bool = True, reverse: bool = True,
                   table: FactTable | None = None, directions: str = "both") -> Examples:
    """All queries of ``split`` (``directions``: both | forward) with chains of at most ``length`` facts."""
    table = table or FactTable.from_dataset(ds)
    ents, rels, times, targets, rows, queries = [], [], [], [], [], []
    for _t, qs, index in walk(ds, split, table):
        for q in qs:
            if directions == "forward" and q.inverse:
                continue
            ids = chain(index, q, length, augment=augment, reverse=reverse)
            row = np.full(length, -1, dtype=np.int64)
            if ids:
                row[: len(ids)] = ids
            rows.append(row)
            ents.append(q.entity)
            rels.append(relation_prime(q, table.num_relations))
            times.append(q.time)
            targets.append(q.target)
            queries.append(q)
    chains = np.stack(rows) if rows else np.zeros((0, length), dtype=np.int64)
    return Examples(np.asarray(ents, np.int64), np.asarray(rels, np.int64), np.asarray(times, np.int64),
                    np.asarray(targets, np.int64), chains, queries)
