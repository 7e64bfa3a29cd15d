"""The small training loop of this package (fine-tuning and unlearning), AdamW + linear schedule.

Unlearning can run either here (``unlearn.engine: loop``, the default: it probes the forget / retain
NLL after every step for the "metrics over steps" plots) or through the CoLLiE engine
``modelworks.train.fit`` (``unlearn.engine: train``: any registered optimizer, PEFT, parallelism), with
the very same method losses. Fine-tuning the target and retain models uses :func:`finetune` below
(early stopping on forget ROUGE needs a per-epoch hook).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from modelworks.errors import UserError
from modelworks.unlearn.qa import QATemplate, collate, encode_qa

__all__ = ["make_optimizer", "run_steps", "finetune", "autocast"]


def autocast(model: Any, precision: str) -> AbstractContextManager[Any]:
    """bf16 mixed precision for the forward passes (weights and optimizer state stay fp32), or nothing."""
    import torch

    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=next(model.parameters()).device.type, dtype=torch.bfloat16)


def make_optimizer(model, lr: float, weight_decay: float, warmup: int, total: int):
    import torch

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)

    def factor(step: int) -> float:  # HF "linear": warm up, then decay to 0
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def run_steps(model, loss_fn: Callable[[Any], tuple[Any, dict[str, float]]], batches: Iterator[Any], steps: int,
              lr: float, weight_decay: float = 0.01, warmup: int = 0, grad_clip: float = 1.0,
              on_step: Callable[[int, dict[str, float]], None] | None = None,
              precision: str = "fp32") -> list[dict[str, float]]:
    """``steps`` optimizer steps of ``loss_fn(batch) -> (loss, logs)``; returns the logged rows."""
    import torch

    model.train()
    opt, sched = make_optimizer(model, lr, weight_decay, warmup, steps)
    rows = []
    for step in range(1, steps + 1):
        with autocast(model, precision):
            loss, logs = loss_fn(next(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        sched.step()
        row = {"loss": float(loss.detach()), "lr": sched.get_last_lr()[0], **logs}
        rows.append(row)
        if on_step:
            on_step(step, row)
    model.eval()
    return rows


def finetune(model, tokenizer, template: QATemplate, rows: Sequence[dict[str, Any]], epochs: int, lr: float,
             batch_size: int = 16, max_length: int = 200, weight_decay: float = 0.01, seed: int = 0,
             warmup_ratio: float = 0.05, on_epoch: Callable[[int, float], bool] | None = None,
             precision: str = "fp32") -> list[float]:
    """Supervised QA fine-tuning (question masked). ``on_epoch(epoch, mean_loss)`` may return True to stop."""
    from modelworks.unlearn.methods._common import mean_nll

    items = [encode_qa(tokenizer, template, r["question"], r["answer"], max_length) for r in rows]
    rng = random.Random(seed)
    window = batch_size * 16
    per_epoch = sum((min(window, len(items) - w) + batch_size - 1) // batch_size for w in range(0, len(items), window))
    total = per_epoch * epochs
    device = next(model.parameters()).device

    def stream():
        # length-bucketed batches: shuffle, sort within windows of 16 batches, shuffle the batches
        # (short real-knowledge QA and long TOFU answers would otherwise pad to the longest)
        while True:
            order = list(range(len(items)))
            rng.shuffle(order)
            window = batch_size * 16
            chunks = []
            for w in range(0, len(order), window):
                part = sorted(order[w : w + window], key=lambda j: len(items[j]["input_ids"]))
                chunks += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
            rng.shuffle(chunks)
            for chunk in chunks:
                b = collate([items[j] for j in chunk], tokenizer.pad_token_id)
                yield {k: v.to(device) for k, v in b.items()}

    batches = stream()
    losses: list[float] = []
    import torch

    model.train()
    opt, sched = make_optimizer(model, lr, weight_decay, int(warmup_ratio * total), total)
    for epoch in range(1, epochs + 1):
        acc = 0.0
        for _ in range(per_epoch):
            with autocast(model, precision):
                loss = mean_nll(model, next(batches))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            acc += float(loss.detach())
        losses.append(acc / per_epoch)
        if not math.isfinite(losses[-1]):
            raise UserError(f"fine-tuning diverged: mean loss {losses[-1]} in epoch {epoch} (lower finetune.lr)")
        if on_epoch and on_epoch(epoch, losses[-1]):
            break
    model.eval()
    return losses
