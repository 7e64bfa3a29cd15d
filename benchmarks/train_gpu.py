"""GPU check of the training engine: bf16 training of a ~1B-parameter random Llama, AdamW vs AdaLomo.

    python benchmarks/train_gpu.py            # on a CUDA machine; prints JSON, updates docs/RESULTS.md
    python benchmarks/train_gpu.py --model tiny:layers=2,hidden=64 --device cpu --no-results   # dry run

Each optimizer runs in a fresh `modelworks train` process (so peaks do not mix); the run's
results.json gives tokens/s and peak memory (CUDA: torch.cuda.max_memory_allocated). Made for the
issue-3 GPU item: one short command that fits in a few minutes of device time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_B = "tiny:layers=18,hidden=2048,heads=16,intermediate=5632,vocab_size=8192,max_positions=1024"


def write_results(r: dict) -> None:
    from modelworks.report import markdown_table, update_results_section

    rows = [(k, v["total_params"], v["tokens_per_s"], v["peak_mem_mb"], v["first_loss"], v["final_loss"])
            for k, v in r["optimizers"].items()]
    update_results_section("train-gpu", "\n".join([
        f"## train on GPU ({r['device']}): bf16, AdamW vs AdaLomo", "",
        f"Command (on the GPU machine): `python benchmarks/train_gpu.py` — random Llama `{r['model']}`, batch "
        f"{r['batch']} x {r['seq']} packed tokens, {r['steps']} steps, one fresh process per optimizer; peak = "
        "torch.cuda.max_memory_allocated. Written here from the JSON it printed: "
        "`python benchmarks/train_gpu.py --from-json FILE`.", "",
        markdown_table(["optimizer", "params", "tokens/s", "peak MB", "first loss", "final loss"], rows),
    ]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=ONE_B)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--optimizers", default="adamw,adalomo")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--json-out", default=None, help="also write the printed JSON here")
    ap.add_argument("--from-json", default=None, help="write docs/RESULTS.md from a JSON this script printed")
    args = ap.parse_args()
    if args.from_json:
        write_results(json.loads(Path(args.from_json).read_text()))
        return 0

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: this benchmark needs a CUDA GPU (use --device cpu for a dry run)", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for opt in args.optimizers.split(","):
            run = Path(tmp) / opt
            cmd = [sys.executable, "-m", "modelworks", "train", str(REPO / "configs/train/tiny.yaml"),
                   f"model={args.model}", f"optimizer={opt}", f"device={args.device}",
                   f"precision={'bf16' if args.device == 'cuda' else 'fp32'}", f"max_steps={args.steps}",
                   f"batch_size={args.batch}", f"max_len={args.seq}", "packing=true", "save_model=false",
                   "eval_every=0", "eval_fraction=0", "lr=1e-4", "--out", str(run)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            m = json.loads((run / "results.json").read_text())
            m = m.get("metrics", m)
            out[opt] = {k: m.get(k) for k in ("total_params", "tokens_per_s", "peak_mem_mb", "first_loss", "final_loss")}
    result = {"device": gpu, "model": args.model, "batch": args.batch, "seq": args.seq, "steps": args.steps,
              "optimizers": out}
    print(json.dumps(result, indent=1))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    if not args.no_results:
        write_results(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
