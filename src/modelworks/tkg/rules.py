"""Rule baselines: rank the answers seen in a query's recent history.

- ``pair-*``: the history is the facts with the same entity and relation (in the query's direction);
- ``entity-*``: the facts with the same entity in the same role, any relation;
- ``*-frequency``: score = how often a candidate is the answer among the last ``L`` history facts;
- ``*-recency``: score = the latest time a candidate was the answer among the last ``L`` facts.

Ties are broken by first appearance in the (ascending-time) history. Candidates never seen rank
nowhere, so a target outside the history is a miss.
"""

from __future__ import annotations

from collections.abc import Callable

from modelworks.errors import UserError
from modelworks.tkg.datasets import TKGDataset
from modelworks.tkg.history import FactTable, HistoryIndex, relation_prime, walk
from modelworks.tkg.metrics import Query, evaluate_rankings, time_aware_filters

__all__ = ["RULES", "rank_by_rule", "run_rule"]

RULES = ("pair-frequency", "pair-recency", "entity-frequency", "entity-recency")


def _history(index: HistoryIndex, q: Query, scope: str, length: int) -> list[int]:
    if scope == "pair":
        ids = index.pair.get((q.entity, relation_prime(q, index.table.num_relations)), [])
    else:
        ids = index.entity.get((q.entity, int(q.inverse)), [])
    return ids[-length:] if length > 0 else list(ids)


def rank_by_rule(index: HistoryIndex, q: Query, rule: str, length: int) -> list[int]:
    """Candidate entities of ``q`` ranked by ``rule`` over the last ``length`` facts (0 = all)."""
    if rule not in RULES:
        raise UserError(f"unknown rule '{rule}'; choose from {', '.join(RULES)}")
    scope, kind = rule.split("-")
    ids = _history(index, q, scope, length)
    tails, times = index.table.tail, index.table.time
    score: dict[int, int] = {}  # insertion order = first appearance
    if kind == "frequency":
        for i in ids:
            c = int(tails[i])
            score[c] = score.get(c, 0) + 1
    else:
        for i in ids:
            score[int(tails[i])] = int(times[i])
    return sorted(score, key=lambda c: -score[c])  # sorted() is stable: ties keep first appearance


def run_rule(ds: TKGDataset, rule: str, length: int = 100, split: str = "test",
             progress: Callable[[int], None] | None = None) -> dict:
    """Evaluate a rule on both directions of ``split`` (single-step): raw and time-aware filtered."""
    if length < 0:
        raise UserError(f"--history must be >= 0 (0 = unlimited), got {length}")
    if rule not in RULES:
        raise UserError(f"unknown rule '{rule}'; choose from {', '.join(RULES)}")
    table = FactTable.from_dataset(ds)
    queries, ranked = [], []
    for _t, qs, index in walk(ds, split, table):
        for q in qs:
            queries.append(q)
            ranked.append(rank_by_rule(index, q, rule, length))
        if progress:
            progress(len(queries))
    filters = time_aware_filters(queries, ds.all_facts())
    return evaluate_rankings(ranked, [q.target for q in queries], filters)
