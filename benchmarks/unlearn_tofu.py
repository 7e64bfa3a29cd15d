"""TOFU numbers for docs/RESULTS.md, section "unlearn": golden metric reproduction + the CPU-scale experiment.

    python benchmarks/unlearn_tofu.py                      # runs configs/unlearn/tofu_cpu.yaml (compare), then writes
    python benchmarks/unlearn_tofu.py --run runs/DIR       # reuses a finished `modelworks unlearn compare` run folder

Prints one JSON object and replaces the "unlearn" section of docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def golden(data_root: Path) -> tuple[list[list], dict]:
    from modelworks.unlearn.metrics import load_eval_log, tofu_metrics

    root = data_root / "tofu" / "reference_eval"
    summary = json.loads((root / "summary.json").read_text())
    rows, out = [], {}
    for name, entry in summary.items():
        log = load_eval_log(root / f"{name}.json")
        wd = name.rsplit("_", 1)[1]
        fq = None
        if name.split("_")[-2] == "full":
            fq = tofu_metrics(log, load_eval_log(root / f"ft_epoch5_lr1e-05_llama2-7b_retain90_{wd}.json"))
        ours = fq or tofu_metrics(log)
        meow = tofu_metrics(log, variant="meow")["model_utility"]
        rows.append([name.replace("ft_epoch5_lr1e-05_", ""), round(ours["model_utility"], 4), entry["model_utility_tofu"],
                     round(meow, 4), entry["model_utility_meow_utils_variant"],
                     fq["forget_quality"] if fq else None, entry.get("forget_quality_vs_retain90_forget10")])
        out[name] = {"mu": ours["model_utility"], "mu_meow": meow, "fq": fq["forget_quality"] if fq else None}
    return rows, out


ANCHOR_NOTE = ("open-unlearning's published re-runs on Llama-2-7b-chat, TOFU forget10 (their numbers, from "
               "locuslab/open-unlearning docs/repro.md; not measured here)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, help="finished compare run folder to report")
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="more finished compare runs (e.g. other unlearning lr) for a compact FQ/MU table")
    ap.add_argument("--note", action="append", default=[], help="a line of context for the section")
    ap.add_argument("--config", type=Path, default=REPO / "configs/unlearn/tofu_cpu.yaml")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from modelworks.paths import data_root
    from modelworks.report import markdown_table, update_results_section
    from modelworks.unlearn.tables import ANCHORS, comparison_headers, comparison_rows, dominated_by

    t0 = time.perf_counter()
    g_rows, g = golden(data_root())
    g_secs = time.perf_counter() - t0
    if args.run:
        run_dir = args.run
        res = json.loads((run_dir / "results.json").read_text())
    else:
        from modelworks.config import load_config
        from modelworks.unlearn.config import UnlearnConfig
        from modelworks.unlearn.recipe import run_experiment

        cfg = load_config(UnlearnConfig, args.config)
        run, res = run_experiment(cfg, cfg.unlearn.methods, job="unlearn-compare")
        run_dir = run.dir
    meow = next((m for m in res["methods"] if m["method"] == "meow"), None)
    target_mu = res["target"]["model_utility"]
    verdict = {}
    if meow:
        verdict = {"meow_fq": meow["forget_quality"], "meow_mu_ratio": meow["model_utility"] / target_mu if target_mu else None,
                   "fq_ge_0.05": meow["forget_quality"] >= 0.05,
                   "mu_ge_0.9x": bool(target_mu) and meow["model_utility"] >= 0.9 * target_mu,
                   "dominated_by": dominated_by(res)}
    out = {"golden": g, "golden_seconds": g_secs, "run": str(run_dir), "seconds": res["seconds"], "verdict": verdict,
           "methods": {m["method"]: {"fq": m["forget_quality"], "mu": m["model_utility"]} for m in res["methods"]}}
    print(json.dumps(out, indent=1))
    if args.no_write:
        return
    d = res["data"]
    shown, skip = [], False
    for a in sys.argv[1:]:  # the notes are prose; show them as "--note ..." in the command line
        if skip:
            skip = False
            continue
        if a == "--note":
            shown.append("--note ...")
            skip = True
        else:
            shown.append(a)
    cmd = " ".join(["python", "benchmarks/unlearn_tofu.py", *shown])
    md = [
        "## unlearn — TOFU metrics and MEOW vs baselines",
        "",
        f"Machine: {platform.machine()} CPU, 2 cores shared by up to six jobs at once (timings are wall-clock under "
        "that load). Command: `" + cmd + "`.",
        "",
        "### Golden TOFU metrics (official eval logs in `tofu/reference_eval/`)",
        "",
        "`modelworks unlearn tofu-metrics --model-logs F --retain-logs R --json` on every log; "
        "`summary.json` values beside ours (FQ of `full_*` vs `retain90_*` of the same weight decay). "
        "Also checked by `tests/unlearn/test_metrics.py`.",
        "",
        markdown_table(["log", "MU (ours)", "MU (summary)", "MU meow-variant (ours)", "(summary)", "FQ (ours)",
                        "FQ (summary)"], g_rows, digits=4),
        "",
        f"### CPU-scale experiment: TOFU {d['forget_split']} (scaled down)",
        "",
        f"Run folder `{run_dir}` (config `configs/unlearn/tofu_cpu.yaml`; equivalently "
        "`modelworks unlearn compare configs/unlearn/tofu_cpu.yaml`). "
        f"Trained here from scratch on {d['n_train_full']} TOFU rows (target) / {d['n_train_retain']} rows "
        f"(retain model); forget rows {d['n_forget']}; eval sizes {d['eval_sizes']}. "
        f"This run folder took {res['seconds'] / 60:.1f} min wall (training included only when it trained the models).",
        "",
        markdown_table(comparison_headers, comparison_rows(res), digits=3),
        "",
    ]
    if res["training"].get("warning"):
        md += [f"Warning from the run: {res['training']['warning']}", ""]
    if verdict:
        md += [f"Issue target (MEOW FQ >= 0.05 and MU >= 0.9x the fine-tuned model's, no baseline dominating): "
               f"FQ {verdict['meow_fq']:.3g} ({'met' if verdict['fq_ge_0.05'] else 'NOT met'}), "
               f"MU ratio {verdict['meow_mu_ratio']:.3f} ({'met' if verdict['mu_ge_0.9x'] else 'NOT met'}), "
               f"dominated by: {', '.join(verdict['dominated_by']) or 'none'}.", ""]
    if args.extra:
        names = [m["method"] for m in res["methods"]]
        hdr, rows = ["run", "unlearn lr"] + [f"{n} FQ / MU" for n in names], []
        for extra in [run_dir, *args.extra]:
            r = json.loads((extra / "results.json").read_text())
            import yaml

            lr = yaml.safe_load((extra / "config.yaml").read_text())["unlearn"]["lr"]
            by = {m["method"]: m for m in r["methods"]}
            rows.append([str(extra), lr] + [f"{by[n]['forget_quality']:.2g} / {by[n]['model_utility']:.3f}"
                                            if n in by else "—" for n in names])
        md += ["Same target and retain models, other unlearning learning rates (all methods share one lr, as in "
               "TOFU / open-unlearning):", "", markdown_table(hdr, rows), ""]
    md += [f"- {line}" for line in args.note] + ([""] if args.note else [])
    md += [ANCHOR_NOTE + ":", "", markdown_table(["method (open-unlearning)", "forget quality", "model utility"],
                                                 [[k, v[0], v[1]] for k, v in ANCHORS.items()]), ""]
    update_results_section("unlearn", "\n".join(md), REPO / "docs" / "RESULTS.md")


if __name__ == "__main__":
    main()
