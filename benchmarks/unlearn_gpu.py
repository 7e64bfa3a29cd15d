"""GPU item of issue #4: fine-tune + unlearn a ~100M Llama on the whole of TOFU forget10, MEOW vs NPO, with times.

    python benchmarks/unlearn_gpu.py                       # on a CUDA machine: runs configs/unlearn/tofu_gpu.yaml,
                                                           # prints JSON, updates docs/RESULTS.md
    python benchmarks/unlearn_gpu.py --json-out F --no-results      # on the GPU machine, keep the JSON
    python benchmarks/unlearn_gpu.py --from-json F                   # here: write RESULTS from that JSON
    python benchmarks/unlearn_gpu.py device=cpu model.layers=2 model.hidden=64 --no-results   # dry run
    python benchmarks/unlearn_gpu.py --extra-lr 1e-4 ...   # then unlearn the same two models again at each
                                                           # extra lr (an lr sensitivity table)

Extra ``key=value`` arguments are config overrides. The run folder (models included) goes to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs" / "unlearn" / "tofu_gpu.yaml")


def run(config: str, overrides: list[str], out: str, extra_lr: list[float] = ()) -> dict:
    import torch

    from modelworks.config import load_config
    from modelworks.unlearn.config import UnlearnConfig
    from modelworks.unlearn.recipe import run_experiment

    cfg = load_config(UnlearnConfig, config, overrides)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: this benchmark needs a CUDA GPU (pass device=cpu and a small model for a dry run)")
    if cfg.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    _, res = run_experiment(cfg, list(cfg.unlearn.methods), out=out, job="unlearn-gpu")
    wall = time.perf_counter() - t0
    sweep = []
    for lr in extra_lr:  # the same fine-tuned target and retain models, unlearned again at another lr
        again = [*overrides, f"model.target={out}/target_model", f"model.retain={out}/retain_model", f"unlearn.lr={lr}"]
        _, res_lr = run_experiment(load_config(UnlearnConfig, config, again), list(cfg.unlearn.methods),
                                   out=f"{out}-lr{lr:g}", job="unlearn-gpu")
        sweep += [{"lr": lr, **{k: m[k] for k in m if k not in ("over_steps", "probe")}} for m in res_lr["methods"]]
    tr = res["training"]
    gpu = torch.cuda.get_device_name(0) if cfg.device.startswith("cuda") else platform.machine() + " CPU"
    return {
        "device": gpu, "torch": torch.__version__, "config": os.path.relpath(config, REPO), "overrides": overrides,
        "model": {"layers": cfg.model.layers, "hidden": cfg.model.hidden, "vocab_size": cfg.model.vocab_size,
                  "params": tr.get("params")},
        "precision": cfg.precision, "data": res["data"],
        "peak_mem_mb": (torch.cuda.max_memory_allocated() / 2**20) if cfg.device.startswith("cuda") else None,
        "seconds": {"total": wall, "pretrain": tr.get("pretrain_seconds"),
                    "finetune_target": tr.get("target", {}).get("seconds"),
                    "finetune_retain": tr.get("retain", {}).get("seconds"),
                    "eval_one_model": tr.get("eval_seconds_each"), "inverted_memo": tr.get("inverted_seconds")},
        "finetune": {k: {"epochs": tr[k]["epochs"], "rouge_trace": tr[k]["rouge_trace"]}
                     for k in ("target", "retain") if k in tr},
        "warning": tr.get("warning"),
        "target": res["target"], "retain": res["retain"],
        "methods": [{k: m[k] for k in m if k not in ("over_steps", "probe")} for m in res["methods"]],
        "unlearn_lr": cfg.unlearn.lr, "lr_sweep": sweep,
    }


def write_results(r: dict) -> None:
    from modelworks.report import markdown_table, update_results_section
    from modelworks.unlearn.tables import dominated_by

    keys = ("forget_quality", "ks_statistic", "model_utility", "forget_rouge", "retain_rouge")

    def row(name, m, seconds=None, steps=None):
        return [name, *[m.get(k) for k in keys], steps, seconds]

    target_mu = r["target"]["model_utility"]
    rows = [row("fine-tuned target", r["target"]), row("retain model (oracle)", r["retain"])]
    rows += [row(m["method"], m, m["unlearn_seconds"], m["steps"]) for m in r["methods"]]
    s = r["seconds"]
    d = r["data"]
    ft = r["finetune"]
    reached = "; ".join(f"{k}: {v['epochs']} epochs, check ROUGE-L {v['rouge_trace'][-1]['rougeL']:.3f}"
                        for k, v in ft.items() if v["rouge_trace"])
    lrs = sorted({m["lr"] for m in r.get("lr_sweep", [])})
    argv = " ".join(["python benchmarks/unlearn_gpu.py", *r["overrides"], *(["--extra-lr", *map("{:g}".format, lrs)] if lrs else [])])
    def sec(x):
        return None if x is None else f"{x:.1f}"

    times = markdown_table(["stage", "seconds"], [[k, sec(v)] for k, v in [
        ["pretraining QA (real_authors + world_facts)", s["pretrain"]],
        [f"fine-tune target ({d['n_train_full']} rows)", s["finetune_target"]],
        [f"fine-tune retain model ({d['n_train_retain']} rows)", s["finetune_retain"]],
        ["TOFU evaluation, per model (mean of target and retain)", s["eval_one_model"]],
        ["inverted facts: candidates, MEMO on the target, selection", s["inverted_memo"]],
        *[(f"unlearn {m['method']} ({m['steps']} steps)", m["unlearn_seconds"]) for m in r["methods"]],
        ["whole run", s["total"]]]])
    meow = next((m for m in r["methods"] if m["method"] == "meow"), None)
    verdict = ""
    if meow and target_mu:
        verdict = (f"MEOW: forget quality {meow['forget_quality']:.3g} (target >= 0.05), model utility "
                   f"{meow['model_utility'] / target_mu:.2f}x the fine-tuned model's (target >= 0.9x); dominated "
                   f"(higher or equal forget quality and model utility) by: {', '.join(dominated_by(r)) or 'none'}.")
    md = [
        f"## unlearn on GPU ({r['device']}): a {r['model']['params'] / 1e6:.0f}M Llama on TOFU {d['forget_split']}, "
        + " vs ".join(m["method"].upper() for m in r["methods"]), "",
        f"Command (on the GPU machine): `{argv}` with `{r['config']}` — Llama {r['model']['layers']} layers x "
        f"{r['model']['hidden']} (vocab {r['model']['vocab_size']}, {r['model']['params'] / 1e6:.0f}M parameters) "
        f"trained from scratch, {r['precision']} autocast for training, fp32 evaluation; torch {r['torch']}. "
        f"Data: {r['data']['n_train_full']} fine-tuning rows, {r['data']['n_forget']} forget rows, eval sizes "
        f"{r['data']['eval_sizes']}. Fine-tuning: {reached}."
        + (f" Peak GPU memory {r['peak_mem_mb']:.0f} MB." if r.get("peak_mem_mb") else "")
        + " Written here from the JSON it printed: `python benchmarks/unlearn_gpu.py --from-json FILE`.", "",
        *([f"Warning from the run: {r['warning']}", ""] if r.get("warning") else []),
        markdown_table(["model", "forget quality", "KS D", "model utility", "forget ROUGE-L", "retain ROUGE-L",
                        "steps", "unlearn s"], rows),
        verdict, "",
        "Wall-clock per stage:", "",
        times,
    ]
    if r.get("lr_sweep"):
        md += ["", f"Unlearning lr sensitivity (the same two fine-tuned models, unlearned again; `--extra-lr`; the "
               f"rows above use lr {r['unlearn_lr']:g}, the fine-tuning lr):", "",
               markdown_table(["lr", "method", "forget quality", "KS D", "model utility", "MU / target's",
                               "forget ROUGE-L", "retain ROUGE-L"],
                              [[m["lr"], m["method"], m["forget_quality"], m["ks_statistic"], m["model_utility"],
                                m["model_utility"] / target_mu if target_mu else None, m["forget_rouge"], m["retain_rouge"]]
                               for m in r["lr_sweep"]])]
    update_results_section("unlearn-gpu", "\n".join(md))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=CONFIG)
    ap.add_argument("--out", default=None, help="run folder (default: a temporary folder)")
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--from-json", default=None)
    ap.add_argument("--extra-lr", type=float, nargs="*", default=[], help="also unlearn the same models at these lrs")
    args, overrides = ap.parse_known_args()
    if args.from_json:
        write_results(json.loads(Path(args.from_json).read_text()))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        r = run(args.config, overrides, args.out or str(Path(tmp) / "run"), args.extra_lr)
    text = json.dumps(r, indent=1)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)
    if not args.no_results:
        write_results(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
