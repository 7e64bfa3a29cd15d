"""The training recipe, top to bottom: setup -> parallelize -> loop (step, log, eval, checkpoint) -> save -> report."""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelworks.errors import UserError

__all__ = ["fit", "FitResult", "build_scheduler", "token_loss_sum", "evaluate_loss"]


@dataclass
class FitResult:
    """What :func:`fit` hands back. ``model`` is the trained (unwrapped; PEFT-wrapped under peft, merged when
    ``peft.merge``) model, ``out_dir`` the run folder, ``metrics`` the final numbers (also in results.json)."""

    model: Any
    tokenizer: Any
    out_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    saved: dict[str, Path] = field(default_factory=dict)  # 'model' / 'adapter' / 'merged' -> folder


def build_scheduler(optimizer, kind: str, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0):
    """Linear warmup, then constant, linear decay or cosine decay to ``lr * min_lr_ratio`` (a ``LambdaLR``)."""
    import torch

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if kind == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        progress = min(max(progress, 0.0), 1.0)
        decay = 1.0 - progress if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return min_lr_ratio + (1.0 - min_lr_ratio) * decay

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def token_loss_sum(model, batch):
    """Summed next-token cross-entropy over target tokens (labels != -100) and the number of them.

    Prompt-style adapters (prompt tuning, P-tuning) prepend virtual tokens to the output; their logits are
    dropped here, which is the same as giving them -100 labels.
    """
    import torch.nn.functional as F

    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = out.logits if hasattr(out, "logits") else out
    labels = batch["labels"]
    if logits.shape[1] > labels.shape[1]:
        logits = logits[:, -labels.shape[1]:]
    # shift the labels left (pad the end with -100) rather than slicing the logits: no copy of the logits
    shift_labels = F.pad(labels[:, 1:], (0, 1), value=-100)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), shift_labels.reshape(-1),
                           ignore_index=-100, reduction="sum")
    return loss, int((shift_labels != -100).sum())


def _to_device(batch, device):
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _targets(batch) -> int:
    """Number of loss-bearing (shifted) tokens in a default batch; 0 for custom nested batches."""
    if isinstance(batch, dict) and "labels" in batch:
        return int((batch["labels"][:, 1:] != -100).sum())
    return 0


def _tokens(batch) -> int:
    if isinstance(batch, dict) and "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    if isinstance(batch, dict):
        return sum(_tokens(v) for v in batch.values() if isinstance(v, dict))
    return 0


def _unpack(out) -> tuple[Any, dict[str, float]]:
    if isinstance(out, tuple):
        loss, logs = out
        return loss, {k: float(v) for k, v in (logs or {}).items()}
    return out, {}


def evaluate_loss(module, examples: Sequence[Any], collate_fn: Callable, device, batch_size: int,
                  loss_fn: Callable | None = None) -> float:
    """Token-mean loss over ``examples`` (or the mean of ``loss_fn`` over batches)."""
    import torch

    was_training = module.training
    module.eval()
    total, count, losses = 0.0, 0, []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = _to_device(collate_fn(list(examples[i:i + batch_size])), device)
            if loss_fn is not None:
                loss, _ = _unpack(loss_fn(module, batch))
                losses.append(float(loss))
            else:
                s, n = token_loss_sum(module, batch)
                total, count = total + float(s), count + n
    module.train(was_training)
    if loss_fn is not None:
        return sum(losses) / max(1, len(losses))
    return total / max(1, count)


