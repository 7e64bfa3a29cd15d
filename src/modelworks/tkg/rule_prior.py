"""Rule prior: the rule baselines' evidence added to the event generator's log-probabilities at inference.

For a query ``(e, r', ?, t)`` every candidate seen as an answer in its recent history (the last ``L``
facts, exactly the histories of :mod:`modelworks.tkg.rules`) gets four features:

- ``pair_frequency``: ``log1p`` of its count among the last ``L`` facts of ``(e, r')``;
- ``pair_recency``: ``1 / log2(1 + d)``, ``d`` = time steps since its latest fact there (1 for the previous step);
- ``entity_frequency`` / ``entity_recency``: the same over the last ``L`` facts of ``e`` (same role, any relation).

With ``typed.enabled`` two more features come from typed temporal rules learned on the training split
(:mod:`modelworks.tkg.typed_rules`: how often a relation-``r1`` fact, or a two-fact path, of the entity pointed at
the answer of ``r'``), for the candidates those rules reach.

The ranking score is ``log p_model(o) + w . f(o)`` with non-negative weights ``w`` chosen on the
validation split (:func:`tune_weights`); candidates without features get no bonus. A candidate outside the
model's top-k and without features can never overtake one inside, so scoring the model's top-k plus the
feature candidates is exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from modelworks.config import check_numbers
from modelworks.errors import ConfigError
from modelworks.tkg.datasets import TKGDataset
from modelworks.tkg.history import FactTable, relation_prime, walk
from modelworks.tkg.typed_rules import TYPED_FEATURES, TypedRules, TypedRulesConfig, typed_rule_features

__all__ = ["FEATURES", "RulePriorConfig", "RuleFeatures", "rule_features", "prior_features", "prior_bonus",
           "tune_weights", "scores_for_tuning"]

FEATURES = ("pair_frequency", "pair_recency", "entity_frequency", "entity_recency")


@dataclass
class RulePriorConfig:
    weights: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # one per FEATURES entry; all 0 = off
    history: int = 100
    tune: bool = False  # choose the weights on the valid split (held out from training) instead of `weights`
    grid: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0])  # values tried for each weight
    typed: TypedRulesConfig = field(default_factory=TypedRulesConfig)  # + typed-rule features (own weights, grids)

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ConfigError(f"key 'weights' needs {len(FEATURES)} numbers ({', '.join(FEATURES)}), "
                              f"got {len(self.weights)}")
        if any(w < 0 for w in self.weights):
            raise ConfigError(f"key 'weights' must be non-negative, got {self.weights}")
        check_numbers(self, at_least_1=("history",))
        if not self.grid or any(w < 0 for w in self.grid):
            raise ConfigError(f"key 'grid' must be non-empty and non-negative, got {self.grid}")

    @property
    def enabled(self) -> bool:
        return self.tune or any(w > 0 for w in self.all_weights)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURES + TYPED_FEATURES if self.typed.enabled else FEATURES

    @property
    def all_weights(self) -> list[float]:
        """The configured weights of :attr:`feature_names`, in that order."""
        return list(self.weights) + (list(self.typed.weights) if self.typed.enabled else [])

    @property
    def grids(self) -> list[list[float]]:
        """The values tried for each weight of :attr:`feature_names` when tuning."""
        return [list(self.grid) for _ in FEATURES] + ([list(g) for g in self.typed.grids] if self.typed.enabled else [])


@dataclass
class RuleFeatures:
    """Per query (in :func:`~modelworks.tkg.examples.build_examples` order), its candidates and their features: rows
    ``offsets[i]:offsets[i+1]`` of ``candidate`` (M,) and ``values`` (M, columns), e.g. the four of :data:`FEATURES`."""

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


def prior_features(ds: TKGDataset, split: str, table: FactTable, cfg: RulePriorConfig,
                   typed: TypedRules | None = None) -> RuleFeatures:
    """The columns of ``cfg.feature_names`` for every query of ``split``: the four history features, joined with the
    typed-rule features when ``cfg.typed.enabled`` (then ``typed`` holds the rules learned on the training split)."""
    feats = rule_features(ds, split, table, cfg.history)
    if not cfg.typed.enabled:
        return feats
    if typed is None:
        raise ValueError("rule_prior.typed is enabled but no typed rules were given")
    return feats.join(typed_rule_features(ds, split, table, typed))


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
                 filters, grid: Sequence[float] | Sequence[Sequence[float]] = (0.0, 0.25, 0.5, 1.0, 2.0)
                 ) -> tuple[list[float], float, list[dict]]:
    """Grid search of the feature weights for time-aware filtered H@1 on a validation split.

    ``ids``/``logp``: the model's top-k lists on that split (best first); ``history_logp`` (M,): the model's log-prob
    of each feature candidate (aligned with ``features.candidate``). Together they hold every candidate that can reach
    rank 1 (``ids`` sorted best first, as ``torch.topk`` returns them). ``grid``: the values tried for every weight, or
    one list per feature column. Returns (best weights, best H@1, every grid point's result); ties go to the first
    grid point, and within a query to the model's list first.
    """
    n = ids.shape[0]
    width = features.values.shape[1]
    if n == 0:
        raise ValueError("no queries to tune the rule prior on")
    if len(features) != n:
        raise ValueError(f"features of {len(features)} queries for {n} ranked lists")
    per_column = len(grid) and isinstance(grid[0], (list, tuple, np.ndarray))
    grids = [list(g) for g in grid] if per_column else [list(grid) for _ in range(width)]
    if len(grids) != width:
        raise ValueError(f"{len(grids)} weight grids for {width} feature columns")
    targets = np.asarray(targets)
    best_id, best_lp = np.full(n, -1, np.int64), np.full(n, -np.inf, np.float32)
    # Of the model's list (no bonus there) only its best candidate that is not filtered out can reach rank 1; the
    # feature candidates that are filtered out go to -inf. Other true answers at that time never count.
    h_lp = np.asarray(history_logp, np.float32).copy()
    for i, f in enumerate(filters):
        skip = f - {int(targets[i])}
        j = next((j for j, c in enumerate(ids[i].tolist()) if c not in skip), None)
        if j is not None:
            best_id[i], best_lp[i] = ids[i, j], logp[i, j]
        if skip:
            a, b = features.offsets[i], features.offsets[i + 1]
            h_lp[a:b][np.isin(features.candidate[a:b], list(skip))] = -np.inf
    # One flat list per query: that candidate first, then the feature candidates.
    query = np.repeat(np.arange(n), np.diff(features.offsets))
    pos = np.arange(len(query)) + query + 1  # where each feature candidate lands after its query's first slot
    starts = features.offsets[:-1] + np.arange(n)
    cand = np.empty(len(query) + n, np.int64)
    cand[starts], cand[pos] = best_id, features.candidate
    base = np.empty(len(cand), np.float32)
    base[starts], base[pos] = best_lp, h_lp
    values = np.zeros((len(cand), width), np.float32)
    values[pos] = features.values
    order = np.arange(len(cand))
    trials = []
    for w in itertools.product(*grids):
        score = base + values @ np.asarray(w, np.float32)
        top = np.maximum.reduceat(score, starts)
        first = np.minimum.reduceat(np.where(score == np.repeat(top, np.diff(np.r_[starts, len(cand)])), order,
                                             len(cand)), starts)
        h1 = float(np.mean(cand[np.minimum(first, len(cand) - 1)] == targets))
        trials.append({"weights": list(w), "hits@1": h1})
    best = max(trials, key=lambda r: r["hits@1"])
    return best["weights"], best["hits@1"], trials
