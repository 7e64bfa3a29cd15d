import json
from pathlib import Path

import numpy as np
import pytest

from modelworks.config import load_config
from modelworks.errors import ConfigError, UserError
from modelworks.tkg.recipe import TKGRunConfig, run_recipe
from modelworks.tkg.synthetic import SyntheticConfig, generate_synthetic

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "tkg").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    cfg = load_config(TKGRunConfig, path)
    assert cfg.model.history > 0


def test_configs_exist():
    assert {p.name for p in CONFIGS} >= {"icews14_cpu.yaml", "tiny_synthetic.yaml"}


def test_config_validation():
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config(TKGRunConfig, None, ["name=x"], defaults={"data": {}})
    with pytest.raises(ConfigError, match="eval_split"):
        load_config(TKGRunConfig, CONFIGS[0], ["eval_split=valid", "train_splits=[train, valid]", "rule_prior={tune: false}"])
    with pytest.raises(ConfigError, match="reverse"):
        load_config(TKGRunConfig, CONFIGS[0], ["model.reverse=sideways"])


def test_synthetic_generator_is_seeded_and_extrapolative():
    a, b = generate_synthetic(SyntheticConfig(seed=3)), generate_synthetic(SyntheticConfig(seed=3))
    c = generate_synthetic(SyntheticConfig(seed=4))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["train"], c["train"])
    assert a["train"][:, 3].max() < a["valid"][:, 3].min() <= a["valid"][:, 3].max() < a["test"][:, 3].min()


def test_tiny_recipe_end_to_end(tmp_path):
    cfg = load_config(TKGRunConfig, Path(__file__).resolve().parents[2] / "configs" / "tkg" / "tiny_synthetic.yaml",
                      ["train.epochs=3", "ablations=[{name: no-aug, augment: false}]",
                       "ablation_train={epochs: 1, batch_size: 128, lr: 0.005, max_examples_per_epoch: 1024}",
                       "rules=[pair-recency, entity-frequency]"])
    run_dir = run_recipe(cfg, out=tmp_path / "run")
    res = json.loads((run_dir / "results.json").read_text())
    m = res["model"]
    assert m["queries"] == res["dataset"]["test"]["queries_both_directions"]
    for setting in ("raw", "time_aware_filtered"):
        assert 0 <= m[setting]["hits@1"] <= m[setting]["hits@3"] <= m[setting]["hits@10"] <= 1
    assert m["time_aware_filtered"]["hits@1"] >= m["raw"]["hits@1"]
    # it learned: far above chance (1/60) and at least as good as the weakest rule
    worst_rule = min(r["time_aware_filtered"]["hits@1"] for r in res["rules"].values())
    assert m["time_aware_filtered"]["hits@1"] > max(0.2, worst_rule)
    losses = [row["loss"] for row in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
              if "loss" in row]
    assert losses[-1] < losses[0]
    assert [a["name"] for a in res["ablations"]] == ["full model (ablation budget)", "no-aug"]
    report = (run_dir / "report.md").read_text()
    assert "Time-aware filtered" in report and "Raw" in report and "pair-recency" in report
    preds = (run_dir / "predictions.jsonl").read_text().splitlines()
    assert len(preds) == m["queries"] and len(json.loads(preds[0])["top10"]) == 10
    assert (run_dir / "model.pt").is_file() and (run_dir / "config.yaml").is_file()
    # training went through modelworks.train.fit, logging into the run (and each ablation into its own folder)
    assert res["train"]["engine"] == "modelworks.train.fit" and (run_dir / "train_results.json").is_file()
    assert (run_dir / "ablations" / "01" / "metrics.jsonl").is_file()


def test_tiny_recipe_tunes_the_rule_prior_on_valid(tmp_path):
    cfg = load_config(TKGRunConfig, Path(__file__).resolve().parents[2] / "configs" / "tkg" / "tiny_synthetic.yaml",
                      ["train.epochs=2", "train_splits=[train]", "rule_prior={tune: true, grid: [0, 1]}",
                       "rules=[pair-recency]"])
    res = json.loads((run_recipe(cfg, out=tmp_path / "run") / "results.json").read_text())
    prior = res["rule_prior"]
    assert prior["tuned_on"] == "valid" and prior["trials"] == 2**4
    assert prior["valid_filtered_hits@1"] >= prior["valid_filtered_hits@1_model_alone"]
    if any(prior["weights"]):  # the prior was used: both numbers are reported
        assert res["model_without_prior"]["queries"] == res["model"]["queries"]
    else:
        assert res["model_without_prior"] is None


