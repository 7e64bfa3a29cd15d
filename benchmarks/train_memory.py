"""Peak training memory per optimizer on a ~100M-parameter random Llama, fp32, CPU — one fresh process each.

    nice -n 10 .venv/bin/python benchmarks/train_memory.py [--layers 7 --hidden 1024 ...] [--no-results]

Protocol (modelworks.train.memprobe): glibc malloc returns freed blocks to the OS; baseline = RSS after
importing torch/transformers and one throwaway forward/backward; then build the model, one warm-up step
(allocates optimizer state), reset the RSS high-water mark, run the measured steps; report VmHWM - baseline.
Activations are kept small relative to the parameters (batch 1 x 32 tokens). Prints JSON:
{optimizer: {"peak_mb", "ratio_to_adamw", ...}} and updates the "train" section of docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

RUNS = [("adamw", "none"), ("lion", "none"), ("adan", "none"), ("sophia", "none"), ("lomo", "none"),
        ("adalomo", "none"), ("adamw", "lora")]


def main() -> None:
    from modelworks.train.memprobe import measure

    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=7)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--intermediate", type=int, default=2816)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-results", action="store_true", help="Do not update docs/RESULTS.md.")
    args = ap.parse_args()
    shape = {"layers": args.layers, "hidden": args.hidden, "heads": args.heads, "intermediate": args.intermediate,
             "vocab": args.vocab, "seq": args.seq, "batch": 1, "steps": args.steps, "threads": args.threads,
             "lr": 1e-4}
    raw = {}
    for opt, peft in RUNS:
        name = opt if peft == "none" else f"{peft}+{opt}"
        raw[name] = measure({**shape, "optimizer": opt, "peft": peft})
        print(f"{name}: peak {raw[name]['peak_mb']:.1f} MB", file=sys.stderr, flush=True)
    adam = raw["adamw"]["peak_mb"]
    out = {name: {"peak_mb": round(r["peak_mb"], 1), "ratio_to_adamw": round(r["peak_mb"] / adam, 3),
                  "resident_mb": round(r["resident_mb"], 1), "estimate_mb": round(r["estimate_mb"], 1),
                  "trainable_params": r["trainable"], "losses": [round(x, 4) for x in r["losses"]]}
           for name, r in raw.items()}
    meta = {**shape, "params": raw["adamw"]["params"], "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores"}
    print(json.dumps(out, indent=1))
    if args.no_results:
        return
    from train_results import save, write_section

    save("train_memory", {**out, "_meta": meta}, render(out, meta))
    write_section()


def render(out: dict, meta: dict) -> str:
    from modelworks.report import markdown_table

    params, adam = meta["params"], out["adamw"]["peak_mb"]
    rows = [(n, f"{v['peak_mb']:.1f}", f"{v['ratio_to_adamw']:.3f}", f"{v['resident_mb']:.1f}",
             f"{v['estimate_mb']:.1f}") for n, v in out.items()]
    return "\n".join([
        "### Peak training memory per optimizer (fp32, CPU)",
        "",
        f"Command: `nice -n 10 .venv/bin/python benchmarks/train_memory.py` — random Llama, {params / 1e6:.1f}M "
        f"parameters ({meta['layers']} layers, hidden {meta['hidden']}, MLP {meta['intermediate']}, vocab "
        f"{meta['vocab']}, untied), batch 1 x {meta['seq']} tokens, {meta['steps']} measured steps after one warm-up "
        f"step, one fresh process per optimizer, {meta['threads']} torch threads. Machine: {meta['machine']}, shared "
        "with other jobs while measured (memory is unaffected; timing is not reported here).",
        "",
        "peak = RSS high-water mark during the measured steps minus the baseline RSS taken after importing "
        "torch/transformers and one throwaway forward/backward (so it holds weights + gradients + optimizer "
        "states + activations + transients); resident = RSS between steps; estimate = `modelworks train "
        "estimate` formula for this exact model.",
        "",
        markdown_table(["optimizer", "peak MB", "ratio to AdamW", "resident MB", "estimate MB"], rows),
        "",
        f"Target LOMO and AdaLomo <= 0.30x AdamW: LOMO {out['lomo']['ratio_to_adamw']:.3f}x, AdaLomo "
        f"{out['adalomo']['ratio_to_adamw']:.3f}x. The fp32 weights alone are {params * 4 / 2**20:.0f} MB of every "
        f"peak, a floor of {params * 4 / 2**20 / adam:.3f}x for any optimizer that trains all weights.",
    ])


if __name__ == "__main__":
    main()
