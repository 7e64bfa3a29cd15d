import json
import math
from pathlib import Path

import numpy as np
import pytest

from modelworks.config import load_config
from modelworks.errors import ConfigError, UserError
from modelworks.tkg.history import FactTable
from modelworks.tkg.recipe import TKGRunConfig, load_run_model, load_run_prior, run_recipe
from modelworks.tkg.rule_prior import RulePriorConfig, prior_features, rule_features
from modelworks.tkg.typed_rules import TypedRules, TypedRulesConfig, _noisy_or, learn_typed_rules, typed_rule_features

from ._graphs import make

R2 = 6  # relation' range of the graph below (3 relations, both directions)


def typed_graph():
    """Relations 0 visit, 1 meet, 2 praise. Train (time order):
    t0 0 meets 1; t1 0 visits 1; t2 2 meets 3, 3 praises 4; t3 2 visits 4. Test t5: 2 visits 1."""
    train = [(0, 1, 1, 0), (0, 0, 1, 1), (2, 1, 3, 2), (3, 2, 4, 2), (2, 0, 4, 3)]
    return make(train, [(5, 1, 6, 4)], [(2, 0, 1, 5)], n_ent=7)


def learned(shrink=0.0):
    ds = typed_graph()
    table = FactTable.from_dataset(ds)
    return ds, table, learn_typed_rules(ds, table, TypedRulesConfig(shrink=shrink))


def test_length1_confidences_count_hits_over_bodies():
    _, _, rules = learned()
    # visit queries with history: (0, visit, ?, t1) sees "0 meets 1" (hit: 1), (2, visit, ?, t3) sees "2 meets 3" (miss)
    assert rules.conf1[0, 1] == pytest.approx(0.5)
    # inverse visit query (1, visit^-1, ?, t1) sees the inverse of "0 meets 1" (r1 = 1 + 3): hit
    assert rules.conf1[3, 4] == pytest.approx(1.0)
    # inverse visit query (4, visit^-1, ?, t3) sees "4 praised-by 3" (r1 = 2 + 3): miss
    assert rules.conf1[3, 5] == 0.0
    assert rules.conf1[0, 0] == 0.0  # never a body: no confidence
    _, _, shrunk = learned(shrink=1.0)
    assert shrunk.conf1[0, 1] == pytest.approx(1 / 3) and shrunk.conf1[3, 4] == pytest.approx(1 / 2)


def test_length2_paths_run_forward_in_time_and_never_back():
    _, _, rules = learned()
    code = lambda rp, r1, r2: (rp * R2 + r1) * R2 + r2  # noqa: E731
    # (2, visit, ?, t3): 2 -meet-> 3 (t2) -praise-> 4 (t2): the answer
    assert rules.length2(np.array([code(0, 1, 2)])).tolist() == [1.0]
    # (4, visit^-1, ?, t3): 4 -praised-by-> 3 (t2) -met-by-> 2 (t2): the answer
    assert rules.length2(np.array([code(3, 5, 4)])).tolist() == [1.0]
    # paths back to the query entity (0 -meet-> 1 -met-by-> 0) are not rules; unknown codes read 0
    assert len(rules.keys2) == 2
    assert rules.length2(np.array([code(0, 1, 4), 10**9])).tolist() == [0.0, 0.0]


def test_features_of_a_test_query():
    ds, table, rules = learned()
    f = typed_rule_features(ds, "test", table, rules)
    assert len(f) == 2  # (2, visit, ?, t5) and (1, visit^-1, ?, t5)
    got = {c: v.tolist() for c, v in zip(f.candidate[f.offsets[0]:f.offsets[1]].tolist(),
                                          f.values[f.offsets[0]:f.offsets[1]])}
    # 3: "2 meets 3" (length 1, confidence 0.5); 4: "2 visits 4" has confidence 0, but 2 -meet-> 3 -praise-> 4 is
    # a length-2 rule of confidence 1 (capped at 0.999 so that log(1 - c) stays finite)
    assert got == {3: pytest.approx([0.5, 0.0]), 4: pytest.approx([0.0, 0.999])}
    # 1 visited-by 0 and met-by 0: rules r1 = 4 (confidence 1) and r1 = 3 (never a body) reach 0
    assert f.candidate[f.offsets[1]:f.offsets[2]].tolist() == [0]
    assert f.values[f.offsets[1]].tolist() == pytest.approx([0.999, 0.0])


