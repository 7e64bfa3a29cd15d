"""MLLMGuard benchmark: the CPU safety judge vs human majority, and the mock pipeline's wall time.

    .venv/bin/python benchmarks/guard_bench.py [--config configs/guard/judge.yaml] [--skip-judge]

1. Trains the judge (configs/guard/judge.yaml) on the HarmBench text dev file with 30% of the
   BEHAVIOURS held out (random.Random(0) over sorted behaviour ids), evaluates on that held-out part
   beside the other judges' verdicts on the same items, and also on the multimodal dev file (a
   different distribution: MLLM answers to image+text attacks; never trained on).
2. Times `modelworks guard eval --config configs/guard/mock.yaml` (the quickstart).

Prints JSON and rewrites the "guard" section of docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load() -> str:
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# Feature-set / classifier variants compared by grouped CV on the training behaviours only (the held-out
# behaviours are not looked at to choose); the config's own settings are one of them.
VARIANTS = {
    "base (v1: embeddings + cosines + markers)": {"feature_groups": ["base"]},
    "base + content": {"feature_groups": ["base", "content"]},
    "base + refusal + relevance + content": {"feature_groups": ["base", "refusal", "relevance", "content"]},
    "base + pair": {"feature_groups": ["base", "pair"]},
    "compact: refusal + relevance + content (logreg)": {"feature_groups": ["refusal", "relevance", "content"]},
    "compact: refusal + relevance + content (gbdt)": {"feature_groups": ["refusal", "relevance", "content"],
                                                      "classifier": "gbdt"},
}


def variant_cv(cfg, train: list[dict]) -> dict:
    """Grouped 5-fold CV accuracy (best over the config's C grid) of each variant on ``train``."""
    import dataclasses

    import numpy as np

    from modelworks.guard.judge import HarmJudge, grouped_cv
    from modelworks.guard.judge_data import behaviour_key

    y = np.array([int(it["_label"]) for it in train])
    groups = [behaviour_key(it) for it in train]
    out = {}
    for name, over in VARIANTS.items():
        vcfg = dataclasses.replace(cfg, **over)
        t0 = time.perf_counter()
        x = HarmJudge(vcfg).features(train)
        by_c = grouped_cv(x, y, groups, vcfg.C_grid or [vcfg.C], vcfg.seed, classifier=vcfg.classifier)
        best = max(by_c, key=lambda c: by_c[c])
        out[name] = {"overrides": over, "cv_accuracy": by_c[best], "C": best if vcfg.classifier == "logreg" else None,
                     "cv_accuracy_by_C": by_c, "features": int(x.shape[1]), "seconds": round(time.perf_counter() - t0, 1)}
    return out


def extra_data_cv(cfg, train: list[dict], extra: list[dict]) -> dict:
    """Grouped CV accuracy by C on ``train`` (the same folds), text items only vs. ``extra`` (the multimodal dev items,
    whose behaviours are disjoint from the text ones) added to every fitting fold; evaluation folds hold text only."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    from modelworks.guard.judge import HarmJudge, make_classifier
    from modelworks.guard.judge_data import behaviour_key

    judge = HarmJudge(cfg)
    x, xe = judge.features(train), judge.features(extra)
    y = np.array([int(it["_label"]) for it in train])
    ye = np.array([int(it["_label"]) for it in extra])
    folds = list(GroupKFold(5).split(x, y, [behaviour_key(it) for it in train]))
    out = {}
    for C in cfg.C_grid or [cfg.C]:
        base, more = [], []
        for tr, te in folds:
            clf = make_classifier(cfg.classifier, C, cfg.seed).fit(x[tr], y[tr])
            base.append(float((clf.predict(x[te]) == y[te]).mean()))
            clf = make_classifier(cfg.classifier, C, cfg.seed).fit(np.r_[x[tr], xe], np.r_[y[tr], ye])
            more.append(float((clf.predict(x[te]) == y[te]).mean()))
        out[float(C)] = {"text_only": float(np.mean(base)), "plus_multimodal": float(np.mean(more))}
    return {"by_C": out, "extra_items": len(extra)}


MARK = ".guard_bench"  # written into the folders this benchmark makes, so a rerun replaces only its own


def _replace_own(folder: Path) -> None:
    """Remove a folder this benchmark made in an earlier run (it holds MARK), so a rerun measures afresh instead of
    resuming or being refused; any other folder is left alone (the run then refuses a non-empty one)."""
    if (folder / MARK).is_file():
        shutil.rmtree(folder)


def _mark(folder: Path) -> None:
    (folder / MARK).write_text("made by benchmarks/guard_bench.py; replaced when it runs again\n", encoding="utf-8")


def judge_bench(config: Path, out: Path, choose: bool = True) -> dict:
    import dataclasses

    from modelworks.config import load_config
    from modelworks.guard.judge import HarmJudge, HarmJudgeConfig
    from modelworks.guard.judge_data import read_harm_items, split_by_behaviour
    from modelworks.guard.judge_eval import evaluate_items, train_judge_cli
    from modelworks.paths import data_path

    text = data_path("safety_judge", "harmbench_cls_val_text_dev.jsonl")
    mm = data_path("safety_judge", "harmbench_cls_val_multimodal_dev.jsonl")
    cfg = load_config(HarmJudgeConfig, config)
    load_before = _load()
    variants = {}
    if choose:  # CV on the training behaviours only; the winner is then trained once and scored on held-out once
        train, _ = split_by_behaviour(read_harm_items(text), 0.3, cfg.seed)
        variants = variant_cv(cfg, train)
        best = max(variants, key=lambda k: variants[k]["cv_accuracy"])
        cfg = dataclasses.replace(cfg, **variants[best]["overrides"])
    extra = extra_data_cv(cfg, train, read_harm_items(mm)) if choose else None
    _replace_own(out / "judge")
    t0 = time.perf_counter()
    result = train_judge_cli(text, out / "judge", cfg, holdout=0.3)
    _mark(out / "judge")
    total = time.perf_counter() - t0
    judge = HarmJudge.load(out / "judge")
    mm_items = read_harm_items(mm)
    mm_eval = evaluate_items(judge.predict(mm_items), mm_items)
    try:
        shown = str(config.resolve().relative_to(REPO))
    except ValueError:
        shown = str(config)
    return {"train_and_eval_seconds": round(total, 1), "train_seconds": result["train_seconds"],
            "train_items": result["train_items"], "heldout": result["heldout"], "multimodal_dev": mm_eval,
            "C": result["C"], "cv_accuracy_by_C": result["cv_accuracy_by_C"], "variants": variants,
            "extra_data_cv": extra,
            "chosen": {"feature_groups": cfg.feature_groups, "classifier": cfg.classifier},
            "embedding_cache": os.environ.get("MODELWORKS_CACHE", "~/.cache/modelworks") + "/embeddings",
            "config": shown, "load_average_before": load_before, "load_average_after": _load()}


def pipeline_bench(out: Path) -> dict:
    from modelworks.config import load_config
    from modelworks.guard.pipeline import EvalConfig, run_eval

    cfg = load_config(EvalConfig, REPO / "configs" / "guard" / "mock.yaml")
    _replace_own(out / "pipeline")  # a finished pipeline folder would be resumed: ~0 s, not a measurement
    t0 = time.perf_counter()
    res = run_eval(cfg, out / "pipeline")
    _mark(out / "pipeline")
    secs = time.perf_counter() - t0
    m = res["metrics"]
    return {"seconds": round(secs, 1), "samples": m["n"], "overall": m["overall"]}


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}"


def finetune_lines(f: dict) -> list[str]:
    """The fine-tuned heads' CV table (benchmarks/guard_judge_finetune_cv.py's JSON)."""
    from modelworks.report import markdown_table

    base = f["features_head"]["cv_accuracy"]
    rows = [[" ".join(f"{k}={v}" for k, v in r["overrides"].items()), str(r["frozen_layers"]), str(r["trained_layers"]),
             str(r["max_length"]), _pct(r["cv_accuracy"]), _pct(r["mean_with_features_head"]), str(r["seconds"])]
            for r in f["finetune"]]
    best = max(max(r["cv_accuracy"], r["mean_with_features_head"]) for r in f["finetune"])
    verdict = ("below" if best < base + 0.015 else "at or above")
    st = f["finetune"][0]["settings"]
    if any(r["settings"] != st for r in f["finetune"]):
        raise SystemExit("error: --finetune-cv: the variants differ in settings the text states once "
                         f"({', '.join(st)}); give each its own file")
    return [f"Fine-tuned encoder (`head: finetune`: the pair (behaviour [+ context] cut to {st['behaviour_tokens']} "
            "tokens, generation) through the encoder, the layers above `frozen_layers` and a linear head trained with "
            f"class-balanced cross entropy, {st['epochs']} epochs, lr {st['lr']}, head lr {st['head_lr']}, batch "
            f"{st['batch_size']}), same folds, and the mean of each one's probability "
            f"with the features head's (C = {f['features_head']['C']}, CV {_pct(base)}%). Command: "
            f"`{f['command']}` ({f['wall_seconds']} s wall, load average {f['load_average_before']} at the start). "
            "Rule fixed before these runs: a fine-tuned head (or the mean) replaces the features head only at "
            f"+1.5 points of CV; the best is {_pct(best)}%, {verdict} {_pct(base + 0.015)}%.", "",
            markdown_table(["overrides", "frozen layers", "trained layers", "max tokens", "CV accuracy %",
                            "mean with features head %", "seconds"], rows), ""]


def markdown(res: dict, command: str) -> str:
    from modelworks.report import markdown_table

    lines = ["## guard (MLLMGuard)", "", f"Command: `{command}`", "",
             f"Machine: {platform.machine()} CPU, 2 cores (load averages are given beside each number; timings "
             "are wall-clock, so they grow with the load).", ""]
    if "judge" in res:
        j = res["judge"]
        h = j["heldout"]
        lines += [
            "### CPU safety judge vs the human majority (HarmBench classifier validation set)",
            "",
            f"Trained on {j['train_items']} items of `safety_judge/harmbench_cls_val_text_dev.jsonl` (70% of the "
            f"behaviours), evaluated on the other {h['n']} items (30% of the behaviours, split with "
            "random.Random(0) over sorted behaviour ids). Config: `" + j["config"] + "`.",
            "",
        ]
        if j.get("variants"):
            lines += ["Protocol: every variant below is scored by 5-fold grouped CV (GroupKFold over behaviours) on "
                      "the training behaviours only, best over the config's C grid; the variant with the best CV "
                      "accuracy is then trained on all training items and scored once on the held-out behaviours. "
                      "Seconds include computing the features (embedding whatever the cache lacks).", ""]
            vrows = [[name, ", ".join(v["overrides"]["feature_groups"]), v["overrides"].get("classifier", "logreg"),
                      str(v["features"]), "" if v["C"] is None else str(v["C"]), _pct(v["cv_accuracy"]),
                      str(v["seconds"])] for name, v in j["variants"].items()]
            lines += [markdown_table(["variant", "feature groups", "classifier", "features", "C", "CV accuracy %",
                                      "seconds"], vrows), ""]
        if j.get("finetune_cv"):
            lines += finetune_lines(j["finetune_cv"])
        if j.get("extra_data_cv"):
            e = j["extra_data_cv"]
            by = ", ".join(f"{c}: {_pct(v['text_only'])}% → {_pct(v['plus_multimodal'])}%" for c, v in e["by_C"].items())
            best0 = max(v["text_only"] for v in e["by_C"].values())
            best1 = max(v["plus_multimodal"] for v in e["by_C"].values())
            lines += [f"More training data, same folds and chosen features: adding the {e['extra_items']} multimodal dev "
                      "items (other behaviours, the same human-majority label) to every fitting fold, text items only "
                      f"in the evaluation folds, gives by C {by}; best {_pct(best0)}% → {_pct(best1)}%"
                      + (" (below the +1.5-point rule fixed before this was run), so the judge is trained on the text "
                         "items only." if best1 - best0 < 0.015 else " (+1.5 points or more: a candidate for the next "
                         "judge; this run still trains on the text items only)."), ""]
        lines += [
            f"Chosen: feature groups {', '.join(j['chosen']['feature_groups'])}, classifier "
            f"{j['chosen']['classifier']}, C = {j.get('C')} (CV accuracy by C on the training behaviours: "
            + ", ".join(f"{c}: {_pct(a)}%" for c, a in (j.get("cv_accuracy_by_C") or {}).items()) + "). "
            f"Final train time {j['train_seconds']} s on {j['train_items']} items with the embedding cache at "
            f"`{j['embedding_cache']}` as the CV above left it (load average {j['load_average_before']} → "
            f"{j['load_average_after']}).",
            "",
        ]
        rows = [["ours (MiniLM, CPU)", _pct(h["accuracy"]), _pct(h["f1"]), f"{h['kappa']:.3f}", h["n"]]]
        for name, v in sorted(h["other_judges"].items(), key=lambda kv: -kv[1]["accuracy"]):
            rows.append([name, _pct(v["accuracy"]), _pct(v["f1"]), f"{v['kappa']:.3f}", v["n"]])
        rows.append(["majority class", _pct(h["majority_baseline"]), "", "", h["n"]])
        lines += [markdown_table(["judge (same held-out items)", "accuracy %", "F1 %", "kappa", "n"], rows), ""]
        cats = ", ".join(f"{c} {_pct(v['accuracy'])}% (n={v['n']})" for c, v in h["by_category"].items())
        lines += [f"Ours by functional category on the held-out items: {cats}.", ""]
        mm = j["multimodal_dev"]
        rows = [["ours (trained on text only)", _pct(mm["accuracy"]), _pct(mm["f1"]), f"{mm['kappa']:.3f}", mm["n"]]]
        for name, v in sorted(mm["other_judges"].items(), key=lambda kv: -kv[1]["accuracy"]):
            rows.append([name, _pct(v["accuracy"]), _pct(v["f1"]), f"{v['kappa']:.3f}", v["n"]])
        lines += ["Multimodal dev file (MLLM answers; not trained on):", "",
                  markdown_table(["judge", "accuracy %", "F1 %", "kappa", "n"], rows), ""]
        target = "met" if h["accuracy"] >= 0.88 else "NOT met"
        lines += [f"Target ≥ 88% agreement on the held-out behaviours: **{target}** ({_pct(h['accuracy'])}%).", ""]
        if j.get("variants"):
            cvs = [v["cv_accuracy"] for v in j["variants"].values()]
            lines += [f"Every frozen-MiniLM variant lands between {_pct(min(cvs))}% and {_pct(max(cvs))}% in grouped CV "
                      "on the training behaviours; the richer hand-made groups do not beat the base block, and the "
                      "held-out behaviours come out lower than CV (126 items: one item is 0.8 points).", ""]
    if "pipeline" in res:
        p = res["pipeline"]
        lines += ["### Mock pipeline (`configs/guard/mock.yaml`, the quickstart)", "",
                  f"{p['samples']} generated samples (typographic, templates, noise and swap pairs, hallucination) "
                  f"through the stand-in `sim` model and the `llm:sim` stand-in judge: {p['seconds']} s wall. "
                  f"Overall ASD {_pct(p['overall']['asd'])}%, PAR {_pct(p['overall']['par'])}% — numbers of a "
                  "deterministic mock, not of any real model.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(REPO / "configs" / "guard" / "judge.yaml"))
    ap.add_argument("--skip-judge", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-update", action="store_true", help="Do not touch docs/RESULTS.md.")
    ap.add_argument("--render", default=None, help="Re-render the section from a saved guard_bench.json.")
    ap.add_argument("--finetune-cv", default=None, help="JSON written by benchmarks/guard_judge_finetune_cv.py "
                    "(--out): shown beside the variants (fine-tuning is too slow to rerun here)")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(Path(args.render).read_text(encoding="utf-8"))
        res, cmd = saved["results"], saved["command"]
    else:
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="guard-bench-"))
        res = {}
        if not args.skip_judge:
            res["judge"] = judge_bench(Path(args.config), out)
            if args.finetune_cv:
                res["judge"]["finetune_cv"] = json.loads(Path(args.finetune_cv).read_text(encoding="utf-8"))
        res["pipeline"] = pipeline_bench(out)
        env = f"MODELWORKS_CACHE={os.environ['MODELWORKS_CACHE']} " if os.environ.get("MODELWORKS_CACHE") else ""
        cmd = f"{env}.venv/bin/python benchmarks/guard_bench.py " + " ".join(sys.argv[1:])
        (out / "guard_bench.json").write_text(json.dumps({"command": cmd.strip(), "results": res}, indent=2,
                                                         default=str), encoding="utf-8")
    print(json.dumps(res, indent=2, default=str))
    if not args.no_update:
        from modelworks.report import update_results_section

        update_results_section("guard", markdown(res, cmd.strip()), path=REPO / "docs" / "RESULTS.md")


if __name__ == "__main__":
    main()