def test_rule_prior_must_win_over_a_barely_trained_model(tmp_path):
    # one step of 128 examples at lr 1e-5 leaves the model near its initialisation; the synthetic data is
    # driven by recency/periodic patterns, so the rule prior has to raise valid H@1 with non-zero weights
    # (seeded run: valid H@1 0.518 with weights [0, 1, 0, 1] vs 0.456 for the model alone)
    cfg = load_config(TKGRunConfig, Path(__file__).resolve().parents[2] / "configs" / "tkg" / "tiny_synthetic.yaml",
                      ["train.epochs=1", "train.max_examples_per_epoch=128", "train.lr=0.00001", "train_splits=[train]",
                       "rule_prior={tune: true, grid: [0, 1]}", "rules=[pair-recency]"])
    res = json.loads((run_recipe(cfg, out=tmp_path / "run") / "results.json").read_text())
    prior = res["rule_prior"]
    assert prior["tuned_on"] == "valid" and prior["trials"] == 2**4
    assert any(w > 0 for w in prior["weights"])
    assert prior["valid_filtered_hits@1"] > prior["valid_filtered_hits@1_model_alone"]
    # the prior was used on the test split, and both numbers are reported (test is not required to improve:
    # only valid decides)
    without = res["model_without_prior"]
    assert without is not None and without["queries"] == res["model"]["queries"]
    assert res["model"]["time_aware_filtered"] != without["time_aware_filtered"]


def test_rule_prior_tuning_needs_valid_held_out():
    with pytest.raises(ConfigError, match="rule_prior.tune"):
        load_config(TKGRunConfig, CONFIGS[0], ["train_splits=[train, valid]", "rule_prior={tune: true}"])


@pytest.mark.parametrize(("override", "ablation", "changes", "report", "weight"), [
    ("model.name_features=true", "{name: no names, name_features: false}", {"name_features": False},
     "entity-name features", "name_proj.weight"),  # the name vectors are recomputed on reload, the projection loaded
    ("model.history_features=50", "{name: no history features, history_features: 0}", {"history_features": 0},
     "history features over the last 50 facts", "feat_weight.weight"),
])
def test_optional_features_run_ablate_and_reload(tmp_path, monkeypatch, override, ablation, changes, report, weight):
    import torch

    from modelworks.tkg.model import _batch, model_examples
    from modelworks.tkg.recipe import load_run_model

    monkeypatch.setenv("MODELWORKS_CACHE", str(tmp_path / "cache"))
    cfg = load_config(TKGRunConfig, Path(__file__).resolve().parents[2] / "configs" / "tkg" / "tiny_synthetic.yaml",
                      ["train.epochs=1", override, "rules=[pair-recency]", f"ablations=[{ablation}]",
                       "ablation_train={epochs: 1, batch_size: 128, max_examples_per_epoch: 256}"])
    run_dir = run_recipe(cfg, out=tmp_path / "run")
    res = json.loads((run_dir / "results.json").read_text())
    assert res["ablations"][1]["changes"] == changes
    assert report in (run_dir / "report.md").read_text()
    _, ds, table, model = load_run_model(run_dir)
    assert weight in model.state_dict()
    ex = model_examples(ds, "test", model.cfg, table)
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    with torch.no_grad():
        logp = model(*_batch(ex, np.arange(5)))
    assert logp.argmax(1).tolist() == [r["top10"][0] for r in rows[:5]]


TINY = Path(__file__).resolve().parents[2] / "configs" / "tkg" / "tiny_synthetic.yaml"


@pytest.mark.parametrize("override,needle", [
    ("data.path=NOPE", "key 'data.path' is set together with 'synthetic'"),
    ("ablations=[{name: x, history: -1}]", "key 'ablations[0].history' must be >= 1, got -1"),
    ("ablations=[{name: x}, {name: y, reverse: sideways}]", "key 'ablations[1].reverse'"),
    ("rule_history=-5", "key 'rule_history' must be >= 0"),
    ("rule_prior.history=-1", "key 'rule_prior.history' must be >= 1, got -1"),
    ("train.max_minutes=-1", "key 'train.max_minutes' must be > 0, got -1"),
    ("train.max_minutes=0", "key 'train.max_minutes' must be > 0, got 0"),
    ("train.max_examples_per_epoch=-1", "key 'train.max_examples_per_epoch' must be >= 0"),
    ("ablation_train={max_minutes: -1}", "key 'ablation_train.max_minutes'"),
])
def test_config_errors_name_the_file_and_dotted_key(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(TKGRunConfig, TINY, [override])
    msg = str(err.value)
    assert msg.startswith(f"{TINY}: ") and needle in msg and "\n" not in msg and "data.data" not in msg


def test_missing_data_fails_before_the_run_folder_exists(tmp_path):
    missing = load_config(TKGRunConfig, TINY, ["data={path: NOPE, synthetic: null}"])
    with pytest.raises(UserError, match="key 'data.path': TKG data folder not found: NOPE"):
        run_recipe(missing, out=tmp_path / "run")
    with pytest.raises(UserError, match="data directory not found"):
        run_recipe(load_config(TKGRunConfig, TINY), out=tmp_path / "run", data_dir=str(tmp_path / "nope"))
    assert not (tmp_path / "run").exists()
