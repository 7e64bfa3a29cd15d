"""TOFU metrics: golden values from the official eval logs (every entry of summary.json) and hand examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from modelworks.errors import UserError
from modelworks.unlearn.metrics import (
    SECTIONS,
    forget_quality,
    load_eval_log,
    tofu_metrics,
    truth_ratio,
    truth_ratio_score,
)

COMPONENTS = {"Retain": "retain", "Real Authors": "real_authors", "Real World": "world_facts", "Forget": "forget"}
METRICS = {"Prob": "prob", "ROUGE": "rouge", "TruthRatio": "truth_ratio"}


def _ref(shared_data):
    root = shared_data / "tofu" / "reference_eval"
    summary = json.loads((root / "summary.json").read_text())
    return root, summary


def test_every_summary_entry(shared_data):
    root, summary = _ref(shared_data)
    checked = 0
    for name, entry in summary.items():
        log = load_eval_log(root / f"{name}.json")
        ours = tofu_metrics(log)
        assert round(ours["model_utility"], 4) == entry["model_utility_tofu"], name
        assert round(tofu_metrics(log, variant="meow")["model_utility"], 4) == entry["model_utility_meow_utils_variant"]
        assert len(log["eval_log_forget.json"]["avg_gt_loss"]) == entry["n_forget_eval"]
        for comp, metrics in entry["components_tofu"].items():
            for metric, value in metrics.items():
                assert round(ours[f"{COMPONENTS[comp]}_{METRICS[metric]}"], 4) == value, (name, comp, metric)
                checked += 1
        wd = name.rsplit("_", 1)[1]
        if "forget_quality_vs_retain90_forget10" in entry:  # full_<wd> vs retain90_<wd>
            retain = load_eval_log(root / f"ft_epoch5_lr1e-05_llama2-7b_retain90_{wd}.json")
            fq = tofu_metrics(log, retain)
            assert fq["forget_quality"] == pytest.approx(entry["forget_quality_vs_retain90_forget10"], rel=1e-9)
            assert fq["ks_statistic"] == pytest.approx(entry["ks_stat_vs_retain90"], rel=1e-12)
            checked += 1
        if "forget_quality_vs_retain_wd0.01_same_split" in entry:  # retainNN_wd0 vs retainNN_wd0.01
            other = load_eval_log(root / (name.removesuffix("_wd0") + "_wd0.01.json"))
            fq = tofu_metrics(log, other)["forget_quality"]
            assert fq == pytest.approx(entry["forget_quality_vs_retain_wd0.01_same_split"], rel=1e-9)
            checked += 1
    assert len(summary) == 8 and checked == 8 * 12 + 2 + 3


def test_cli_json_reproduces_full_model(shared_data, cli):
    root, summary = _ref(shared_data)
    entry = summary["ft_epoch5_lr1e-05_llama2-7b_full_wd0.01"]
    res = cli("unlearn", "tofu-metrics", "--model-logs", str(root / "ft_epoch5_lr1e-05_llama2-7b_full_wd0.01.json"),
              "--retain-logs", str(root / "ft_epoch5_lr1e-05_llama2-7b_retain90_wd0.01.json"), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert round(out["model_utility"], 4) == 0.6227 == entry["model_utility_tofu"]
    assert out["forget_quality"] == pytest.approx(1.834066410994743e-21, rel=1e-9)
    assert out["ks_statistic"] == pytest.approx(0.39666666666666667)
    comps = [k for k in out if k.endswith(("_prob", "_rouge", "_truth_ratio"))]
    assert len(comps) == 12


def test_truth_ratio_hand_example():
    # para loss 1, perturbed losses 2 and 4
    r = truth_ratio([1.0], [[2.0, 4.0]])
    assert r[0] == pytest.approx(math.exp(-3) / math.exp(-1))  # geometric mean of perturbed probs
    m = truth_ratio([1.0], [[2.0, 4.0]], variant="meow")
    assert m[0] == pytest.approx((math.exp(-2) + math.exp(-4)) / 2 / math.exp(-1))
    assert m[0] > r[0]  # Jensen: the arithmetic variant is never smaller
    assert truth_ratio_score(r, forget=True) == pytest.approx(math.exp(-2))
    assert truth_ratio_score([4.0], forget=True) == pytest.approx(0.25)
    assert truth_ratio_score(r, forget=False) == pytest.approx(1 - math.exp(-2))
    assert truth_ratio_score([1.5], forget=False) == 0.0


def _section(stats):
    # per-sample statistic exp(mean pert - para) == stats
    idx = [str(i) for i in range(len(stats))]
    return {"avg_paraphrased_loss": dict.fromkeys(idx, 0.0),
            "average_perturb_loss": {i: [math.log(s), math.log(s)] for i, s in zip(idx, stats)}}


def test_ks_hand_example():
    out = forget_quality(_section([1.0, 2.0, 3.0]), _section([4.0, 5.0, 6.0]))
    assert out["ks_statistic"] == pytest.approx(1.0)
    assert out["forget_quality"] == pytest.approx(0.1)  # exact two-sided: 2 / C(6, 3)
    same = forget_quality(_section([1.0, 2.0, 3.0]), _section([1.0, 2.0, 3.0]))
    assert same["ks_statistic"] == 0.0 and same["forget_quality"] == pytest.approx(1.0)


def test_model_utility_is_harmonic_mean_of_nine():
    sec = {"avg_gt_loss": {"0": 0.0}, "avg_paraphrased_loss": {"0": 0.0}, "average_perturb_loss": {"0": [np.log(2.0)]},
           "rougeL_recall": {"0": 0.5}}
    log = {k: sec for k in ("eval_log.json", "eval_real_author_wo_options.json", "eval_real_world_wo_options.json")}
    out = tofu_metrics(log)
    # retain: prob 1, rouge .5, TR 1-0.5; real: prob 1/(1+0.5), rouge .5, TR .5
    vals = [1.0, 0.5, 0.5] + [2 / 3, 0.5, 0.5] * 2
    assert out["model_utility"] == pytest.approx(len(vals) / sum(1 / v for v in vals))


def test_bad_eval_logs(tmp_path, cli):
    bad = tmp_path / "log.json"
    bad.write_text(json.dumps({"eval_log.json": {}}))
    with pytest.raises(UserError, match="log.json: section"):
        load_eval_log(bad)
    res = cli("unlearn", "tofu-metrics", "--model-logs", str(bad), "--json")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "log.json" in res.stderr
    res = cli("unlearn", "tofu-metrics", "--model-logs", str(tmp_path / "missing.json"))
    assert res.returncode == 2 and "not found" in res.stderr


def _log(n=4):
    idx = [str(i) for i in range(n)]
    sec = {"avg_gt_loss": {i: 0.5 + int(i) for i in idx}, "avg_paraphrased_loss": {i: 0.2 * int(i) for i in idx},
           "average_perturb_loss": {i: [1.0 + int(i), 2.0] for i in idx},
           "rougeL_recall": {i: 0.1 * int(i) for i in idx}}
    return {k: json.loads(json.dumps(sec)) for k in SECTIONS}


def test_fields_are_matched_by_index_not_order(tmp_path):
    log = _log()
    other = _log()
    for sec in other.values():  # same data, the keys of one field in reverse order
        sec["avg_paraphrased_loss"] = dict(reversed(sec["avg_paraphrased_loss"].items()))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(log))
    b.write_text(json.dumps(other))
    assert tofu_metrics(load_eval_log(b), load_eval_log(a)) == tofu_metrics(load_eval_log(a), load_eval_log(a))
    assert tofu_metrics(other) == tofu_metrics(log)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s["avg_gt_loss"].update({"1": "abc"}), "field 'avg_gt_loss' index '1': expected a finite number"),
    (lambda s: s["avg_gt_loss"].update({"1": None}), "field 'avg_gt_loss' index '1': expected a finite number"),
    (lambda s: s["rougeL_recall"].update({"2": float("nan")}), "field 'rougeL_recall' index '2': expected a finite"),
    (lambda s: s["avg_paraphrased_loss"].update({"0": True}), "field 'avg_paraphrased_loss' index '0': expected"),
    (lambda s: s["average_perturb_loss"].update({"3": [1.0]}), "field 'average_perturb_loss' index '3' has 1 values, index '0' has 2"),
    (lambda s: s["average_perturb_loss"].update({"3": []}), "field 'average_perturb_loss' index '3': expected a non-empty list of finite"),
    (lambda s: s["average_perturb_loss"].update({"3": 1.5}), "field 'average_perturb_loss' index '3': expected a non-empty list of finite"),
    (lambda s: s["average_perturb_loss"].update({"3": [1.0, None]}), "field 'average_perturb_loss' index '3': expected a non-empty list"),
    (lambda s: s["rougeL_recall"].pop("2"), "field 'rougeL_recall' lacks index '2'"),
    (lambda s: s["rougeL_recall"].update({"9": 0.5}), "field 'rougeL_recall' has index '9'"),
], ids=["string", "null", "nan", "bool", "ragged", "empty_list", "scalar_perturb", "null_in_list", "missing_index",
        "extra_index"])
def test_bad_values_name_file_section_field_index(tmp_path, edit, message):
    log = _log()
    edit(log["eval_real_world_wo_options.json"])
    p = tmp_path / "log.json"
    p.write_text(json.dumps(log))  # NaN is written as the (non-standard) token NaN, as Python writes it
    with pytest.raises(UserError, match=f"log.json: section 'eval_real_world_wo_options.json' {message}"):
        load_eval_log(p)


def test_bad_value_cli_one_line(tmp_path, cli):
    log = _log()
    log["eval_log_forget.json"]["avg_gt_loss"]["0"] = "abc"
    p = tmp_path / "log.json"
    p.write_text(json.dumps(log))
    res = cli("unlearn", "tofu-metrics", "--model-logs", str(p), "--retain-logs", str(p), "--json")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        f"error: {p}: section 'eval_log_forget.json' field 'avg_gt_loss' index '0': expected a finite number, "
        "got \"abc\""]
