import math

import numpy as np
import pytest

from modelworks.errors import ConfigError
from modelworks.tkg.examples import build_examples
from modelworks.tkg.history import FactTable
from modelworks.tkg.model import EventGenerator, EventGeneratorConfig, predict_topk
from modelworks.tkg.rule_prior import RuleFeatures, RulePriorConfig, prior_bonus, rule_features, tune_weights

from ._graphs import rule_graph


def test_features_match_the_rule_histories():
    ds = rule_graph()  # (0, 0, ?, 4): pair history tails 1, 2, 1, 3 at t = 0..3; entity history adds 4 at t = 3
    f = rule_features(ds, "test", FactTable.from_dataset(ds), length=100)
    assert len(f) == 2
    got = {c: v.tolist() for c, v in zip(f.candidate[f.offsets[0]:f.offsets[1]].tolist(),
                                          f.values[f.offsets[0]:f.offsets[1]])}
    rec = lambda d: 1 / math.log2(1 + d)  # noqa: E731
    want = {1: [math.log1p(2), rec(2), math.log1p(2), rec(2)], 2: [math.log1p(1), rec(3), math.log1p(1), rec(3)],
            3: [math.log1p(1), rec(1), math.log1p(1), rec(1)], 4: [0.0, 0.0, math.log1p(1), rec(1)]}
    assert set(got) == set(want)
    for c in want:
        assert got[c] == pytest.approx(want[c], rel=1e-5)
    # the inverse query (1, 0^-1, ?, 4) has seen only entity 0 (twice, last at t = 2)
    assert f.candidate[f.offsets[1]:f.offsets[2]].tolist() == [0]
    # L = 1: the entity history is its last fact (0, 1, 4, 3), the pair history (0, 0, 3, 3)
    short = rule_features(ds, "test", length=1)
    assert short.candidate[short.offsets[0]:short.offsets[1]].tolist() == [4, 3]
    assert np.allclose(short.values[short.offsets[0]:short.offsets[1]],
                       [[0.0, 0.0, math.log1p(1), 1.0], [math.log1p(1), 1.0, 0.0, 0.0]])


def test_bonus_and_prediction_follow_the_weights():
    import torch

    ds = rule_graph()
    table = FactTable.from_dataset(ds)
    f = rule_features(ds, "test", table)
    bonus = prior_bonus(f, np.arange(2), [0, 1, 0, 0], ds.num_entities)
    assert bonus.shape == (2, ds.num_entities)
    assert bonus[0, 3].item() == pytest.approx(1.0) and bonus[0, 4].item() == 0.0 and bonus[1, 0] > 0
    torch.manual_seed(0)
    model = EventGenerator(EventGeneratorConfig(dim=16, layers=1, heads=2, history=4), ds.num_entities,
                           ds.num_relations, table, ds.time_step)
    ev = build_examples(ds, "test", 4, table=table)
    ids, scores = predict_topk(model, ev, k=5, prior=(f, [0, 100, 0, 0]))  # pair recency dominates: 3 first
    assert ids[0, 0] == 3 and ids[1, 0] == 0
    plain_ids, plain = predict_topk(model, ev, k=ds.num_entities)
    assert np.all(np.diff(scores, axis=1) <= 0)
    assert scores[0, 0] == pytest.approx(plain[0][plain_ids[0] == 3][0] + 100, rel=1e-5)


def _toy_scores():
    """Rule features of the hand-made graph's test split, top-3 model lists for its two queries and their
    log-probs, and -10 for every history candidate's log-prob."""
    f = rule_features(rule_graph(), "test")
    ids = np.array([[2, 1, 5], [0, 5, 6]])
    logp = np.log(np.array([[0.40, 0.30, 0.1], [0.8, 0.1, 0.05]]))
    return f, ids, logp, np.full(len(f.candidate), -10.0, np.float32)


def test_tune_weights_picks_the_feature_that_fixes_the_ranking():
    # query 0 (target 1): the model prefers 2 by 0.3 nats; pair frequency (1 seen twice, 2 once) should flip it;
    # query 1 (target 0) is already right. History candidates outside the lists carry their own log-probs.
    f, ids, logp, hist_logp = _toy_scores()
    for i, c in enumerate(f.candidate[:f.offsets[1]].tolist()):
        if c in (1, 2):
            hist_logp[i] = logp[0, list(ids[0]).index(c)]
    hist_logp[f.offsets[1]] = logp[1, 0]
    best, h1, trials = tune_weights(ids, logp, f, hist_logp, [1, 0], [frozenset({1}), frozenset({0})],
                                    grid=(0.0, 1.0))
    zero = next(t for t in trials if not any(t["weights"]))
    assert zero["hits@1"] == 0.5 and h1 == 1.0
    only_pf = next(t for t in trials if t["weights"] == [1.0, 0.0, 0.0, 0.0])
    assert only_pf["hits@1"] == 1.0
    only_pr = next(t for t in trials if t["weights"] == [0.0, 1.0, 0.0, 0.0])
    assert only_pr["hits@1"] == 0.5  # recency prefers 3 (seen last), but its model log-prob is -10