def test_noisy_or_combines_the_rules_that_reach_a_candidate():
    assert _noisy_or(np.array([0, 0, 1]), np.array([0.5, 0.5, 0.2]), 2).tolist() == pytest.approx([0.75, 0.2])


def test_prior_features_join_history_and_typed_columns(tmp_path):
    ds, table, rules = learned()
    cfg = RulePriorConfig(typed=TypedRulesConfig(enabled=True))
    assert cfg.feature_names[-2:] == ("typed_rules_length1", "typed_rules_length2") and len(cfg.all_weights) == 6
    both = prior_features(ds, "test", table, cfg, rules)
    base = rule_features(ds, "test", table, cfg.history)
    assert both.values.shape[1] == 6 and len(both) == len(base)
    row = dict(zip(both.candidate[:both.offsets[1]].tolist(), both.values[:both.offsets[1]].tolist()))
    assert row[4][4:] == pytest.approx([0.0, 0.999]) and row[4][2] > 0  # 4 is also in 2's entity history
    with pytest.raises(ValueError, match="typed rules"):
        prior_features(ds, "test", table, cfg, None)
    # saved and loaded unchanged
    back = TypedRules.load(rules.save(tmp_path / "rules.npz"))
    assert np.array_equal(back.conf1, rules.conf1) and np.array_equal(back.keys2, rules.keys2)
    with pytest.raises(UserError, match="typed-rules file"):
        TypedRules.load(tmp_path / "missing.npz")


def test_config_errors():
    with pytest.raises(ConfigError, match="weights"):
        TypedRulesConfig(weights=[1.0])
    with pytest.raises(ConfigError, match="grids"):
        TypedRulesConfig(grids=[[0.0], []])
    with pytest.raises(ConfigError, match="hop"):
        TypedRulesConfig(hop=0)
    with pytest.raises(ConfigError, match="shrink"):
        TypedRulesConfig(shrink=-1)
    assert RulePriorConfig(typed=TypedRulesConfig(enabled=True, weights=[0, 1])).enabled


TINY = Path(__file__).resolve().parents[2] / "configs" / "tkg" / "tiny_synthetic.yaml"


def test_recipe_learns_saves_and_tunes_typed_rules(tmp_path):
    cfg = load_config(TKGRunConfig, TINY, ["train.epochs=1", "train_splits=[train]", "rules=[pair-recency]",
                                           "rule_prior={tune: true, grid: [0, 1], typed: {enabled: true, "
                                           "grids: [[0, 1], [0, 2]]}}"])
    res = json.loads((run_recipe(cfg, out=tmp_path / "run") / "results.json").read_text())
    prior = res["rule_prior"]
    assert prior["trials"] == 2**6 and prior["features"][-2:] == ["typed_rules_length1", "typed_rules_length2"]
    assert prior["weights"][:4] in ([a, b, c, d] for a in (0, 1) for b in (0, 1) for c in (0, 1) for d in (0, 1))
    assert prior["weights"][4] in (0, 1) and prior["weights"][5] in (0, 2) and len(prior["weights"]) == 6
    assert prior["valid_filtered_hits@1"] >= prior["valid_filtered_hits@1_model_alone"]
    assert res["typed_rules"]["splits"] == ["train"] and res["typed_rules"]["length1_rules"] > 0


