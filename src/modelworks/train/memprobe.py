"""Measure the peak training memory of one optimizer in a fresh process (CPU RSS, or CUDA max allocated).

``python -m modelworks.train.memprobe '{"optimizer": "adamw", "hidden": 512, ...}'`` prints one JSON line.
:func:`measure` runs that in a subprocess with glibc malloc set to return freed blocks to the OS
(``MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0``), so the resident set tracks live tensors.

Protocol (CPU): import torch/transformers and run one forward/backward of a throwaway 1-layer model (so the
framework's own runtime — thread pools, lazily loaded kernels — is in the baseline); read ``VmRSS`` as
the baseline; build the random Llama, the adapter and the optimizer; run one warm-up step (allocates
optimizer state); reset the high-water mark (``/proc/self/clear_refs``); run ``steps`` steps; report
``VmHWM - baseline``. The model is what training holds: weights, gradients, optimizer states, activations.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["measure", "probe"]

DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw", "peft": "none", "layers": 8, "hidden": 1024, "heads": 8, "vocab": 8192,
    "intermediate": None, "batch": 1, "seq": 32, "steps": 3, "lr": 1e-4, "threads": 2, "device": "cpu",
    "precision": "fp32", "tie": False, "seed": 0,
}


def _status(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{key} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the protocol in *this* process (use :func:`measure` for a fresh one)."""
    import time

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from modelworks.train.adapters import apply_peft
    from modelworks.train.config import PeftSpec
    from modelworks.train.estimate import estimate_for_model
    from modelworks.train.optimizers import build_optimizer, fused_backward, hessian_due
    from modelworks.train.trainer import token_loss_sum

    s = {**DEFAULTS, **spec}
    torch.set_num_threads(int(s["threads"]))
    cuda = s["device"] == "cuda"
    dev = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if s["precision"] == "bf16" else torch.float32

    def make(layers, hidden, heads, vocab, inter):
        cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter or 4 * hidden,
                          num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                          max_position_embeddings=max(64, s["seq"]), tie_word_embeddings=bool(s["tie"]))
        return LlamaForCausalLM(cfg)

    warm = make(1, 64, 2, 128, 128)  # load the runtime: kernels, thread pools, autograd engine
    ids = torch.randint(0, 128, (1, 16))
    token_loss_sum(warm, {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids})[0].backward()
    del warm, ids
    gc.collect()
    base = torch.cuda.memory_allocated() / 2**20 if cuda else _status("VmRSS")

    torch.manual_seed(int(s["seed"]))
    model = make(s["layers"], s["hidden"], s["heads"], s["vocab"], s["intermediate"]).to(dev, dtype)
    model.train()
    model = apply_peft(model, PeftSpec(method=s["peft"], r=8))
    fused = s["optimizer"] in ("lomo", "adalomo")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(s["optimizer"], model if fused else params, lr=float(s["lr"]))
    g = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, s["vocab"], (s["batch"], s["seq"]), generator=g).to(dev) for _ in range(s["steps"] + 1)]
    losses: list[float] = []
    times: list[float] = []

    def step(ids):
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
        t0 = time.perf_counter()
        from modelworks.train.trainer import _double_backward_attention

        with _double_backward_attention(hessian_due(opt)):
            total, n = token_loss_sum(model, batch)
        loss = total / n
        if fused:
            fused_backward(opt, loss, float(s["lr"]))
        else:
            loss.backward(create_graph=hessian_due(opt))
            opt.step()
            opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))

    step(batches[0])  # warm-up: allocates optimizer state
    gc.collect()
    resident = (torch.cuda.memory_allocated() / 2**20 if cuda else _status("VmRSS")) - base
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    else:
        _reset_peak()
    for ids in batches[1:]:
        step(ids)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda else _status("VmHWM")) - base
    est = estimate_for_model(model, s["optimizer"], precision=s["precision"], batch=s["batch"], seq=s["seq"])
    tokens = s["batch"] * s["seq"]
    return {
        "optimizer": s["optimizer"], "peft": s["peft"], "params": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in params), "baseline_mb": base, "resident_mb": resident, "peak_mb": peak,
        "estimate_mb": est.total / 2**20, "estimate": {k: v / 2**20 for k, v in est.as_dict().items()
                                                     if k not in ("params", "trainable_params")},
        "losses": losses, "tokens_per_s": tokens / (sum(times[1:]) / max(1, len(times) - 1)),
        "device": str(dev), "precision": s["precision"],
    }


def measure(spec: dict[str, Any], timeout: float = 600, nice: int = 0) -> dict[str, Any]:
    """:func:`probe` in a fresh Python process (one per optimizer, so peaks do not mix)."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0",
           "OMP_NUM_THREADS": str(spec.get("threads", DEFAULTS["threads"]))}
    cmd = [sys.executable, "-m", "modelworks.train.memprobe", json.dumps(spec)]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"memprobe failed for {spec}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(probe(json.loads(sys.argv[1]))))
