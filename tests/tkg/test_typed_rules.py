import json
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


def test_recipe_learns_saves_and_tunes_typed_rules(tmp_path):
    cfg = load_config(TKGRunConfig, Path(__file__).resolve().parents[2] / "configs" / "tkg" / "tiny_synthetic.yaml",
                      ["train.epochs=1", "train_splits=[train]", "rules=[pair-recency]",
                       "rule_prior={tune: true, grid: [0, 1], typed: {enabled: true, grids: [[0, 1], [0, 2]]}}"])
    run_dir = run_recipe(cfg, out=tmp_path / "run")
    res = json.loads((run_dir / "results.json").read_text())
    prior = res["rule_prior"]
    assert prior["trials"] == 2**6 and len(prior["weights"]) == 6 and prior["features"][-1] == "typed_rules_length2"
    assert prior["weights"][5] in (0, 2)
    assert res["typed_rules"]["splits"] == ["train"] and res["typed_rules"]["length1_rules"] > 0
    assert (run_dir / "typed_rules.npz").is_file()
    cfg2, ds, table, _ = load_run_model(run_dir)
    loaded = load_run_prior(run_dir, cfg2, ds, table)
    if any(prior["weights"]):
        feats, weights = loaded
        assert weights == prior["weights"] and feats.values.shape[1] == 6
    else:
        assert loaded is None
