"""Tokens/s of `modelworks train` (fit) vs Hugging Face `Trainer`: same tiny model, data, batch, optimizer.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/train_throughput.py [--rounds 5 --steps 20] [--no-results]

Both train the same random Llama (identical initial weights) on the same packed rows (no padding) with
AdamW (torch), constant lr, grad-norm clipping 1.0, logging every step, no evaluation or saving, on CPU.
The two are alternated `--rounds` times in one process; tokens/s = steps x batch x seq / training wall time
(our `train_time_s`; HF's `train_runtime`). Prints JSON and updates the "train" section of docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    load_at_start = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    import torch
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
    )
    from transformers.utils import logging as hf_logging

    from modelworks.train import TrainConfig, fit

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)  # shared 2-core machine: no OpenMP oversubscription
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=4 * args.hidden,
                                        num_hidden_layers=args.layers, num_attention_heads=4, num_key_value_heads=4,
                                        max_position_embeddings=args.seq, tie_word_embeddings=True))
    g = torch.Generator().manual_seed(1)
    n_rows = args.batch * args.steps
    ids = torch.randint(0, args.vocab, (n_rows, args.seq), generator=g)
    rows = [{"input_ids": r.tolist(), "labels": r.tolist(), "attention_mask": [1] * args.seq} for r in ids]
    tokens = args.steps * args.batch * args.seq
    ours, hf, ours_cpu, hf_cpu = [], [], [], []

    class CpuClock(TrainerCallback):
        """CPU seconds of HF's training loop (the same span as our train_cpu_time_s)."""

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.process_time()

        def on_train_end(self, args, state, control, **kw):
            self.seconds = time.process_time() - self.t0
    tmp = tempfile.mkdtemp(prefix="train-throughput-")
    for r in range(args.rounds):
        cfg = TrainConfig(optimizer="adamw", lr=1e-3, max_grad_norm=1.0, batch_size=args.batch, max_steps=args.steps,
                          max_len=args.seq, progress=False, tensorboard=False, save_model=False,
                          out=f"{tmp}/ours-{r}", seed=0)
        res = fit(cfg, model=copy.deepcopy(base), train_dataset=rows)
        ours.append(tokens / res.metrics["train_time_s"])
        ours_cpu.append(tokens / res.metrics["train_cpu_time_s"])
        targs = TrainingArguments(output_dir=f"{tmp}/hf-{r}", per_device_train_batch_size=args.batch,
                                  max_steps=args.steps, learning_rate=1e-3, lr_scheduler_type="constant",
                                  optim="adamw_torch", max_grad_norm=1.0, logging_steps=1, save_strategy="no",
                                  eval_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                                  disable_tqdm=True, seed=0, weight_decay=0.0)
        trainer = Trainer(model=copy.deepcopy(base), args=targs, train_dataset=rows,
                          data_collator=default_data_collator)
        trainer.remove_callback(PrinterCallback)  # keep stdout for our JSON (and spare HF the printing)
        clock = CpuClock()
        trainer.add_callback(clock)
        out = trainer.train()
        hf.append(tokens / out.metrics["train_runtime"])
        hf_cpu.append(tokens / clock.seconds)
        print(f"round {r}: modelworks {ours[-1]:.0f} tok/s ({ours_cpu[-1]:.0f} per CPU-s), HF Trainer {hf[-1]:.0f} "
              f"tok/s ({hf_cpu[-1]:.0f} per CPU-s)", file=sys.stderr, flush=True)
    ratio = statistics.median(a / b for a, b in zip(ours, hf))
    cpu_ratio = statistics.median(a / b for a, b in zip(ours_cpu, hf_cpu))
    result = {"modelworks_tokens_per_s": [round(x, 1) for x in ours], "hf_trainer_tokens_per_s": [round(x, 1) for x in hf],
              "modelworks_tokens_per_cpu_s": [round(x, 1) for x in ours_cpu],
              "hf_trainer_tokens_per_cpu_s": [round(x, 1) for x in hf_cpu],
              "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3),
              "params": sum(p.numel() for p in base.parameters())}
    print(json.dumps(result, indent=1))
    if args.no_results:
        return
    from train_results import save, write_section

    meta = {"layers": args.layers, "hidden": args.hidden, "vocab": args.vocab, "batch": args.batch, "seq": args.seq,
            "steps": args.steps, "rounds": args.rounds, "threads": args.threads,
            "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
            "load_average_at_start": load_at_start}
    save("train_throughput", {**result, "_meta": meta}, render(result, meta))
    write_section()


def render(result: dict, meta: dict) -> str:
    from modelworks.report import markdown_table

    cols = zip(result["modelworks_tokens_per_s"], result["hf_trainer_tokens_per_s"],
               result["modelworks_tokens_per_cpu_s"], result["hf_trainer_tokens_per_cpu_s"])
    rows = [(f"round {i + 1}", f"{a:.0f}", f"{b:.0f}", f"{a / b:.3f}", f"{c:.0f}", f"{d:.0f}", f"{c / d:.3f}")
            for i, (a, b, c, d) in enumerate(cols)]
    rows.append(("median ratio", "", "", f"{result['ratio']:.3f}", "", "", f"{result['cpu_ratio']:.3f}"))
    return "\n".join([
        "### Training throughput: `modelworks train` vs Hugging Face `Trainer` (CPU)",
        "",
        f"Command: `OMP_NUM_THREADS={meta['threads']} .venv/bin/python benchmarks/train_throughput.py"
        f"{'' if meta['threads'] == 1 else ' --threads ' + str(meta['threads'])}` — random Llama "
        f"{result['params'] / 1e6:.1f}M parameters ({meta['layers']} layers, hidden {meta['hidden']}, vocab "
        f"{meta['vocab']}), batch {meta['batch']} x {meta['seq']} packed tokens, AdamW (torch), clip 1.0, constant lr, "
        f"{meta['steps']} steps per run, {meta['rounds']} alternated rounds in one process, {meta['threads']} torch "
        f"thread(s). Machine: {meta['machine']}, load average at start "
        f"{meta.get('load_average_at_start', 'not recorded')} (wall-clock tokens/s swing with other jobs' load; the "
        "CPU-time rate, tokens per CPU-second of the training loop, is reported beside it).",
        "",
        markdown_table(["run", "modelworks tok/s", "HF tok/s", "wall ratio", "modelworks tok/CPU-s",
                        "HF tok/CPU-s", "CPU ratio"], rows),
        "",
        f"Target >= 1.0x: median per-round ratio **{result['ratio']:.3f}x** wall-clock, "
        f"**{result['cpu_ratio']:.3f}x** per CPU-second.",
    ])


if __name__ == "__main__":
    main()