def test_a_finished_runs_prior_is_applied_as_it_ran(tmp_path):
    cfg = load_config(TKGRunConfig, TINY, ["train.epochs=1", "train_splits=[train]", "rules=[pair-recency]",
                                           "rule_prior={weights: [0, 1, 0, 0], typed: {enabled: true, "
                                           "weights: [1, 1]}}"])
    run_dir = run_recipe(cfg, out=tmp_path / "run")
    res = json.loads((run_dir / "results.json").read_text())
    assert res["rule_prior"]["weights"] == [0, 1, 0, 0, 1, 1] and res["rule_prior"]["tuned_on"] is None
    cfg2, ds, table, _ = load_run_model(run_dir)
    feats, weights = load_run_prior(run_dir, cfg2, ds, table)
    saved = TypedRules.load(run_dir / "typed_rules.npz")
    want = prior_features(ds, "test", table, cfg2.rule_prior, saved)
    assert weights == [0, 1, 0, 0, 1, 1] and feats.values.shape[1] == 6
    assert np.array_equal(feats.candidate, want.candidate) and np.array_equal(feats.values, want.values)
    assert feats.values[:, 4:].any()  # the typed columns are there and non-empty
    # bad run folders: one-line errors naming the file and field
    results = run_dir / "results.json"
    results.write_text(json.dumps({**res, "rule_prior": {"weights": [0, 1, 0, 0]}}))
    with pytest.raises(UserError, match=r"results.json: field 'rule_prior.weights' has 4 numbers"):
        load_run_prior(run_dir, cfg2, ds, table)
    results.write_text(json.dumps({**res, "rule_prior": {"weights": ["a"]}}))
    with pytest.raises(UserError, match="must be a list of numbers"):
        load_run_prior(run_dir, cfg2, ds, table)
    results.write_text(json.dumps(res))
    npz = run_dir / "typed_rules.npz"
    npz.write_bytes(npz.read_bytes()[:100])  # truncated
    with pytest.raises(UserError, match="typed_rules.npz: not a typed-rules file"):
        load_run_prior(run_dir, cfg2, ds, table)
    npz.unlink()
    with pytest.raises(UserError, match="typed_rules.npz: no typed-rules file"):
        load_run_prior(run_dir, cfg2, ds, table)


def test_rules_and_features_see_only_the_past():
    ds, table, rules = learned()
    # other valid / test facts leave the rules (counted on train) unchanged
    other = make(typed_graph().train, [(1, 2, 0, 4)], [(0, 0, 4, 5), (2, 0, 1, 5)], n_ent=7)
    again = learn_typed_rules(other, FactTable.from_dataset(other), TypedRulesConfig(shrink=0.0))
    assert np.array_equal(again.conf1, rules.conf1) and np.array_equal(again.keys2, rules.keys2)
    # a later test fact (t = 6, touching the same entities) leaves the features of the t = 5 queries unchanged
    later = make(typed_graph().train, typed_graph().valid, [(2, 0, 1, 5), (2, 1, 1, 6), (1, 2, 2, 6)], n_ent=7)
    f5 = typed_rule_features(ds, "test", table, rules)
    f6 = typed_rule_features(later, "test", FactTable.from_dataset(later), rules)
    n = f5.offsets[-1]
    assert len(f6) == 6 and np.array_equal(f6.offsets[:3], f5.offsets)
    assert np.array_equal(f6.candidate[:n], f5.candidate) and np.array_equal(f6.values[:n], f5.values)


def test_decay_weighs_each_grounding_by_its_age():
    ds, table, rules = learned()
    assert ds.time_step == 1
    rules.decay = True
    f = typed_rule_features(ds, "test", table, rules)
    got = {c: v.tolist() for c, v in zip(f.candidate[f.offsets[0]:f.offsets[1]].tolist(),
                                          f.values[f.offsets[0]:f.offsets[1]])}
    # t = 5: "2 meets 3" is 3 steps old (0.5 / log2 4); the path to 4 ends with "3 praises 4", also at t = 2
    assert got == {3: pytest.approx([0.25, 0.0]), 4: pytest.approx([0.0, 0.5])}  # decayed before the 0.999 cap
    # "0 meets 1" (t = 0), seen from 1: confidence 1, 5 steps old
    assert f.values[f.offsets[1]].tolist() == pytest.approx([1 / math.log2(6), 0.0], rel=1e-4)
