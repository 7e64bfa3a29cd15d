"""TOFU numbers for docs/RESULTS.md, section "unlearn": golden metric reproduction + the CPU-scale experiment.

    python benchmarks/unlearn_tofu.py                      # runs configs/unlearn/tofu_cpu.yaml (compare), then writes
    python benchmarks/unlearn_tofu.py --run runs/DIR       # reuses a finished `modelworks unlearn compare` run folder
    python benchmarks/unlearn_tofu.py --run A --extra A2 --run B   # several experiments; --extra adds runs of the
                                                                   # first --run's setup at other unlearning lr
    ... --ablation DIR --notes benchmarks/notes/unlearn.md         # MEOW-only runs; measured results in prose

Prints one JSON object and replaces the "unlearn" section of docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
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


def _verdict(res: dict) -> dict:
    from modelworks.unlearn.tables import dominated_by

    meow = next((m for m in res["methods"] if m["method"] == "meow"), None)
    target_mu = res["target"]["model_utility"]
    if not meow:
        return {}
    return {"meow_fq": meow["forget_quality"], "meow_mu_ratio": meow["model_utility"] / target_mu if target_mu else None,
            "fq_ge_0.05": meow["forget_quality"] >= 0.05,
            "mu_ge_0.9x": bool(target_mu) and meow["model_utility"] >= 0.9 * target_mu,
            "dominated_by": dominated_by(res)}


def _gap_rows(run_dir: Path, res: dict) -> list[list]:
    from modelworks.unlearn.tables import forget_gap

    rows = []
    named = [("finetuned target", "target", res["target"]), ("retain model (oracle)", "retain", res["retain"])]
    named += [(m["method"], m["method"], m) for m in res["methods"]]
    for label, name, m in named:
        f = run_dir / "eval" / f"{name}.json"
        if not f.exists():
            continue
        g = forget_gap(json.loads(f.read_text())["eval_log_forget.json"])
        rows.append([label, g["answer_nll"], g["para_nll"], g["pert_nll"], g["median_log_inv_ratio"],
                     m.get("ks_statistic")])
    return rows


def _setup_line(cfg: dict) -> str:
    f, u, m = cfg["finetune"], cfg["unlearn"], cfg["model"]
    return (f"Llama {m['layers']} layers x {m['hidden']} dims (vocab {m['vocab_size']}) trained here from scratch: "
            f"{f['pretrain_epochs']} epochs on real_authors + world_facts QA (separate first stage)"
            f"{', replayed in fine-tuning' if f['replay_pretrain'] else ''}, then fine-tuned (lr {f['lr']}, batch "
            f"{f['batch_size']}) until forget ROUGE-L >= {f['target_rouge']}; every method unlearns {u['epochs']:g} "
            f"epochs at lr {u['lr']}, {u['batch_size']} forget questions per step, warm-up {u['warmup_epochs']:g} "
            f"epoch; MEOW top-{cfg['invert']['k']} by MEMO ({cfg['invert']['select']}) from "
            f"`{cfg['invert'].get('file') or cfg['invert']['source']}`.")


def _rule_rows(dirs: list[Path], res: dict) -> list[list]:
    import yaml

    mu0 = res["target"]["model_utility"]
    cands: dict[str, list] = {}
    for d in dirs:
        r = json.loads((d / "results.json").read_text())
        u = yaml.safe_load((d / "config.yaml").read_text())["unlearn"]
        for m in r["methods"]:
            cands.setdefault(m["method"], []).append((d, u, m))
    rows = []
    for name, cs in cands.items():
        ok = [c for c in cs if mu0 and c[2]["model_utility"] >= 0.9 * mu0]
        d, u, m = (min(ok, key=lambda c: (c[2]["forget_rouge"], -c[2]["model_utility"])) if ok
                   else max(cs, key=lambda c: c[2]["model_utility"]))
        rows.append([name, str(d), f"{u['lr']:g}", f"{u['epochs']:g}", m["forget_rouge"],
                     m["model_utility"] / mu0 if mu0 else None, m["forget_quality"]])
    return rows


def _ablation_section(dirs: list[Path], res: dict) -> list[str]:
    import yaml

    from modelworks.report import markdown_table

    mu0 = res["target"]["model_utility"]
    rows = []
    for d in dirs:
        r = json.loads((d / "results.json").read_text())
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        u, inv = cfg["unlearn"], cfg["invert"]
        for m in r["methods"]:
            best = max(m["over_steps"], key=lambda e: e["forget_quality"])
            source = {"meow_file": "MEOW's GPT-4 file", "offline": "offline swap", "chat": "chat model"}
            rows.append([str(d), m["method"], source.get(inv["source"], inv["source"]), inv["select"], m["retain_loss"], f"{u['lr']:g}", f"{u['epochs']:g}",
                         m["steps"],
                         m["forget_quality"], m["ks_statistic"], m["model_utility"] / mu0 if mu0 else None,
                         m["forget_rouge"], best["forget_quality"], best["step"],
                         best["model_utility"] / mu0 if mu0 else None])
    return ["MEOW variants on the same models (not part of the shared-protocol comparison; the last three columns are "
            "the best Forget Quality among the evaluations during the run, a diagnostic, not a tuning result):", "",
            markdown_table(["run", "method", "inverted facts", "selection", "retain term", "lr", "epochs", "steps", "forget quality",
                            "KS D", "MU / target", "forget ROUGE-L", "best FQ during run", "at step",
                            "MU / target there"], rows, digits=3), ""]


def _fact_overlap(run_dir: Path, res: dict) -> str | None:
    """How much of what the truth ratio tests MEOW's own training targets still say: the share of a row's
    true-fact words (words of the paraphrased answer found in none of its perturbed answers) that occur in
    the selected inverted answers, beside the same share for the original forget answers."""
    import re

    from modelworks.unlearn.recipe import resolve_data_path
    from modelworks.unlearn.tofu import forget_eval_split, load_split

    inv_file = run_dir / "inverted_facts.json"
    if not inv_file.exists():
        return None
    inv = json.loads(inv_file.read_text())
    rows = load_split(resolve_data_path(res["data"]["source"]), forget_eval_split(res["data"]["forget_split"]))
    rows = rows[: res["data"]["eval_sizes"]["eval_log_forget.json"]]

    def words(t: str) -> set[str]:
        return set(re.findall(r"[a-z0-9]+", t.lower()))

    sel = set().union(*(words(t) for r in inv for t in r["selected"]))
    orig = set().union(*(words(r["answer"]) for r in inv))
    share_sel, share_orig, share_wrong = [], [], []
    for r in rows:
        pert = set().union(*(words(x) for x in r["perturbed_answer"]))
        true = words(r["paraphrased_answer"]) - pert
        wrong = pert - words(r["paraphrased_answer"])
        if true:
            share_sel.append(len(true & sel) / len(true))
            share_orig.append(len(true & orig) / len(true))
        if wrong:
            share_wrong.append(len(wrong & sel) / len(wrong))
    if not share_sel:
        return None
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    return (f"MEOW's training targets still state the facts the truth ratio tests: on average "
            f"{mean(share_sel):.0%} of a forget row's true-fact words (words of its paraphrased answer that no "
            f"perturbed answer has) occur in the selected inverted answers, against "
            f"{mean(share_orig):.0%} in the original forget answers; of the perturbed answers' wrong-fact words "
            f"{mean(share_wrong):.0%} occur in them.")


def _models_from(run_dir: Path) -> Path | None:
    """The compare run whose target model ``run_dir`` loaded (``model.target=<run>/target_model``), if any."""
    import yaml

    target = (yaml.safe_load((run_dir / "config.yaml").read_text()).get("model") or {}).get("target")
    return Path(target).resolve().parent if target else None


def _run_section(run_dir: Path, res: dict, extras: list[Path]) -> list[str]:
    import yaml

    from modelworks.report import markdown_table
    from modelworks.unlearn.tables import comparison_headers, comparison_rows, gap_headers

    d = res["data"]
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    md = [
        f"### CPU-scale experiment: TOFU {d['forget_split']} (scaled down), `{run_dir}`",
        "",
        _setup_line(cfg),
        f"Trained on {d['n_train_full']} TOFU rows (target) / {d['n_train_retain']} rows (retain model); "
        f"forget rows {d['n_forget']}; eval sizes {d['eval_sizes']}. "
        f"This run folder took {res['seconds'] / 60:.1f} min wall (training included only when it trained the models).",
        "",
        markdown_table(comparison_headers, comparison_rows(res), digits=3),
        "",
    ]
    if res["training"].get("warning"):
        md += [f"Warning from the run: {res['training']['warning']}", ""]
    v = _verdict(res)
    if v:
        md += [f"Issue target (MEOW FQ >= 0.05 and MU >= 0.9x the fine-tuned model's, no baseline dominating): "
               f"FQ {v['meow_fq']:.3g} ({'met' if v['fq_ge_0.05'] else 'NOT met'}), "
               f"MU ratio {v['meow_mu_ratio']:.3f} ({'met' if v['mu_ge_0.9x'] else 'NOT met'}), "
               f"dominated by: {', '.join(v['dominated_by']) or 'none'}.", ""]
    md += ["Where the forget truth ratio comes from (mean token NLLs on the forget eval rows; "
           "`log(1/R) = mean_j L(pert_j) - L(para)`, the quantity the KS test compares with the retain model's):", "",
           markdown_table(gap_headers, _gap_rows(run_dir, res), digits=3), ""]
    overlap = _fact_overlap(run_dir, res)
    if overlap:
        md += [overlap, ""]
    if extras:
        names = [m["method"] for m in res["methods"]]
        hdr, rows = ["run", "unlearn lr", "epochs"] + [f"{n} FQ / MU" for n in names] + ["meow dominated by"], []
        for extra in [run_dir, *extras]:
            r = json.loads((extra / "results.json").read_text())
            u = yaml.safe_load((extra / "config.yaml").read_text())["unlearn"]
            by = {m["method"]: m for m in r["methods"]}
            rows.append([str(extra), f"{u['lr']:g}", f"{u['epochs']:g}"] + [
                f"{by[n]['forget_quality']:.2g} / {by[n]['model_utility']:.3f}" if n in by else "—" for n in names]
                + [", ".join(_verdict(r).get("dominated_by", [])) or "none"])
        md += ["Same target and retain models, other unlearning settings (within a row all methods share one lr and "
               "one number of epochs, as in TOFU / open-unlearning; MU as is, the fine-tuned target's is "
               f"{res['target']['model_utility']:.3f}):", "", markdown_table(hdr, rows), ""]
        md += ["Per-method choice by one rule applied to every method, which does not look at Forget Quality: among "
               "the settings above, the lowest forget ROUGE-L (greedy answers on the forget rows) with Model Utility "
               ">= 0.9x the fine-tuned model's (if none qualifies, the highest MU):", "",
               markdown_table(["method", "chosen run", "lr", "epochs", "forget ROUGE-L", "MU / target",
                               "forget quality"], _rule_rows([run_dir, *extras], res)), ""]
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, action="append", default=[], help="finished compare run folder(s) to report")
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="more finished compare runs that reuse one --run's models (e.g. other unlearning lr); each is "
                         "listed under the --run whose target model it loaded")
    ap.add_argument("--ablation", type=Path, action="append", default=[],
                    help="MEOW-only runs of the first --run's models (selection direction, longer schedules)")
    ap.add_argument("--note", action="append", default=[], help="a line of context for the section")
    ap.add_argument("--notes", type=Path, default=None, help="a markdown file of '- ' bullets (benchmarks/notes/"
                    "unlearn.md): measured results and how each run was made; listed before any --note")
    ap.add_argument("--config", type=Path, default=REPO / "configs/unlearn/tofu_cpu.yaml")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from modelworks.paths import data_root
    from modelworks.report import markdown_table, update_results_section
    from modelworks.unlearn.tables import ANCHORS

    t0 = time.perf_counter()
    g_rows, g = golden(data_root())
    g_secs = time.perf_counter() - t0
    runs: list[tuple[Path, dict]] = []
    for run_dir in args.run:
        runs.append((run_dir, json.loads((run_dir / "results.json").read_text())))
    if not runs:
        from modelworks.config import load_config
        from modelworks.unlearn.config import UnlearnConfig
        from modelworks.unlearn.recipe import run_experiment

        cfg = load_config(UnlearnConfig, args.config)
        run, res = run_experiment(cfg, cfg.unlearn.methods, job="unlearn-compare")
        runs.append((run.dir, res))
    out = {"golden": g, "golden_seconds": g_secs, "runs": [
        {"run": str(r), "forget_split": res["data"]["forget_split"], "seconds": res["seconds"], "verdict": _verdict(res),
         "methods": {m["method"]: {"fq": m["forget_quality"], "mu": m["model_utility"]} for m in res["methods"]}}
        for r, res in runs]}
    print(json.dumps(out, indent=1))
    if args.no_write:
        return
    from modelworks.report import read_notes

    notes = (read_notes(args.notes) if args.notes else []) + args.note
    cmd = shlex.join(["python", "benchmarks/unlearn_tofu.py", *sys.argv[1:]])  # all of it: rerunning rewrites this
    md = [
        "## unlearn — TOFU metrics and MEOW vs baselines",
        "",
        f"Machine: {platform.machine()} CPU, 2 cores shared by up to six jobs at once (timings are wall-clock under "
        "that load). Command: `" + cmd + "`.",
        "",
        "### Golden TOFU metrics (official eval logs in `tofu/reference_eval/`)",
        "",
        "`modelworks unlearn tofu-metrics --model-logs F --retain-logs R --json` on every log (the meow-variant "
        "column: `... --truth-ratio meow`); "
        "`summary.json` values beside ours (FQ of `full_*` vs `retain90_*` of the same weight decay). "
        "Also checked by `tests/unlearn/test_metrics.py`.",
        "",
        markdown_table(["log", "MU (ours)", "MU (summary)", "MU meow-variant (ours)", "(summary)", "FQ (ours)",
                        "FQ (summary)"], g_rows, digits=4),
        "",
    ]
    for i, (run_dir, res) in enumerate(runs):
        md += _run_section(run_dir, res, [e for e in args.extra if _models_from(e) == run_dir.resolve()])
        if i == 0 and args.ablation:
            md += _ablation_section(args.ablation, res)
    md += [f"- {line}" for line in notes] + ([""] if notes else [])
    md += [ANCHOR_NOTE + ":", "", markdown_table(["method (open-unlearning)", "forget quality", "model utility"],
                                                 [[k, v[0], v[1]] for k, v in ANCHORS.items()]), ""]
    update_results_section("unlearn", "\n".join(md), REPO / "docs" / "RESULTS.md")


if __name__ == "__main__":
    main()