def _split_eval(records: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    k = max(1, int(len(records) * fraction))
    held = set(order[:k])
    return [r for i, r in enumerate(records) if i not in held], [records[i] for i in sorted(held)]


def _is_raw(items: Sequence[Any]) -> bool:
    return bool(items) and isinstance(items[0], dict) and "input_ids" not in items[0] and not all(
        isinstance(v, dict) and "input_ids" in v for v in items[0].values())


def fit(cfg, *, model=None, tokenizer=None, train_dataset: Sequence[Any] | None = None,
        eval_dataset: Sequence[Any] | None = None, loss_fn: Callable | None = None, run=None,
        collate_fn: Callable | None = None) -> FitResult:
    """Train according to ``cfg`` (a :class:`~modelworks.train.TrainConfig`); see the package docstring.

    ``model``/``tokenizer``: an already-built model (trained in place) and its tokenizer; otherwise ``cfg.model``.
    ``train_dataset``/``eval_dataset``: raw records, tokenized examples or dicts of them; otherwise ``cfg.data``.
    ``loss_fn(model, batch) -> loss | (loss, {name: float})``: replaces the token-mean cross-entropy.
    ``run``: an open :class:`~modelworks.runs.Run` to log into (metrics.jsonl, checkpoints/, model/); the final
    numbers then go to ``train_results.json`` and results.json / report.md are left to the caller.
    ``collate_fn``: replaces :func:`~modelworks.train.data.collate` (list of examples -> batch); with ``model``
    given too, the records are not tokenized but handed to ``collate_fn`` as they are (any Python objects).
    """
    import torch
    import torch.distributed as dist

    from modelworks.env import seed_everything
    from modelworks.runs import Run
    from modelworks.train.adapters import apply_peft
    from modelworks.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
    from modelworks.train.data import BatchPlan, collate, read_records, record_texts, tokenize_records
    from modelworks.train.distributed import deepspeed_initialize, init_distributed, parallelize
    from modelworks.train.modeling import load_model_and_tokenizer
    from modelworks.train.monitors import Monitor, StepTimer, peak_memory_mb
    from modelworks.train.optimizers import build_optimizer, hessian_due, is_fused

    # ---- setup ---------------------------------------------------------------------------------
    plan = cfg.plan
    if plan.mode == "deepspeed":  # fail before any work when the optional backend is missing
        from modelworks.errors import require

        require("deepspeed", "deepspeed", "parallel=deepspeed (ZeRO)")
    env = init_distributed(cfg.device)
    seed_everything(cfg.seed)
    # the data is read (and checked) and the model loaded before the run folder is created
    train_records = list(train_dataset) if train_dataset is not None else read_records(cfg.data, cfg)
    if not train_records:
        raise UserError("no training data: set 'data' to JSONL file(s) or builtin:text|chat|instruction")
    if eval_dataset is not None:
        eval_records = list(eval_dataset)
    elif cfg.eval_data:
        eval_records = read_records(cfg.eval_data, cfg)
    elif cfg.eval_fraction > 0:
        train_records, eval_records = _split_eval(train_records, cfg.eval_fraction, cfg.seed)
    else:
        eval_records = []
    custom = model is not None and collate_fn is not None  # the caller's own records and batches
    if model is None:
        texts = record_texts(train_records, cfg) if _is_raw(train_records) else None
        model, tokenizer = load_model_and_tokenizer(cfg.model, cfg.tokenizer, texts, seed=cfg.seed)
    elif not custom and tokenizer is None and (_is_raw(train_records) or _is_raw(eval_records)):
        raise UserError("fit(model=...) with raw records also needs tokenizer=... (or a collate_fn for them)")
    if custom:  # records go to collate_fn as they are
        train_examples, eval_examples = train_records, eval_records
    else:
        train_examples = tokenize_records(train_records, tokenizer, cfg, "data")
        eval_examples = tokenize_records(eval_records, tokenizer, cfg, "eval_data")
    # the run folder is made only now: bad data, a missing model or a bad record has failed by here
    own_run = run is None
    if run is None:
        run = Run.create("train", config=cfg, out=cfg.out, seed=cfg.seed, resume=bool(cfg.resume))
    if env.distributed and cfg.out is None:  # every rank uses rank 0's timestamped folder (checkpoints, resume)
        shared = [str(run.dir)]
        dist.broadcast_object_list(shared, src=0)
        run.dir = Path(shared[0])
    pad_id = (tokenizer.pad_token_id if tokenizer is not None and tokenizer.pad_token_id is not None else 0)
    pad_to = cfg.max_len if plan.mode == "pp" else None
    if collate_fn is None:
        def collate_fn(items, _pad=pad_id, _to=pad_to):
            batch = collate(items, _pad)
            if _to is not None and batch["input_ids"].shape[1] < _to:
                extra = _to - batch["input_ids"].shape[1]
                pad = torch.nn.functional.pad
                batch = {"input_ids": pad(batch["input_ids"], (0, extra), value=_pad),
                         "attention_mask": pad(batch["attention_mask"], (0, extra), value=0),
                         "labels": pad(batch["labels"], (0, extra), value=-100)}
            return batch

    if cfg.grad_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "config"):
            model.config.use_cache = False
    model = apply_peft(model, cfg.peft)
    if cfg.grad_checkpointing and cfg.peft.method != "none" and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float32
    model.to(device=env.device, dtype=dtype)
    model.train()

    par = parallelize(model, plan, env, cfg)
    params = [p for p in par.module.parameters() if p.requires_grad]
    if not params:
        raise UserError("the model has no trainable parameters")
    opt_args = dict(cfg.optimizer_args)
    if cfg.optimizer in ("adamw", "sgd") and plan.mode in ("tp", "mesh", "pp"):
        opt_args.setdefault("foreach", False)  # DTensor and plain tensors do not mix in one foreach group
    fused = cfg.optimizer in ("lomo", "adalomo")
    optimizer = build_optimizer(cfg.optimizer, par.module if fused else params, lr=cfg.lr,
                                weight_decay=cfg.weight_decay, **opt_args)
    fused = is_fused(optimizer)  # also true for a user-registered fused-update optimizer
    if par.mode == "deepspeed":
        par = deepspeed_initialize(par, optimizer, cfg)

    batches = BatchPlan(len(train_examples), cfg.batch_size, par.dp_size, par.dp_rank, cfg.seed)
    steps_per_epoch = batches.batches_per_epoch // cfg.grad_accum
    if steps_per_epoch < 1:
        raise UserError(f"one optimizer step needs {cfg.grad_accum} batches but an epoch has "
                        f"{batches.batches_per_epoch}; lower grad_accum or batch_size")
    total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    scheduler = build_scheduler(optimizer, cfg.scheduler, cfg.warmup_steps, total_steps, cfg.min_lr_ratio)
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "tokens": 0}
    ckpt_dir = run.path("checkpoints")
    if cfg.resume:
        folder = latest_checkpoint(ckpt_dir) if cfg.resume == "latest" else Path(cfg.resume)
        if folder is None:
            raise UserError(f"key 'resume': no checkpoint under {ckpt_dir}")
        sharded = par.mode in ("fsdp", "tp", "mesh")
        state = load_checkpoint(folder, par.module if sharded else par.base, optimizer, scheduler, sharded=sharded)
        if env.is_main:  # the steps after the checkpoint are trained again: their old rows go
            run.drop_metrics_after(state["step"])

    monitor = Monitor(run, total_steps, env.is_main, cfg.tensorboard, cfg.progress, state["step"])
    timer = StepTimer(env.device)
    history: list[dict[str, Any]] = []
    first_loss = None
    t_start, cpu_start = time.perf_counter(), time.process_time()
    warnings.filterwarnings("ignore", message=".*create_graph=True.*")
    warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*before.*optimizer.step.*")  # LOMO: no step()

    # ---- loop ----------------------------------------------------------------------------------
    while state["step"] < total_steps:
        micro, samples = [], 0
        for _ in range(cfg.grad_accum):
            if state["batch"] >= batches.batches_per_epoch:
                state["epoch"], state["batch"] = state["epoch"] + 1, 0
            idx = batches.indices(state["epoch"], state["batch"])
            state["batch"] += 1
            samples += len(idx)
            micro.append(_to_device(collate_fn([train_examples[i] for i in idx]), env.device))
        lr = optimizer.param_groups[0]["lr"]
        timer.start()
        if par.mode == "pp":
            loss_val, gnorm, logs = _pipeline_step(par, micro[0], optimizer, params, cfg, env)
        else:
            loss_val, gnorm, logs = _step(par, micro, optimizer, params, cfg, loss_fn, lr, fused,
                                          hessian_due(optimizer))
        scheduler.step()
        dt = timer.stop()
        state["step"] += 1
        tokens = sum(_tokens(b) for b in micro) * max(1, par.dp_size)
        state["tokens"] += tokens
        first_loss = loss_val if first_loss is None else first_loss
        row = {"loss": loss_val, "lr": lr, "grad_norm": gnorm,  # tokens: None for custom batches without any
               "tokens_per_s": tokens / dt if dt > 0 and tokens else None,
               "samples_per_s": samples * max(1, par.dp_size) / dt if dt > 0 else None,
               "peak_mem_mb": peak_memory_mb(env.device), "step_time": dt, "epoch": state["epoch"], **logs}
        if cfg.eval_every and eval_examples and state["step"] % cfg.eval_every == 0:
            row["eval_loss"] = evaluate_loss(par.module, eval_examples, collate_fn, env.device, cfg.batch_size,
                                             loss_fn)
        diverged = math.isnan(loss_val) or loss_val == math.inf
        if state["step"] % cfg.log_every == 0 or state["step"] == total_steps or "eval_loss" in row or diverged:
            monitor.log(state["step"], **row)
        history.append({"step": state["step"], **row})
        if diverged and env.world == 1:  # with several processes the ranks would have to agree first
            monitor.close()
            raise UserError(f"training diverged: loss {loss_val} at step {state['step']} (lower lr; the run folder "
                            "keeps the metrics and any checkpoint saved before)")
        monitor.advance(state["step"], loss_val)
        if cfg.save_every and state["step"] % cfg.save_every == 0 and state["step"] < total_steps:
            sharded = par.mode in ("fsdp", "tp", "mesh")
            if env.is_main or sharded:
                save_checkpoint(ckpt_dir / f"step-{state['step']:08d}", par.module if sharded else par.base,
                                optimizer, scheduler, dict(state), keep=cfg.keep_checkpoints, sharded=sharded,
                                is_main=env.is_main)
            if env.distributed:
                dist.barrier()
    monitor.close()
    train_time, train_cpu = time.perf_counter() - t_start, time.process_time() - cpu_start

    # ---- save + report -------------------------------------------------------------------------
    eval_loss = None
    if eval_examples and par.mode != "pp":
        eval_loss = evaluate_loss(par.module, eval_examples, collate_fn, env.device, cfg.batch_size, loss_fn)
    n_params = sum(p.numel() for p in par.base.parameters())
    n_train = sum(p.numel() for p in par.base.parameters() if p.requires_grad)
    if par.mode == "pp":  # each rank holds one stage: count the whole model once (DTensor numel is global)
        n_params = n_train = _pipeline_param_count(par)
    final_model, saved = _save_final(par, tokenizer, run, cfg, env)
    measured = [h for h in history if h.get("tokens_per_s")]
    metrics = {
        "steps": state["step"], "first_loss": first_loss, "final_loss": history[-1]["loss"] if history else None,
        "eval_loss": eval_loss,
        "tokens_per_s": (sum(h["tokens_per_s"] for h in measured) / len(measured)) if measured else None,
        "peak_mem_mb": peak_memory_mb(env.device), "train_time_s": train_time,
        "train_cpu_time_s": train_cpu,
        "trainable_params": n_train, "total_params": n_params, "world_size": env.world,
        "optimizer": cfg.optimizer, "peft": cfg.peft.method, "parallel": cfg.parallel,
    }
    if own_run:
        run.write_results(metrics)
        if env.is_main:
            _write_report(run, cfg, metrics, history)
    else:  # the caller's run owns results.json / report.md
        run.write_json("train_results.json", metrics)
    if own_run:
        run.close()
    return FitResult(model=final_model, tokenizer=tokenizer, out_dir=run.dir, metrics=metrics, history=history,
                     saved=saved)


