"""Hits@1/3/10 and MRR, raw and time-aware filtered, from ranked candidate lists.

A query is ``(entity, relation, ?, time)`` in either direction; the test split with ``N`` facts
asks ``2N`` queries (``(s, r, ?, t)`` and ``(o, r^-1, ?, t)``), each with its own target.

- **raw** rank = 1 + the number of candidates ranked above the target;
- **time-aware filtered** rank = 1 + the number of candidates ranked above the target that are not
  another true answer of the same query *at the same time* (Gastinger et al. 2023; the filter of
  CoH Table 4, GenTKG and the ICL paper).

A target missing from its candidate list is a miss at every k and adds 0 to the MRR (a beam of 10
or a rule's history cannot rank what it never proposes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["KS", "rank_of", "evaluate_rankings", "time_aware_filters", "Query", "queries_for", "summarize_ranks"]

KS = (1, 3, 10)


@dataclass(frozen=True)
class Query:
    """One query ``(entity, relation, ?, time)``; ``inverse`` marks the ``(o, r^-1, ?, t)`` direction."""

    entity: int
    relation: int
    time: int
    target: int
    inverse: bool


def queries_for(facts: np.ndarray) -> list[Query]:
    """Both directions for every fact, forward then inverse per fact, in file order."""
    out = []
    for s, r, o, t in facts.tolist():
        out.append(Query(s, r, t, o, False))
        out.append(Query(o, r, t, s, True))
    return out


def time_aware_filters(queries: Sequence[Query], facts: np.ndarray) -> list[frozenset[int]]:
    """For each query, every true answer of ``(entity, relation, direction)`` at the query's time."""
    answers: dict[tuple[int, int, bool, int], set[int]] = defaultdict(set)
    times = {q.time for q in queries}
    for s, r, o, t in facts.tolist():
        if t in times:
            answers[(s, r, False, t)].add(o)
            answers[(o, r, True, t)].add(s)
    return [frozenset(answers.get((q.entity, q.relation, q.inverse, q.time), ())) for q in queries]


def rank_of(ranked: Sequence[int], target: int, filtered_out: Iterable[int] = ()) -> float:
    """1-based rank of ``target`` in ``ranked``, skipping candidates in ``filtered_out``
    (the target itself is never skipped); ``inf`` when the target is not in the list."""
    skip = set(filtered_out)
    skip.discard(target)
    rank = 1
    for c in ranked:
        if c == target:
            return float(rank)
        if c not in skip:
            rank += 1
    return float("inf")


def summarize_ranks(ranks: Sequence[float] | np.ndarray) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        return {**{f"hits@{k}": 0.0 for k in KS}, "mrr": 0.0}
    out = {f"hits@{k}": float(np.mean(r <= k)) for k in KS}
    out["mrr"] = float(np.mean(np.where(np.isfinite(r), 1.0 / r, 0.0)))
    return out


def evaluate_rankings(
    ranked: Sequence[Sequence[int]],
    targets: Sequence[int],
    filters: Sequence[Iterable[int]],
) -> dict[str, dict[str, float] | int]:
    """``{"raw": {...}, "time_aware_filtered": {...}, "queries": N}`` from one ranked list per query."""
    if not (len(ranked) == len(targets) == len(filters)):
        raise ValueError(f"lengths differ: {len(ranked)} ranked lists, {len(targets)} targets, {len(filters)} filters")
    raw = [rank_of(lst, t) for lst, t in zip(ranked, targets)]
    flt = [rank_of(lst, t, f) for lst, t, f in zip(ranked, targets, filters)]
    return {"raw": summarize_ranks(raw), "time_aware_filtered": summarize_ranks(flt), "queries": len(targets)}
