"""GPU item of issue #4: fine-tune + unlearn a ~100M Llama on the whole of TOFU forget10, MEOW vs NPO, with times.

    python benchmarks/unlearn_gpu.py                       # on a CUDA machine: runs configs/unlearn/tofu_gpu.yaml,
                                                           # prints JSON, updates docs/RESULTS.md
    python benchmarks/unlearn_gpu.py --json-out F --no-results      # on the GPU machine, keep the JSON
    python benchmarks/unlearn_gpu.py --from-json F                   # here: write RESULTS from that JSON
    python benchmarks/unlearn_gpu.py device=cpu model.layers=2 model.hidden=64 --no-results   # dry run
    python benchmarks/unlearn_gpu.py --extra-lr 1e-4 --extra-lr 1e-3   # then unlearn the same two models
                                                           # again at each lr (an lr sensitivity table)

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


def run(config: str, overrides: list[str], out: str, extra_lr: list[float] = (), save=None) -> dict:
    """The experiment, then (``extra_lr``) the same two models unlearned again at each lr. ``save(result)`` is
    called after the main run and after each lr, so a run cut short keeps what has finished."""
    import torch

    from modelworks.config import load_config
    from modelworks.errors import UserError
    from modelworks.runs import check_out_dir
    from modelworks.unlearn.config import UnlearnConfig
    from modelworks.unlearn.recipe import run_experiment

    cfg = load_config(UnlearnConfig, config, overrides)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: this benchmark needs a CUDA GPU (pass device=cpu and a small model for a dry run)")
    # every extra lr is checked before the main run (a bad one would otherwise fail after it)
    if len({f"{lr:g}" for lr in extra_lr}) != len(extra_lr):
        raise UserError(f"--extra-lr: an lr is given twice ({' '.join(map(str, extra_lr))})")
    target = cfg.model.target or f"{out}/target_model"
    retain = cfg.model.retain or f"{out}/retain_model"
    sweep_cfgs = []
    for lr in extra_lr:
        sweep_cfgs.append(load_config(UnlearnConfig, config, [*overrides, f"model.target={target}",
                                                              f"model.retain={retain}", f"unlearn.lr={lr}"]))
        check_out_dir(f"{out}-lr{lr:g}", "unlearn-gpu")
    if cfg.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    _, res = run_experiment(cfg, list(cfg.unlearn.methods), out=out, job="unlearn-gpu")
    wall = time.perf_counter() - t0
    tr = res["training"]
    gpu = torch.cuda.get_device_name(0) if cfg.device.startswith("cuda") else platform.machine() + " CPU"
    result = {
        "device": gpu, "torch": torch.__version__, "config": os.path.relpath(config, REPO), "overrides": overrides,
        "model": {"layers": cfg.model.layers, "hidden": cfg.model.hidden, "vocab_size": cfg.model.vocab_size,
                  "params": tr.get("params"), "base": cfg.model.base, "target": cfg.model.target},
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
        "unlearn_lr": cfg.unlearn.lr, "finetune_lr": cfg.finetune.lr, "lr_sweep": [],
    }
    if save:
        save(result)
    for lr, cfg_lr in zip(extra_lr, sweep_cfgs):  # the same fine-tuned target and retain models
        _, res_lr = run_experiment(cfg_lr, list(cfg.unlearn.methods), out=f"{out}-lr{lr:g}", job="unlearn-gpu")
        result["lr_sweep"] += [{"lr": lr, **{k: m[k] for k in m if k not in ("over_steps", "probe")}}
                               for m in res_lr["methods"]]
        if save:
            save(result)
    return result


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
    argv = " ".join(["python benchmarks/unlearn_gpu.py", *r["overrides"], *(f"--extra-lr {lr:g}" for lr in lrs)])
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
                   f"(at least as high on forget quality and model utility, higher on one) by: "
                   f"{', '.join(dominated_by(r)) or 'none'}.")
    m = r["model"]
    if m.get("target"):
        origin = f"a given fine-tuned model `{m['target']}` ({m['params'] / 1e6:.0f}M parameters)"
    elif m.get("base"):
        origin = f"`{m['base']}` ({m['params'] / 1e6:.0f}M parameters) fine-tuned here"
    else:
        origin = (f"Llama {m['layers']} layers x {m['hidden']} (vocab {m['vocab_size']}, {m['params'] / 1e6:.0f}M "
                  "parameters) trained from scratch")
    md = [
        f"## unlearn on GPU ({r['device']}): a {r['model']['params'] / 1e6:.0f}M Llama on TOFU {d['forget_split']}, "
        + " vs ".join(m["method"].upper() for m in r["methods"]), "",
        f"Command (on the GPU machine): `{argv}` with `{r['config']}` — {origin}, {r['precision']} autocast for training, fp32 evaluation; torch {r['torch']}. "
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
               f"rows above use lr {r['unlearn_lr']:g}"
               + (", the fine-tuning lr" if r.get("finetune_lr") == r["unlearn_lr"] else "") + "):", "",
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
    ap.add_argument("--extra-lr", type=float, action="append", default=[],
                    help="also unlearn the same two models at this lr (repeat the option for several)")
    args, overrides = ap.parse_known_args()
    if args.from_json:
        write_results(json.loads(Path(args.from_json).read_text()))
        return 0
    def save(result: dict) -> None:  # after the main run and after each extra lr
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result, indent=1))

    with tempfile.TemporaryDirectory() as tmp:
        r = run(args.config, overrides, args.out or str(Path(tmp) / "run"), args.extra_lr, save)
    print(json.dumps(r, indent=1))
    if not args.no_results:
        write_results(r)
    return 0


if __name__ == "__main__":
    from modelworks.errors import UserError

    try:
        sys.exit(main())
    except UserError as exc:  # bad options or config: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
