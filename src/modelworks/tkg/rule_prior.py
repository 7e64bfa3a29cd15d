"""Rule prior: the rule baselines' evidence added to the event generator's log-probabilities at inference.

For a query ``(e, r', ?, t)`` every candidate seen as an answer in its recent history (the last ``L``
facts, exactly the histories of :mod:`modelworks.tkg.rules`) gets four features:

- ``pair_frequency``: ``log1p`` of its count among the last ``L`` facts of ``(e, r')``;
- ``pair_recency``: ``1 / log2(1 + d)``, ``d`` = time steps since its latest fact there (1 for the previous step);
- ``entity_frequency`` / ``entity_recency``: the same over the last ``L`` facts of ``e`` (same role, any relation).

The ranking score is ``log p_model(o) + w . f(o)`` with non-negative weights ``w`` chosen on the
validation split (:func:`tune_weights`); candidates without history get no bonus. A candidate outside the
model's top-k and without history can never overtake one inside, so scoring the model's top-k plus the
history candidates is exact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from modelworks.errors import ConfigError
from modelworks.tkg.datasets import TKGDataset
from modelworks.tkg.history import FactTable, relation_prime, walk

__all__ = ["FEATURES", "RulePriorConfig", "RuleFeatures", "rule_features", "prior_bonus", "tune_weights",
           "scores_for_tuning"]

FEATURES = ("pair_frequency", "pair_recency", "entity_frequency", "entity_recency")


@dataclass
class RulePriorConfig:
    weights: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # one per FEATURES entry; all 0 = off
    history: int = 100
    tune: bool = False  # choose the weights on the valid split (held out from training) instead of `weights`
    grid: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0])  # values tried for each weight

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ConfigError(f"key 'weights' needs {len(FEATURES)} numbers ({', '.join(FEATURES)}), "
                              f"got {len(self.weights)}")
        if any(w < 0 for w in self.weights):
            raise ConfigError(f"key 'weights' must be non-negative, got {self.weights}")
        if self.history <= 0:
            raise ConfigError(f"key 'history' must be positive, got {self.history}")
        if not self.grid or any(w < 0 for w in self.grid):
            raise ConfigError(f"key 'grid' must be non-empty and non-negative, got {self.grid}")

    @property
    def enabled(self) -> bool:
        return self.tune or any(w > 0 for w in self.weights)


@dataclass
class RuleFeatures:
    """Per query (in :func:`~modelworks.tkg.examples.build_examples` order), its history candidates and their
    features: rows ``offsets[i]:offsets[i+1]`` of ``candidate`` (M,) and ``values`` (M, 4)."""

    offsets: np.ndarray
    candidate: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(batch row, candidate, values) of the queries ``idx`` (row = position in ``idx``)."""
        starts, ends = self.offsets[idx], self.offsets[idx + 1]
        counts = ends - starts
        row = np.repeat(np.arange(len(idx)), counts)
        pos = np.concatenate([np.arange(s, e) for s, e in zip(starts.tolist(), ends.tolist())]) if len(idx) else \
            np.zeros(0, np.int64)
        pos = pos.astype(np.int64)
        return row, self.candidate[pos], self.values[pos]

    def take(self, idx: np.ndarray) -> RuleFeatures:
        """The features of the queries ``idx``, in that order."""
        idx = np.asarray(idx, np.int64)
        _, cand, values = self.rows(idx)
        return RuleFeatures(np.concatenate([[0], np.cumsum(np.diff(self.offsets)[idx])]).astype(np.int64), cand,
                            values)

    def join(self, other: RuleFeatures) -> RuleFeatures:
        """Both tables' candidates per query (the union, in candidate order) with their columns side by side: a
        candidate missing from one table has zeros in that table's columns."""
        if len(self) != len(other):
            raise ValueError(f"cannot join features of {len(self)} and {len(other)} queries")
        q = np.concatenate([np.repeat(np.arange(len(self)), np.diff(self.offsets)),
                            np.repeat(np.arange(len(other)), np.diff(other.offsets))])
        cand = np.concatenate([self.candidate, other.candidate])
        m = int(cand.max(initial=0)) + 1
        keys, where = np.unique(q * m + cand, return_inverse=True)
        width = self.values.shape[1]
        values = np.zeros((len(keys), width + other.values.shape[1]), np.float32)
        values[where[: len(self.candidate)], :width] = self.values
        values[where[len(self.candidate):], width:] = other.values
        offsets = np.searchsorted(keys // m, np.arange(len(self) + 1)).astype(np.int64)
        return RuleFeatures(offsets, (keys % m).astype(np.int64), values)

    @classmethod
    def concat(cls, parts: list[RuleFeatures]) -> RuleFeatures:
        """One table for the queries of ``parts`` one after the other."""
        offsets, start = [np.zeros(1, np.int64)], 0
        for p in parts:
            offsets.append(p.offsets[1:] + start)
            start += int(p.offsets[-1])
        return cls(np.concatenate(offsets), np.concatenate([p.candidate for p in parts]),
                   np.concatenate([p.values for p in parts]))


def _scope_features(tails: np.ndarray, times: np.ndarray, t: int, step: int) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    cand, inv, counts = np.unique(tails, return_inverse=True, return_counts=True)
    last = np.zeros(len(cand), np.int64)
    np.maximum.at(last, inv, times)
    d = np.maximum((t - last) // step, 1)
    return cand, np.log1p(counts), 1.0 / np.log2(1.0 + d)


def rule_features(ds: TKGDataset, split: str, table: FactTable | None = None, length: int = 100,
                  directions: str = "both") -> RuleFeatures:
    """Rule features of every query of ``split`` (same order as ``build_examples``)."""
    table = table or FactTable.from_dataset(ds)
    nr, step = table.num_relations, max(1, int(ds.time_step))
    offsets, cands, vals = [0], [], []
    for t, qs, index in walk(ds, split, table):
        for q in qs:
            if directions == "forward" and q.inverse:
                continue
            pair = index.pair.get((q.entity, relation_prime(q, nr)), [])[-length:]
            ent = index.entity.get((q.entity, int(q.inverse)), [])[-length:]
            if not ent:  # the pair history is a subset of the entity history
                offsets.append(offsets[-1])
                continue
            ent_ids = np.asarray(ent)
            c_e, f_e, r_e = _scope_features(table.tail[ent_ids], table.time[ent_ids], t, step)
            v = np.zeros((len(c_e), 4), np.float32)
            v[:, 2], v[:, 3] = f_e, r_e
            if pair:
                pair_ids = np.asarray(pair)
                c_p, f_p, r_p = _scope_features(table.tail[pair_ids], table.time[pair_ids], t, step)
                where = np.searchsorted(c_e, c_p)  # pair candidates are entity candidates when L covers them
                ok = (where < len(c_e)) & (c_e[np.minimum(where, len(c_e) - 1)] == c_p)
                v[where[ok], 0], v[where[ok], 1] = f_p[ok], r_p[ok]
                extra = ~ok
                if extra.any():  # pair facts older than the last L entity facts
                    add = np.zeros((int(extra.sum()), 4), np.float32)
                    add[:, 0], add[:, 1] = f_p[extra], r_p[extra]
                    c_e, v = np.concatenate([c_e, c_p[extra]]), np.concatenate([v, add])
            cands.append(c_e)
            vals.append(v)
            offsets.append(offsets[-1] + len(c_e))
    cand = np.concatenate(cands).astype(np.int64) if cands else np.zeros(0, np.int64)
    values = np.concatenate(vals) if vals else np.zeros((0, 4), np.float32)
    return RuleFeatures(np.asarray(offsets, np.int64), cand, values)


def prior_bonus(features: RuleFeatures, idx: np.ndarray, weights, num_entities: int):
    """Dense bonus ``w . f(o)`` of shape (len(idx), num_entities) as a torch tensor."""
    import torch

    row, cand, values = features.rows(np.asarray(idx))
    bonus = torch.zeros(len(idx), num_entities)
    if len(row):
        w = torch.as_tensor(np.asarray(weights, np.float32))
        bonus.index_put_((torch.as_tensor(row), torch.as_tensor(cand)), torch.as_tensor(values) @ w, accumulate=True)
    return bonus


def scores_for_tuning(model, ex, features: RuleFeatures, k: int = 100,
                      batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's top-``k`` (ids, log-probs) per query and its log-prob of every history candidate."""
    import torch

    from modelworks.tkg.model import _batch

    model.eval()
    ids, lps = [], []
    hist = np.zeros(len(features.candidate), np.float32)
    with torch.inference_mode():
        for b in range(0, len(ex), batch_size):
            idx = np.arange(b, min(b + batch_size, len(ex)))
            logp = model(*_batch(ex, idx))
            top = torch.topk(logp, min(k, logp.shape[1]), dim=1)
            ids.append(top.indices.numpy())
            lps.append(top.values.numpy())
            row, cand, _ = features.rows(idx)
            hist[features.offsets[idx[0]]:features.offsets[idx[-1] + 1]] = \
                logp[torch.as_tensor(row), torch.as_tensor(cand)].numpy()
    return np.concatenate(ids), np.concatenate(lps), hist


def tune_weights(ids: np.ndarray, logp: np.ndarray, features: RuleFeatures, history_logp: np.ndarray, targets,
                 filters, grid: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)) -> tuple[list[float], float, list[dict]]:
    """Grid search of the four weights for time-aware filtered H@1 on a validation split.

    ``ids``/``logp``: the model's top-k lists on that split; ``history_logp`` (M,): the model's log-prob of each
    history candidate (aligned with ``features.candidate``). Together they hold every candidate that can reach
    rank 1. Returns (best weights, best H@1, every grid point's result)."""
    n, k = ids.shape
    counts = np.diff(features.offsets)
    width = int(counts.max()) if len(counts) and counts.max() > 0 else 1
    row = np.repeat(np.arange(n), counts)
    col = np.arange(len(features.candidate)) - features.offsets[row]
    h_ids = np.full((n, width), -1, np.int64)
    h_logp = np.full((n, width), -np.inf, np.float32)
    h_feat = np.zeros((n, width, len(FEATURES)), np.float32)
    h_ids[row, col], h_logp[row, col], h_feat[row, col] = features.candidate, history_logp, features.values
    cand = np.concatenate([ids, h_ids], axis=1)
    base = np.concatenate([logp.astype(np.float32), h_logp], axis=1)
    feat = np.concatenate([np.zeros((n, k, len(FEATURES)), np.float32), h_feat], axis=1)
    targets = np.asarray(targets)
    for i, f in enumerate(filters):  # other true answers at the same time never count (time-aware filter)
        skip = [c for c in f if c != targets[i]]
        if skip:
            base[i, np.isin(cand[i], skip)] = -np.inf
    trials = []
    for w in itertools.product(grid, repeat=len(FEATURES)):
        top = np.argmax(base + feat @ np.asarray(w, np.float32), axis=1)
        h1 = float(np.mean(cand[np.arange(n), top] == targets))
        trials.append({"weights": list(w), "hits@1": h1})
    best = max(trials, key=lambda r: r["hits@1"])
    return best["weights"], best["hits@1"], trials
