"""History chains for temporal queries, built in time order (the single-step extrapolation setting).

Every fact ``(s, r, o, t)`` is stored twice in one chronological table: forward as
``(s, r, o, t)`` and inverse as ``(o, r + R, s, t)`` (``R`` = number of relations), so a query in
either direction is ``(entity, relation', ?, time)`` with ``relation' < 2R``.

:func:`walk` visits the timestamps of a split in order and, for each, yields the queries asked at
that time together with a :class:`HistoryIndex` holding exactly the facts with ``time < t``; only
afterwards are the facts of ``t`` added (ground truth becomes history for later timestamps).

:func:`chain` is the Chain-of-History selection with **structure-based augmentation**: the most recent
facts of the same entity *and* relation (H_s), then, while the chain is shorter than ``L``, the same
entity with any relation (H_e), then the same relation with any entity (H_r); each source is taken most
recent first and de-duplicated; the chain is returned in ascending time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from modelworks.tkg.datasets import TKGDataset
from modelworks.tkg.metrics import Query

__all__ = ["FactTable", "HistoryIndex", "walk", "chain", "REVERSE_STYLES", "SOURCE_PAIR", "SOURCE_ENTITY",
           "SOURCE_RELATION"]

# How inverse facts are shown to a model (CoH §4 reverse knowledge); "none" leaves them out.
REVERSE_STYLES = ("ordinary", "text-aware", "position-aware", "none")
SOURCE_PAIR, SOURCE_ENTITY, SOURCE_RELATION = 0, 1, 2


@dataclass
class FactTable:
    """All facts of a dataset, forward and inverse, sorted by time (stable: file order within a time)."""

    head: np.ndarray
    rel: np.ndarray  # inverse facts carry rel + num_relations
    tail: np.ndarray
    time: np.ndarray
    split: np.ndarray  # 0 train, 1 valid, 2 test
    num_relations: int

    @classmethod
    def from_dataset(cls, ds: TKGDataset) -> FactTable:
        parts = [ds.train, ds.valid, ds.test]
        facts = np.concatenate(parts)
        split = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
        order = np.argsort(facts[:, 3], kind="stable")
        facts, split = facts[order], split[order]
        n, nr = len(facts), ds.num_relations
        head, rel, tail = np.empty(2 * n, np.int64), np.empty(2 * n, np.int64), np.empty(2 * n, np.int64)
        head[0::2], rel[0::2], tail[0::2] = facts[:, 0], facts[:, 1], facts[:, 2]
        head[1::2], rel[1::2], tail[1::2] = facts[:, 2], facts[:, 1] + nr, facts[:, 0]
        return cls(head, rel, tail, np.repeat(facts[:, 3], 2), np.repeat(split, 2), nr)

    def __len__(self) -> int:
        return len(self.head)


@dataclass
class HistoryIndex:
    """Fact ids (into a :class:`FactTable`) by (entity, relation'), (entity, direction) and relation'."""

    table: FactTable
    pair: dict[tuple[int, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    entity: dict[tuple[int, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    relation: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, ids: range | list[int]) -> None:
        t, nr = self.table, self.table.num_relations
        heads, rels = t.head, t.rel
        for i in ids:
            h, r = int(heads[i]), int(rels[i])
            self.pair[(h, r)].append(i)
            self.entity[(h, int(r >= nr))].append(i)
            self.relation[r].append(i)


def walk(ds: TKGDataset, split: str, table: FactTable | None = None) -> Iterator[tuple[int, list[Query], HistoryIndex]]:
    """Yield ``(time, queries, index)`` for each timestamp that has facts of ``split`` (both directions)."""
    table = table or FactTable.from_dataset(ds)
    want = {"train": 0, "valid": 1, "test": 2}[split]
    index = HistoryIndex(table)
    times = table.time
    n = len(times)
    start = 0
    nr = table.num_relations
    while start < n:
        end = start
        t = times[start]
        while end < n and times[end] == t:
            end += 1
        queries = []
        for i in range(start, end):
            if table.split[i] == want:
                r = int(table.rel[i])
                inv = r >= nr
                queries.append(Query(int(table.head[i]), r - nr if inv else r, int(t), int(table.tail[i]), inv))
        if queries:
            yield int(t), queries, index
        index.add(range(start, end))
        start = end


def relation_prime(q: Query, num_relations: int) -> int:
    return q.relation + num_relations if q.inverse else q.relation


def chain(index: HistoryIndex, q: Query, length: int, augment: bool = True, reverse: bool = True) -> list[int]:
    """Fact ids of the history chain of ``q`` (ascending time), at most ``length`` of them.

    ``augment=False`` keeps H_s only. ``reverse=False`` keeps only facts in the query's own direction
    (no reverse knowledge in the history).
    """
    table = index.table
    nr = table.num_relations
    rp = relation_prime(q, nr)
    picked = index.pair.get((q.entity, rp), [])[-length:]
    if not augment or len(picked) >= length:
        return list(picked)
    out = list(picked)
    need = length - len(out)
    # H_e: same entity, any other relation, most recent first (H_s facts are skipped: already taken).
    direction = int(q.inverse)
    cands = list(index.entity.get((q.entity, direction), [])[-(length + len(picked)):])
    if reverse:
        cands += index.entity.get((q.entity, 1 - direction), [])[-length:]
        cands.sort()
    rels = table.rel
    for i in reversed(cands):
        if rels[i] != rp:
            out.append(i)
            need -= 1
            if need == 0:
                break
    if need > 0:
        heads = table.head
        # H_r: same relation', other entities, most recent first.
        for i in reversed(index.relation.get(rp, [])):
            if heads[i] != q.entity:
                out.append(i)
                need -= 1
                if need == 0:
                    break
    out.sort()
    return out


def source_of(table: FactTable, fact: int, q: Query) -> int:
    """Which part of the chain a fact came from: pair (H_s), entity (H_e) or relation (H_r)."""
    rp = relation_prime(q, table.num_relations)
    if table.head[fact] == q.entity:
        return SOURCE_PAIR if table.rel[fact] == rp else SOURCE_ENTITY
    return SOURCE_RELATION
