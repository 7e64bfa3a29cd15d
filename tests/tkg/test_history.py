from modelworks.tkg.history import FactTable, chain, walk

from ._graphs import chain_graph


def _facts(table: FactTable, ids):
    nr = table.num_relations
    out = []
    for i in ids:
        r = int(table.rel[i])
        out.append((int(table.head[i]), r if r < nr else f"{r - nr}^-1", int(table.tail[i]), int(table.time[i])))
    return out


def _query():
    ds = chain_graph()
    t, qs, index = next(walk(ds, "test"))  # the index is only valid before the next step
    return ds, index, qs


def test_walk_gives_only_strictly_earlier_history():
    ds, index, qs = _query()
    assert [q.time for q in qs] == [10] * 4
    assert [(q.entity, q.inverse) for q in qs] == [(0, False), (9, True), (0, False), (8, True)]
    # the second test fact (same time) is not history for the first
    hist = _facts(index.table, index.pair[(0, 0)])
    assert hist == [(0, 0, 1, 1), (0, 0, 5, 4)]


def test_chain_augmentation_order_and_reverse():
    ds, index, qs = _query()
    q = qs[0]
    t = index.table
    # H_s first (2 facts), then H_e most recent first: the inverse of (2, 1, 0, 7), then (0, 1, 3, 5)
    assert _facts(t, chain(index, q, 4)) == [(0, 0, 1, 1), (0, 0, 5, 4), (0, 1, 3, 5), (0, "1^-1", 2, 7)]
    # no reverse knowledge: only facts in the query's direction
    assert _facts(t, chain(index, q, 4, reverse=False)) == [(0, 0, 1, 1), (0, 1, 2, 2), (0, 0, 5, 4), (0, 1, 3, 5)]
    # long enough to reach H_r (same relation, other subjects), printed in ascending time
    assert _facts(t, chain(index, q, 6, reverse=False)) == [
        (0, 0, 1, 1), (0, 1, 2, 2), (3, 0, 4, 3), (0, 0, 5, 4), (0, 1, 3, 5), (6, 0, 1, 6)]
    # without augmentation: H_s only; L=1 keeps the most recent
    assert _facts(t, chain(index, q, 6, augment=False)) == [(0, 0, 1, 1), (0, 0, 5, 4)]
    assert _facts(t, chain(index, q, 1)) == [(0, 0, 5, 4)]


def test_chain_has_no_duplicates_and_respects_length():
    ds, index, qs = _query()
    for q in qs:
        for length in (1, 3, 5, 50):
            ids = chain(index, q, length)
            assert len(ids) == len(set(ids)) <= length
            assert ids == sorted(ids)
            assert all(index.table.time[i] < q.time for i in ids)