def _step(par, micro, optimizer, params, cfg, loss_fn, lr, fused, hessian_step):
    """One optimizer step over ``grad_accum`` micro-batches; returns (loss, grad_norm, extra logs)."""
    import torch
    import torch.distributed as dist

    from modelworks.train.distributed import grad_norm_and_clip
    from modelworks.train.optimizers import fused_backward

    module = par.module
    n_global = 0
    if loss_fn is None:
        n = torch.tensor(float(sum(_targets(b) for b in micro)))
        if par.dp_group is not None:
            dist.all_reduce(n, group=par.dp_group)
        n_global = max(1.0, float(n))
    total = torch.zeros(())
    logs_sum: dict[str, float] = {}
    gnorm = None
    last = len(micro) - 1
    for i, batch in enumerate(micro):
        if par.mode == "ddp" and i < last:
            ctx = module.no_sync()
        else:
            ctx = nullcontext()
        if par.mode in ("fsdp", "mesh") and hasattr(module, "set_requires_gradient_sync"):
            module.set_requires_gradient_sync(i == last)
        with ctx, _double_backward_attention(hessian_step):
            if loss_fn is not None:
                loss, logs = _unpack(loss_fn(module, batch))
                scaled = loss / len(micro)
                report = scaled.detach().float()
                for k, v in logs.items():
                    logs_sum[k] = logs_sum.get(k, 0.0) + v / len(micro)
            else:
                s, _ = token_loss_sum(module, batch)
                # DDP/FSDP average gradients over dp ranks: scale so the result is the global token mean
                scaled = s / n_global * max(1, par.dp_size)
                report = (s.detach() / n_global).float()
            if fused:
                gnorm = fused_backward(optimizer, scaled, lr, cfg.max_grad_norm)
            elif par.mode == "deepspeed":  # pragma: no cover - needs [deepspeed]
                par.engine.backward(scaled)
            else:
                scaled.backward(create_graph=hessian_step)
            total += report.cpu()
    if not fused:
        if par.mode == "deepspeed":  # pragma: no cover
            par.engine.step()
            gnorm = par.engine.get_global_grad_norm()
        else:
            with torch.no_grad():
                gnorm = grad_norm_and_clip(params, 0.0 if hessian_step else cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    if par.dp_group is not None:
        dist.all_reduce(total, group=par.dp_group)
        if loss_fn is not None:
            total /= par.dp_size
    return float(total), (float(gnorm) if gnorm is not None else None), logs_sum


def _double_backward_attention(enabled: bool):
    """Sophia's Hessian-vector product differentiates the backward pass; the fused (flash) SDPA kernels have
    no double backward, the math kernel does."""
    if not enabled:
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def _pipeline_step(par, batch, optimizer, params, cfg, env):
    """One GPipe/1F1B step: first stage feeds inputs, last stage computes the loss; tied embeddings synced."""
    import torch
    import torch.distributed as dist

    sched = par.schedule
    losses: list[Any] = []
    if par.is_first_stage:
        sched.step(batch["input_ids"])
    elif par.is_last_stage:
        sched.step(target=batch["labels"], losses=losses)
    else:
        sched.step()
    if par.tied_param is not None and par.tied_param.grad is not None:
        dist.all_reduce(par.tied_param.grad, group=par.tied_group)
    sq = torch.zeros(())
    for p in params:
        if p.grad is not None and not (par.tied_param is not None and p is par.tied_param and par.is_last_stage):
            sq += p.grad.detach().float().pow(2).sum().cpu()
    dist.all_reduce(sq)
    norm = float(sq.sqrt())
    if cfg.max_grad_norm > 0 and norm > cfg.max_grad_norm:
        coef = cfg.max_grad_norm / (norm + 1e-6)
        for p in params:
            if p.grad is not None:
                p.grad.mul_(coef)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    loss = torch.zeros(())
    if par.is_last_stage and losses:
        loss = torch.stack([x.detach().float().cpu() for x in losses]).mean()
    dist.all_reduce(loss)
    return float(loss), norm, {}


def _pipeline_param_count(par) -> int:
    import torch
    import torch.distributed as dist

    tied = par.tied_param.numel() if par.tied_param is not None and par.is_last_stage else 0
    mine = torch.tensor([float(sum(p.numel() for p in par.module.parameters()) - tied)])
    dist.all_reduce(mine)
    return int(mine)


def _save_final(par, tokenizer, run, cfg, env):
    """Save the trained model: full weights (HF dir), or the adapter (+ merged LoRA) under PEFT."""
    import torch.distributed as dist

    from modelworks.train.adapters import merge_lora, save_adapter

    saved: dict[str, Path] = {}
    model = par.base
    if not cfg.save_model:
        return model, saved
    if par.mode in ("none", "ddp", "deepspeed"):
        if env.is_main:
            if cfg.peft.method != "none":
                saved["adapter"] = save_adapter(model, run.path("adapter"))
                if cfg.peft.merge:
                    model = merge_lora(model)
                    model.save_pretrained(run.path("merged"), safe_serialization=True)
                    saved["merged"] = run.path("merged")
            else:
                model.save_pretrained(run.path("model"), safe_serialization=True)
                saved["model"] = run.path("model")
            if tokenizer is not None:
                for key in saved:
                    tokenizer.save_pretrained(saved[key])
        if env.distributed:
            dist.barrier()
        return model, saved
    # sharded or split layouts: gather a full state dict on rank 0 and save an ordinary HF directory
    if par.mode == "pp":
        mine = {par.owned_names[id(p)]: p.detach().cpu() for p in par.module.parameters()}
        gathered: list[Any] = [None] * env.world if env.is_main else []
        dist.gather_object(mine, gathered if env.is_main else None, dst=0)
        full = {}
        if env.is_main:
            full = dict(model.state_dict())
            for part in gathered:
                full.update(part)
    else:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(par.module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if env.is_main:
        from transformers import AutoModelForCausalLM

        plain = AutoModelForCausalLM.from_config(model.config)
        plain.load_state_dict({k: v.float() if cfg.precision == "fp32" else v for k, v in full.items()}, strict=False)
        plain.save_pretrained(run.path("model"), safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(run.path("model"))
        saved["model"] = run.path("model")
        model = plain
    dist.barrier()
    return model, saved


def _write_report(run, cfg, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
    from modelworks.report import fmt, line_plot, markdown_table

    rows = [(k, fmt(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()]
    text = [f"# modelworks train: {cfg.model}", "", markdown_table(["metric", "value"], rows), ""]
    if len(history) > 1:
        try:
            line_plot({"train loss": ([h["step"] for h in history], [h["loss"] for h in history])},
                      run.path("loss.png"), title="training loss", xlabel="step", ylabel="loss")
            text += ["![loss](loss.png)", ""]
        except Exception:  # noqa: BLE001 - a plot must never fail a finished run
            pass
    run.write_report("\n".join(text))
