"""Typed temporal rules (TLogic-style) as rule-prior evidence: which earlier facts point at the answer.

A rule of length 1, ``r1 -> r'``, reads: the query entity ``e`` had a fact ``(e, r1, y, t1)`` before the query
time, so ``y`` may answer ``(e, r', ?, t)``. A rule of length 2, ``(r1, r2) -> r'``, follows a path
``e -r1-> z -r2-> y`` with ``t1 <= t2 < t``. Relations are relation' (an inverse fact carries ``r + R``), so a
rule reads facts in either direction.

**Confidence** (rule support over body support, as in Liu et al., AAAI 2022, "TLogic") is counted on the training
queries, each seeing only the facts before its own time: over every (entity, relation', time) asked in the
training splits and every candidate ``y`` a rule body reaches from the entity, ``hits / (bodies + shrink)``, a hit
meaning that ``y`` is a true answer at that time. ``shrink`` pulls rarely seen rules toward 0.

**Features** of a query's candidates: the noisy-or ``1 - prod(1 - c)`` of the confidences of the length-1 rules
that reach it, and the same for the length-2 rules. Length 1 reads the entity's last ``history`` facts (both
directions); length 2 the entity's last ``hop`` facts and, for each neighbour ``z``, the last ``hop`` of its facts
from ``t1`` on that do not lead back to ``e`` (among z's last ``history`` facts). The rule prior adds ``w . f`` to the model's log-probabilities
(:mod:`modelworks.tkg.rule_prior`), with the two weights chosen on valid together with the other four.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from modelworks.config import check_numbers
from modelworks.errors import ConfigError, UserError
from modelworks.tkg.history import FactTable, HistoryIndex, relation_prime, walk

if TYPE_CHECKING:
    from modelworks.tkg.datasets import TKGDataset
    from modelworks.tkg.rule_prior import RuleFeatures

__all__ = ["TYPED_FEATURES", "TypedRulesConfig", "TypedRules", "learn_typed_rules", "typed_rule_features"]

TYPED_FEATURES = ("typed_rules_length1", "typed_rules_length2")
_MAX_CONFIDENCE = 0.999  # keeps log(1 - c) finite


@dataclass
class TypedRulesConfig:
    enabled: bool = False
    history: int = 100  # length-1 bodies: the entity's last N facts (both directions)
    hop: int = 10       # length-2 bodies: the last N facts at each of the two hops
    decay: bool = False  # weigh each grounding by 1 / log2(1 + steps since its latest fact)
    shrink: float = 5.0  # confidence = hits / (bodies + shrink)
    weights: list[float] = field(default_factory=lambda: [0.0, 0.0])  # used when rule_prior.tune is off
    grids: list[list[float]] = field(default_factory=lambda: [[0.0, 0.5, 1.0, 2.0, 4.0, 8.0],
                                                              [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]])

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("history", "hop"), at_least_0=("shrink",))
        if len(self.weights) != len(TYPED_FEATURES) or any(w < 0 for w in self.weights):
            raise ConfigError(f"key 'weights' needs {len(TYPED_FEATURES)} non-negative numbers (length 1, length 2), "
                              f"got {self.weights}")
        if len(self.grids) != len(TYPED_FEATURES) or any(not g or any(w < 0 for w in g) for g in self.grids):
            raise ConfigError(f"key 'grids' needs {len(TYPED_FEATURES)} non-empty lists of non-negative weights "
                              f"(length 1, length 2), got {self.grids}")


@dataclass
class TypedRules:
    """Rule confidences: ``conf1[r', r1]`` and, for length 2, sorted codes ``(r' * 2R + r1) * 2R + r2`` with theirs."""

    num_relations: int  # R; relation' ranges over 2R
    conf1: np.ndarray
    keys2: np.ndarray
    conf2: np.ndarray
    history: int
    hop: int
    decay: bool = False

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez_compressed(path, num_relations=self.num_relations, conf1=self.conf1, keys2=self.keys2,
                            conf2=self.conf2, history=self.history, hop=self.hop, decay=self.decay)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TypedRules:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no typed-rules file (the run used no rule prior, or was made before typed rules)")
        try:
            with np.load(path) as z:
                rules = cls(int(z["num_relations"]), z["conf1"], z["keys2"].astype(np.int64), z["conf2"],
                            int(z["history"]), int(z["hop"]), bool(z["decay"]) if "decay" in z.files else False)
        except Exception as exc:  # a truncated or foreign file fails in numpy, zipfile or zlib
            raise UserError(f"{path}: not a typed-rules file ({type(exc).__name__}: {exc})") from None
        r2n = 2 * rules.num_relations
        if rules.conf1.shape != (r2n, r2n) or rules.keys2.shape != rules.conf2.shape or \
                np.any(np.diff(rules.keys2) <= 0):
            raise UserError(f"{path}: not a typed-rules file (arrays of the wrong shape or order)")
        return rules

    def length2(self, codes: np.ndarray) -> np.ndarray:
        """Confidences of length-2 rule codes (0 for rules never seen in training)."""
        if not len(self.keys2):
            return np.zeros(len(codes))
        pos = np.minimum(np.searchsorted(self.keys2, codes), len(self.keys2) - 1)
        return np.where(self.keys2[pos] == codes, self.conf2[pos], 0.0)


def _entity_facts(index: HistoryIndex, entity: int, n: int, cache: dict) -> np.ndarray:
    """Ids of the entity's last ``n`` facts, both directions (fact ids grow with time). ``cache`` holds the answers
    for one timestamp (the index changes only between timestamps)."""
    got = cache.get((entity, n))
    if got is None:
        ids = np.asarray(index.entity.get((entity, 0), [])[-n:] + index.entity.get((entity, 1), [])[-n:], np.int64)
        ids.sort()
        got = cache[(entity, n)] = ids[-n:]
    return got


def _distinct(code: np.ndarray, times: np.ndarray | None, ne: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(rule code, y, latest time or None when ``times`` is None) per distinct ``code * ne + y`` in ``code``."""
    if times is None:
        uniq = np.unique(code)
        return uniq // ne, uniq % ne, None
    uniq, inv = np.unique(code, return_inverse=True)
    last = np.zeros(len(uniq), np.int64)
    np.maximum.at(last, inv, times)
    return uniq // ne, uniq % ne, last


