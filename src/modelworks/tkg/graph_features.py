"""Graph features: who is near the query entity in the recent snapshot, beyond its own history.

For a query ``(e, r', ?, t)`` the facts of the last ``window`` time steps (``[t - window, t)``, both directions)
form a multigraph. Every entity within two hops of ``e`` is a candidate with two values: ``log1p`` of its number
of facts with ``e`` (1-hop) and ``log1p`` of the number of 2-hop paths ``e - n - o``. A third of ICEWS14's queries ask
for an entity that the query entity's history never shows, and about a third of those are 2-hop neighbours of it
within 30 days (``benchmarks/tkg_breakdown.py``); this is the evidence a snapshot GNN (RE-GCN, HGLS) sees and a chain
does not. Candidates are capped at ``top`` per query (1-hop neighbours first, then by path count).
"""

from __future__ import annotations

import numpy as np

from modelworks.tkg.datasets import TKGDataset
from modelworks.tkg.history import FactTable, walk
from modelworks.tkg.rule_prior import RuleFeatures

__all__ = ["GRAPH_FEATURES", "graph_features"]

GRAPH_FEATURES = ("one_hop_facts", "two_hop_paths")


def _near(row1, row2, e: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    cand = np.union1d(row1.indices, row2.indices)
    cand = cand[cand != e]
    v = np.zeros((len(cand), 2), np.float32)
    for col, row in ((0, row1), (1, row2)):
        keep = row.indices != e
        v[np.searchsorted(cand, row.indices[keep]), col] = row.data[keep]
    if len(cand) > top:
        order = np.lexsort((-v[:, 1], -v[:, 0]))[:top]
        order.sort()
        cand, v = cand[order], v[order]
    return cand, np.log1p(v)


def graph_features(ds: TKGDataset, split: str, table: FactTable | None = None, window: int = 30, top: int = 64,
                   directions: str = "both") -> RuleFeatures:
    """Graph features of every query of ``split`` (same order as ``build_examples``); ``window`` in time steps."""
    import scipy.sparse as sp

    table = table or FactTable.from_dataset(ds)
    n, step = ds.num_entities, max(1, int(ds.time_step))
    offsets, cands, vals = [0], [], []
    for t, qs, _ in walk(ds, split, table):
        qs = [q for q in qs if directions == "both" or not q.inverse]
        lo, hi = np.searchsorted(table.time, [t - window * step, t])
        adj = sp.csr_matrix((np.ones(hi - lo, np.float32), (table.head[lo:hi], table.tail[lo:hi])), shape=(n, n))
        ents = np.unique([q.entity for q in qs])
        one = adj[ents]
        two = (one @ adj).tocsr()
        near = {int(e): _near(one[k], two[k], int(e), top) for k, e in enumerate(ents)}
        for q in qs:
            c, v = near[q.entity]
            cands.append(c)
            vals.append(v)
            offsets.append(offsets[-1] + len(c))
    return RuleFeatures(np.asarray(offsets, np.int64),
                        np.concatenate(cands).astype(np.int64) if cands else np.zeros(0, np.int64),
                        np.concatenate(vals) if vals else np.zeros((0, 2), np.float32))
