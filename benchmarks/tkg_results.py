"""tkg benchmark: rule baselines on ICEWS14/YAGO, the event generator's accuracy and CPU throughput.

    python benchmarks/tkg_results.py --run RUN_DIR [--run-command CMD] [--run-load TEXT]
        [--ablations RUN_DIR [--ablations-command CMD]] [--older RUN_DIR ...] [--notes benchmarks/notes/tkg.md]
        [--rules-json FILE] [--threads 1] [--no-update]

RUN_DIR is a finished ``modelworks tkg run configs/tkg/icews14_cpu.yaml --out RUN_DIR`` (the final run, shown
in full; throughput is measured on it, with its rule prior when it has one). ``--ablations`` takes the ablation
table from another run folder of the same config; ``--older`` runs get one line each. ``--rules-json`` caches
the rule-baseline table (computed and written when the file does not exist); ``--notes`` adds measured results
written in prose. Prints JSON and rewrites the "tkg" section of docs/RESULTS.md (only that section), showing
this whole command line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path


def rules_table(data_root: Path) -> dict:
    from modelworks.tkg.datasets import load_tkg
    from modelworks.tkg.rules import RULES, run_rule

    out = {}
    for name in ("ICEWS14", "YAGO"):
        folder = data_root / "tkg" / name
        if not folder.is_dir():
            continue
        ds = load_tkg(folder)
        out[name] = {"version": ds.version(), "rules": {r: run_rule(ds, r, 100, "test") for r in RULES}}
    return out


def throughput(run_dir: Path, threads: int, repeats: int = 3) -> dict:
    """Queries/s of the served path: history chains (+ rule features when the run used the prior) + model."""
    import numpy as np
    import torch

    from modelworks.tkg.model import model_examples, predict_topk
    from modelworks.tkg.recipe import load_run_model, load_run_prior

    torch.set_num_threads(threads)
    cfg, ds, table, model = load_run_model(run_dir)
    t0 = time.perf_counter()
    ev = model_examples(ds, cfg.eval_split, cfg.model, table)
    prior = load_run_prior(run_dir, cfg, ds, table)  # rule (and typed-rule) features of every query
    weights = prior[1] if prior else None
    chains_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t1 = time.perf_counter()
        predict_topk(model, ev, k=10, batch_size=1024, prior=prior)
        best = min(best, time.perf_counter() - t1)
    n1 = min(256, len(ev))
    t2 = time.perf_counter()
    for i in range(n1):
        predict_topk(model, ev.subset(np.array([i])), k=10, prior=None if prior is None else
                     (_one(prior[0], i), weights))
    single = (time.perf_counter() - t2) / n1
    return {"queries": len(ev), "threads": threads, "model_seconds": best, "with_rule_prior": prior is not None,
            "queries_per_second_model": len(ev) / best,
            "queries_per_second_with_chains": len(ev) / (best + chains_s),
            "latency_ms_batch1": 1000 * single}


def _one(features, i: int):
    from modelworks.tkg.rule_prior import RuleFeatures

    s, e = int(features.offsets[i]), int(features.offsets[i + 1])
    import numpy as np

    return RuleFeatures(np.array([0, e - s]), features.candidate[s:e], features.values[s:e])


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _rules_lines(rules: dict) -> list[str]:
    from modelworks.report import markdown_table

    lines = ["### Rule baselines (L = 100, ties by first appearance), test split", "",
             "Command: `modelworks tkg baseline --data <root>/tkg/DATASET --rule RULE --history 100 --split test --json`",
             ""]
    rows = []
    for name, block in rules.items():
        for r, res in block["rules"].items():
            f, w = res["time_aware_filtered"], res["raw"]
            rows.append([name, r, f["hits@1"], f["hits@3"], f["hits@10"], f["mrr"], w["hits@1"], w["hits@3"],
                         w["hits@10"], w["mrr"]])
    lines.append(markdown_table(["data", "rule", "filt H@1", "filt H@3", "filt H@10", "filt MRR", "raw H@1",
                                 "raw H@3", "raw H@10", "raw MRR"], rows, digits=4))
    lines += [f"- {name}: {block['version']}" for name, block in rules.items()]
    lines += ["- Anchor (research note, CoH issue): ICEWS14 pair-recency time-aware filtered .281/.394/.475; "
              "reproduced above.", ""]
    return lines


def _final_lines(run: dict) -> list[str]:
    from modelworks.report import markdown_table

    res, info, mc = run["results"], run["results"]["train"], run["config"]["model"]
    m, alone, prior = res["model"], res.get("model_without_prior"), res.get("rule_prior") or {}
    cpu = info.get("cpu_seconds")
    names = ", entity-name features" if mc.get("name_features") else ""
    names += f", history features (last {mc['history_features']} facts)" if mc.get("history_features") else ""
    lines = [f"### Final: event generator (dim {mc['dim']}, {mc['layers']} layers, L = {mc['history']}{names}) + rule prior, "
             "ICEWS14 test", "",
             f"Command: `{run['command']}` (run folder {run['dir']}).", "",
             f"Data: {res['dataset_version']}. Trained on {'+'.join(run['config']['train_splits'])} only; the valid "
             "split is held out and used for every choice (epochs, learning rate, smoothing earlier; the rule-prior "
             "weights in this run); test is evaluated once.", "",
             f"Training ({info.get('engine', 'the earlier plain loop')}): {info['steps']} steps of batch "
             f"{run['config']['train']['batch_size']} ({info['train_examples']:,} training queries; the config "
             f"plans {run['config']['train']['epochs']} epochs = {info.get('planned_steps', '?')} steps, "
             f"max_minutes {run['config']['train']['max_minutes']:g}, {run['config']['train']['threads']} torch "
             f"thread(s)), **{info['seconds'] / 60:.1f} min wall** on the shared "
             f"machine (1-minute load average {run.get('load', '?')} while it ran)"
             + (f", **{cpu / 60:.1f} min of CPU time** (what it costs one core of an idle machine)" if cpu else "")
             + f"{', **stopped by the time limit** (the step budget is max_minutes over the step time measured at the start, here ' + format(info['estimated_seconds_per_step'], '.1f') + ' s/step under the load)' if info['stopped_by_time_limit'] else ''}; "
             f"{info['parameters']:,} parameters. Recipe-measured inference "
             f"{info['queries_per_second_model']:.0f} queries/s (model + prior), "
             f"{info['queries_per_second_with_chains']:.0f} queries/s including history chains and rule features.", ""]
    if prior.get("tuned_on") == "valid":
        from modelworks.tkg.rule_prior import FEATURES

        names = prior.get("features") or FEATURES  # runs made before typed rules stored no names
        w = ", ".join(f"{n} {v:g}" for n, v in zip(names, prior["weights"]))
        typed = run["config"]["rule_prior"].get("typed") or {}
        grids = prior.get("grids") or [prior["grid"]] * len(names)
        grid_text = (f"grid {grids[0]} per history weight" + (f", {grids[4]} and {grids[5]} for the typed-rule weights"
                                                               if len(grids) == 6 else ""))
        typed_text = (f"; typed-rule features: the noisy-or of TLogic-style rule confidences counted on "
                      f"{'+'.join(run['config']['train_splits'])} (rules r1 -> r over the entity's last "
                      f"{typed['history']} facts, and two-fact paths over {typed['hop']} facts per hop; "
                      f"`modelworks.tkg.typed_rules`)" if typed.get("enabled") else "")
        lines += [f"Rule prior: score = log p(o) + w . f(o) (features: log1p counts and 1/log2(1 + steps since) of o in "
                  f"the last {run['config']['rule_prior']['history']} pair / entity history facts{typed_text}). "
                  f"{grid_text[0].upper() + grid_text[1:]} ({prior['trials']} points) on valid: filtered H@1 "
                  f"{_fmt(prior['valid_filtered_hits@1_model_alone'])} (model alone) -> "
                  f"{_fmt(prior['valid_filtered_hits@1'])}; chosen w = {w}.", ""]
    rows = []
    for s in ("time_aware_filtered", "raw"):
        if alone:
            rows.append(["**event generator + rule prior (ours)**", s, m[s]["hits@1"], m[s]["hits@3"],
                         m[s]["hits@10"], m[s]["mrr"]])
            rows.append(["event generator alone (ours)", s, alone[s]["hits@1"], alone[s]["hits@3"],
                         alone[s]["hits@10"], alone[s]["mrr"]])
        else:
            rows.append(["**event generator (ours)**", s, m[s]["hits@1"], m[s]["hits@3"], m[s]["hits@10"],
                         m[s]["mrr"]])
    for r in ("pair-recency", "entity-frequency"):
        if r in res["rules"]:
            rr = res["rules"][r]
            rows += [[f"rule {r}", s, rr[s]["hits@1"], rr[s]["hits@3"], rr[s]["hits@10"], rr[s]["mrr"]]
                     for s in ("time_aware_filtered", "raw")]
    rows += [["paper: HGLS", "time_aware_filtered", .368, .490, .691, None],
             ["paper: GenTKG", "time_aware_filtered", .365, .488, .633, None],
             ["paper: Llama-2-7b-CoH", "time_aware_filtered", .349, .470, .591, None],
             ["paper: Llama-2-7b-CoH", "raw", .338, .462, .587, None]]
    lines.append(markdown_table(["model", "setting", "H@1", "H@3", "H@10", "MRR"], rows, digits=3))
    h1 = m["time_aware_filtered"]["hits@1"]
    note = f" {run['target_note']}" if run.get("target_note") else ""
    lines += [f"Target time-aware filtered H@1 >= 0.37: **{'met' if h1 >= 0.37 else 'not met'}** "
              f"(measured {_fmt(h1)}).{note}", ""]
    return lines


def _ablation_lines(run: dict) -> list[str]:
    from modelworks.report import markdown_table

    ab, cfg = run["results"]["ablations"], run["config"]
    budget = cfg.get("ablation_train") or cfg["train"]
    lines = ["### Ablation (ICEWS14 test, each row a separately trained event generator at the ablation budget)", "",
             f"Command: `{run['command']}` (run folder {run['dir']}; its main model is a throw-away 1-step run, only "
             f"the ablation rows are used). Budget: {budget['epochs']} epoch of {budget['max_examples_per_epoch']:,} "
             f"queries sampled from {'+'.join(cfg['train_splits'])}, lr {budget['lr']}; model alone (no rule prior).",
             ""]
    rows = [[a["name"], a["metrics"]["time_aware_filtered"]["hits@1"], a["metrics"]["time_aware_filtered"]["hits@3"],
             a["metrics"]["time_aware_filtered"]["hits@10"], a["metrics"]["raw"]["hits@1"], a["train"]["steps"],
             round(a["train"]["seconds"] / 60, 1),
             round(a["train"]["cpu_seconds"] / 60, 2) if a["train"].get("cpu_seconds") else None] for a in ab]
    lines.append(markdown_table(["variant", "filt H@1", "filt H@3", "filt H@10", "raw H@1", "steps", "train min (wall)",
                                 "train min (CPU)"], rows, digits=3))
    return lines + [""]


def _older_line(run: dict) -> str:
    res, info, c = run["results"], run["results"]["train"], run["config"]
    h = res["model"]["time_aware_filtered"]
    engine = info.get("engine", "the earlier plain AdamW loop")
    alone = (res.get("model_without_prior") or {}).get("time_aware_filtered")
    tuned = (res.get("rule_prior") or {}).get("tuned_on") == "valid"
    prior = (f"with the rule prior tuned on valid (model alone H@1 {_fmt(alone['hits@1'])})" if alone
             else "rule prior tuned on valid to all-zero weights" if tuned else "no rule prior")
    stopped = ", stopped by the time limit under load" if info.get("stopped_by_time_limit") else ""
    t, m = c.get("train", {}), c["model"]
    extra = [f"{m['layers']} layers" if m.get("layers", 2) != 2 else "",
             f"{t['epochs']} epoch{'s' if t['epochs'] != 1 else ''}" if "epochs" in t else "",
             f"weight decay {t['weight_decay']}" if t.get("weight_decay") else "",
             f"dropout {m['dropout']}" if m.get("dropout", 0.1) != 0.1 else "",
             "time-aware filtered loss" if t.get("filtered_loss") else "",
             "entity-name features" if m.get("name_features") else "",
             f"history features (last {m['history_features']} facts)" if m.get("history_features") else "",
             f"graph features (last {m['graph_window']} steps)" if m.get("graph_window") else ""]
    split = res.get("eval_split", "test")
    return (f"- {run['dir']}: dim {m['dim']}, L = {m['history']}, {', '.join(e for e in extra if e)}, trained on "
            f"{'+'.join(c['train_splits'])} for {info['steps']} steps ({info['seconds'] / 60:.1f} min wall, {engine}), "
            f"{prior}: {split} filtered H@1/H@3/H@10 {_fmt(h['hits@1'])}/{_fmt(h['hits@3'])}/{_fmt(h['hits@10'])}"
            f"{stopped}.")


def section(rules: dict, final: dict | None, ablations: dict | None, older: list[dict], thr: dict | None,
            cmd: str, notes: list[str] | None = None) -> str:
    lines = ["## tkg — temporal KG completion (Chain of History)", "",
             f"Machine: 2-core CPU shared with up to five other jobs (1-minute load average {os.getloadavg()[0]:.1f} "
             f"when this section was written); Python {platform.python_version()}, torch threads as stated. "
             "Metrics: both directions, single-step, "
             "Hits@k in **raw** and **time-aware filtered** settings (a target outside the candidate list is a miss).",
             "", f"Command: `{cmd}`", ""]
    if final:
        lines += _final_lines(final)
    if thr:
        lines += ["### Inference throughput (CPU, measured while the machine was shared)", "",
                  f"{thr['queries']} test queries, {thr['threads']} torch thread(s), batch 1024, best of 3"
                  f"{', rule prior included' if thr['with_rule_prior'] else ''}: "
                  f"**{thr['queries_per_second_model']:.0f} queries/s** (model), "
                  f"{thr['queries_per_second_with_chains']:.0f} queries/s including history chains"
                  f"{' and rule features' if thr['with_rule_prior'] else ''}; batch-1 latency "
                  f"{thr['latency_ms_batch1']:.1f} ms. Target >= 500 queries/s: "
                  f"**{'met' if thr['queries_per_second_with_chains'] >= 500 else 'not met'}** at this load.", ""]
    if ablations and ablations["results"].get("ablations"):
        lines += _ablation_lines(ablations)
    if rules:
        lines += _rules_lines(rules)
    if older or notes:
        lines += ["### Earlier runs (same model family)", ""]
        lines += [_older_line(r) for r in older] + [f"- {n}" for n in notes or []] + [""]
    return "\n".join(lines)


def _load_run(run_dir: Path, command: str | None) -> dict:
    import yaml

    return {"dir": str(run_dir), "command": command or f"modelworks tkg run {run_dir}/config.yaml",
            "config": yaml.safe_load((run_dir / "config.yaml").read_text()),
            "results": json.loads((run_dir / "results.json").read_text())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, default=None, help="the final icews14 run folder (throughput measured on it)")
    ap.add_argument("--run-command", default=None, help="the command that made --run")
    ap.add_argument("--run-load", default="?", help="the 1-minute load average while --run trained (for the text)")
    ap.add_argument("--target-note", default=None, help="a measured remark printed after the target line")
    ap.add_argument("--ablations", type=Path, default=None, help="a run folder whose ablation table is shown")
    ap.add_argument("--ablations-command", default=None)
    ap.add_argument("--older", type=Path, action="append", default=[], help="earlier run folders (one line each)")
    ap.add_argument("--note", action="append", default=[], help="an extra measured result for the earlier-runs list")
    ap.add_argument("--notes", type=Path, default=None, help="a markdown file of '- ' bullets, each an extra measured "
                    "result with its own command (benchmarks/notes/tkg.md); listed before any --note")
    ap.add_argument("--rules-json", type=Path, default=None, help="cache of the rule table (read, or written)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-update", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from modelworks.paths import data_root

    if args.rules_json is not None and args.rules_json.is_file():
        rules = json.loads(args.rules_json.read_text())
    else:
        rules = rules_table(data_root(args.data_dir))
        if args.rules_json is not None:
            from modelworks.runs import atomic_write_json

            atomic_write_json(args.rules_json, rules)
    final = _load_run(args.run, args.run_command) if args.run else None
    if final:
        final["load"] = args.run_load
        final["target_note"] = args.target_note
    abl = _load_run(args.ablations, args.ablations_command) if args.ablations else None
    older = [_load_run(d, None) for d in args.older]
    thr = throughput(args.run, args.threads) if args.run else None
    out = {"rules": {k: dict(b["rules"]) for k, b in rules.items()},
           "final": final["results"]["model"] if final else None, "throughput": thr}
    print(json.dumps(out, indent=2))
    if not args.no_update:
        from modelworks.report import read_notes, update_results_section

        # the whole command line, so that rerunning it rewrites this section as it is (notes and load included)
        cmd = shlex.join(["python", "benchmarks/tkg_results.py", *sys.argv[1:]])
        notes = (read_notes(args.notes) if args.notes else []) + args.note
        update_results_section("tkg", section(rules, final, abl, older, thr, cmd, notes))


if __name__ == "__main__":
    main()