def _one_hop(table: FactTable, index: HistoryIndex, entity: int, n: int, ne: int, cache: dict, times: bool = False
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Distinct (r1, y) of the entity's last ``n`` facts, with the latest time of each when ``times`` (``ne``: number
    of entities)."""
    ids = _entity_facts(index, entity, n, cache)
    return _distinct(table.rel[ids] * ne + table.tail[ids], table.time[ids] if times else None, ne)


def _two_hop(table: FactTable, index: HistoryIndex, entity: int, n: int, window: int, ne: int, cache: dict,
             times: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Distinct (r1 * 2R + r2, y) of the paths entity -r1-> z -r2-> y with t1 <= t2 (and the latest t2 of each when
    ``times``): the
    entity's last ``n`` facts, then the last ``n`` of z's facts from t1 on that do not lead back, among z's last
    ``window`` facts."""
    r2n = 2 * table.num_relations
    codes, ys, ts = [], [], []
    for f in _entity_facts(index, entity, n, cache).tolist():
        z, r1, t1 = int(table.tail[f]), int(table.rel[f]), int(table.time[f])
        nxt = _entity_facts(index, z, window, cache)
        nxt = nxt[(table.time[nxt] >= t1) & (table.tail[nxt] != entity)][-n:]
        if len(nxt):
            codes.append(r1 * r2n + table.rel[nxt])
            ys.append(table.tail[nxt])
            ts.append(table.time[nxt])
    if not codes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64) if times else None
    return _distinct(np.concatenate(codes) * ne + np.concatenate(ys), np.concatenate(ts) if times else None, ne)