def test_time_aware_filter_in_tuning():
    f, ids, logp, hist_logp = _toy_scores()
    # 2 is another true answer at that time: filtered out, so the model alone is already right on query 0
    _, h1, trials = tune_weights(ids, logp, f, hist_logp, [1, 0], [frozenset({1, 2}), frozenset({0})], grid=(0.0,))
    assert h1 == 1.0 and len(trials) == 1


def test_config_errors():
    with pytest.raises(ConfigError, match="weights"):
        RulePriorConfig(weights=[1.0])
    with pytest.raises(ConfigError, match="non-negative"):
        RulePriorConfig(weights=[-1.0, 0, 0, 0])
    with pytest.raises(ConfigError, match="history"):
        RulePriorConfig(history=0)
    assert not RulePriorConfig().enabled and RulePriorConfig(weights=[0, 0, 0.5, 0]).enabled


def test_take_and_concat_keep_each_querys_rows():
    f = rule_features(rule_graph(), "test", length=100)
    both = RuleFeatures.concat([f, f.take(np.array([1, 0]))])
    assert len(both) == 4
    for i, j in enumerate([0, 1, 1, 0]):
        a, b = slice(both.offsets[i], both.offsets[i + 1]), slice(f.offsets[j], f.offsets[j + 1])
        assert both.candidate[a].tolist() == f.candidate[b].tolist()
        assert np.array_equal(both.values[a], f.values[b])


def _reference_hits(ids, logp, f, hist, targets, filters, w):
    """Brute force: every candidate of the list and of the features, filtered ones dropped, first best wins."""
    hits = 0
    for i in range(len(targets)):
        skip = set(filters[i]) - {targets[i]}
        entries = [(int(c), float(s)) for c, s in zip(ids[i], logp[i])]
        entries += [(int(f.candidate[m]), float(hist[m] + f.values[m] @ np.asarray(w)))
                    for m in range(f.offsets[i], f.offsets[i + 1])]
        entries = [(c, s) for c, s in entries if c not in skip]
        if entries:
            best = max(s for _, s in entries)
            hits += next(c for c, s in entries if s == best) == targets[i]
    return hits / len(targets)


@pytest.mark.parametrize("seed", range(5))
def test_tune_weights_matches_brute_force_with_ties_filters_and_empty_rows(seed):
    rng = np.random.default_rng(seed)
    n, k, n_ent = 40, 4, 8
    ids = np.stack([rng.permutation(n_ent)[:k] for _ in range(n)])
    logp = -np.sort(rng.integers(1, 4, size=(n, k)), axis=1).astype(np.float32)  # best first, with ties
    offsets, cand, values, hist = [0], [], [], []
    for i in range(n):
        c = rng.permutation(n_ent)[:rng.integers(0, 4)]  # some queries have no feature rows
        row_lp = dict(zip(ids[i].tolist(), logp[i].tolist()))
        cand += c.tolist()
        values += rng.integers(0, 3, size=(len(c), 3)).tolist()
        hist += [row_lp.get(e, -float(rng.integers(2, 5))) for e in c.tolist()]
        offsets.append(offsets[-1] + len(c))
    f = RuleFeatures(np.asarray(offsets), np.asarray(cand, np.int64), np.asarray(values, np.float32).reshape(-1, 3))
    targets = rng.integers(0, n_ent, size=n)
    filters = [frozenset(rng.permutation(n_ent)[:rng.integers(0, 6)].tolist()) | {int(t)} for t in targets]
    filters[0] = frozenset(range(n_ent))  # every other candidate of query 0 is filtered out
    grids = [[0.0, 1.0], [0.0, 0.5, 2.0], [0.0, 1.0]]
    best, h1, trials = tune_weights(ids, logp, f, np.asarray(hist, np.float32), targets, filters, grids)
    assert len(trials) == 12
    for t in trials:
        assert t["hits@1"] == pytest.approx(_reference_hits(ids, logp, f, hist, targets, filters, t["weights"]))
    assert h1 == max(t["hits@1"] for t in trials) and best == next(t["weights"] for t in trials if t["hits@1"] == h1)
    with pytest.raises(ValueError, match="grids"):
        tune_weights(ids, logp, f, np.asarray(hist, np.float32), targets, filters, [[0.0], [0.0]])
    with pytest.raises(ValueError, match="queries"):
        tune_weights(ids[:5], logp[:5], f, np.asarray(hist, np.float32), targets[:5], filters[:5], grids)