def learn_typed_rules(ds: TKGDataset, table: FactTable, cfg: TypedRulesConfig, splits: tuple[str, ...] = ("train",)
                      ) -> TypedRules:
    """Count every rule's confidence on the queries of ``splits`` (never the split the prior is tuned on)."""
    nr, ne = table.num_relations, ds.num_entities
    r2n = 2 * nr
    hits1, bodies1 = np.zeros((r2n, r2n)), np.zeros((r2n, r2n))
    codes2, hit2 = [], []
    for split in splits:
        for _t, qs, index in walk(ds, split, table):
            cache: dict = {}
            answers: dict[tuple[int, int], set[int]] = defaultdict(set)
            for q in qs:
                answers[(q.entity, relation_prime(q, nr))].add(q.target)
            for (e, rp), ans in answers.items():
                true = np.fromiter(ans, np.int64)
                r1, y, _ = _one_hop(table, index, e, cfg.history, ne, cache)
                if len(r1):
                    np.add.at(bodies1[rp], r1, 1)
                    np.add.at(hits1[rp], r1[np.isin(y, true)], 1)
                c2, y2, _ = _two_hop(table, index, e, cfg.hop, cfg.history, ne, cache)
                if len(c2):
                    codes2.append(rp * r2n * r2n + c2)
                    hit2.append(np.isin(y2, true))
    conf1 = np.divide(hits1, bodies1 + cfg.shrink, out=np.zeros_like(hits1), where=bodies1 > 0)
    if codes2:
        keys2, inv = np.unique(np.concatenate(codes2), return_inverse=True)
        b2, h2 = np.bincount(inv), np.bincount(inv, weights=np.concatenate(hit2).astype(float))
        conf2 = h2 / (b2 + cfg.shrink)  # every listed rule has at least one body
        keep = h2 > 0  # a rule that never hit adds nothing
        keys2, conf2 = keys2[keep], conf2[keep]
    else:
        keys2, conf2 = np.zeros(0, np.int64), np.zeros(0)
    return TypedRules(nr, conf1, keys2.astype(np.int64), conf2, cfg.history, cfg.hop, cfg.decay)


def _noisy_or(index: np.ndarray, conf: np.ndarray, size: int) -> np.ndarray:
    acc = np.zeros(size)
    np.add.at(acc, index, np.log1p(-np.minimum(conf, _MAX_CONFIDENCE)))
    return 1.0 - np.exp(acc)


def typed_rule_features(ds: TKGDataset, split: str, table: FactTable, rules: TypedRules,
                        directions: str = "both") -> RuleFeatures:
    """The two typed-rule features (:data:`TYPED_FEATURES`) of every query of ``split``, in
    :func:`~modelworks.tkg.examples.build_examples` order; candidates no rule reaches are left out."""
    from modelworks.tkg.rule_prior import RuleFeatures

    if rules.num_relations != table.num_relations:
        raise UserError(f"typed rules were learned for {rules.num_relations} relations, the dataset has "
                        f"{table.num_relations}")
    nr, ne, step = table.num_relations, ds.num_entities, max(1, int(ds.time_step))
    r2n = 2 * nr
    offsets, cands, vals = [0], [], []
    for _t, qs, index in walk(ds, split, table):
        cache: dict = {}
        for q in qs:
            if directions == "forward" and q.inverse:
                continue
            rp = relation_prime(q, nr)
            r1, y1, t1 = _one_hop(table, index, q.entity, rules.history, ne, cache, rules.decay)
            c2, y2, t2 = _two_hop(table, index, q.entity, rules.hop, rules.history, ne, cache, rules.decay)
            conf1 = rules.conf1[rp, r1]
            conf2 = rules.length2(rp * r2n * r2n + c2)
            hit = conf2 > 0
            y2, conf2 = y2[hit], conf2[hit]
            if rules.decay:  # a grounding counts less the older its latest fact: 1 / log2(1 + steps since)
                conf1 = conf1 / np.log2(1.0 + np.maximum((q.time - t1) // step, 1))
                conf2 = conf2 / np.log2(1.0 + np.maximum((q.time - t2[hit]) // step, 1))
            cand = np.union1d(y1, y2)
            v = np.zeros((len(cand), 2), np.float32)
            if len(y1):
                v[:, 0] = _noisy_or(np.searchsorted(cand, y1), conf1, len(cand))
            if len(y2):
                v[:, 1] = _noisy_or(np.searchsorted(cand, y2), conf2, len(cand))
            keep = v.any(axis=1)
            cands.append(cand[keep])
            vals.append(v[keep])
            offsets.append(offsets[-1] + int(keep.sum()))
    cand = np.concatenate(cands).astype(np.int64) if cands else np.zeros(0, np.int64)
    values = np.concatenate(vals) if vals else np.zeros((0, 2), np.float32)
    return RuleFeatures(np.asarray(offsets, np.int64), cand, values)
