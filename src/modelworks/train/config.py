"""The typed training config (`TrainConfig`) and its load-time validation.

Impossible combinations fail when the config is built, with the key and the reason:

- ``lomo`` / ``adalomo`` update each parameter inside ``backward`` (fused), so no gradient
  accumulation (``grad_accum`` must be 1) and no data/pipeline/tensor parallel wrapper that reduces
  gradients after ``backward`` (``parallel`` must be ``none``);
- ``sophia`` needs a second backward through the graph (Hutchinson Hessian) every
  ``optimizer_args.update_period`` steps, which DDP/FSDP/PP do not support: ``parallel`` must be none;
- checkpoints (``save_every``/``resume``) hold the full (unsharded) state; not for ``pp``/``deepspeed``;
- ``tp`` works on Llama-style HF blocks (q/k/v/o and gate/up/down projections), needs heads divisible by
  the tp size and does not combine with PEFT adapters;
- ``pp`` needs a Llama-style model, no PEFT, ``grad_accum`` 1 (micro-batches are ``pp_microbatches``) and
  no evaluation during training.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modelworks.config import check_numbers
from modelworks.errors import ConfigError

__all__ = ["TrainConfig", "PeftSpec", "ParallelPlan", "parse_parallel", "OPTIMIZERS", "FUSED_OPTIMIZERS"]

OPTIMIZERS = ("adamw", "sgd", "lion", "adan", "sophia", "lomo", "adalomo")
FUSED_OPTIMIZERS = ("lomo", "adalomo")
TP_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")


@dataclass
class PeftSpec:
    """Parameter-efficient fine-tuning through the ``peft`` library (``method: none`` trains all weights)."""

    method: Literal["none", "lora", "prefix", "prompt", "p_tuning", "ia3"] = "none"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)  # empty: the attention + MLP projections
    feedforward_modules: list[str] = field(default_factory=list)  # ia3; empty: the MLP projections
    num_virtual_tokens: int = 8  # prefix / prompt / p_tuning
    encoder_hidden_size: int = 64  # p_tuning's prompt encoder
    merge: bool = False  # lora: also save the merged full model at the end

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("r", "num_virtual_tokens"))
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"key 'dropout' must be in [0, 1), got {self.dropout}")
        if self.merge and self.method != "lora":
            raise ConfigError(f"key 'merge' only applies to peft.method=lora, not '{self.method}'")


@dataclass(frozen=True)
class ParallelPlan:
    """Sizes of each parallel dimension; ``dp`` replicates (DDP), ``fsdp`` shards, ``tp``/``pp`` split."""

    dp: int = 1
    fsdp: int = 1
    tp: int = 1
    pp: int = 1
    mode: str = "none"

    @property
    def world(self) -> int:
        return self.dp * self.fsdp * self.tp * self.pp

    @property
    def data_parallel(self) -> int:
        return self.dp * self.fsdp


def parse_parallel(spec: str, world: int | None = None) -> ParallelPlan:
    """``none`` | ``ddp`` | ``fsdp`` | ``tp`` | ``pp`` (all ranks in that dimension) or a mesh ``dp=2,tp=2``.

    In a mesh, ``dp`` shards the data dimension with FSDP2 (``fully_shard`` on the dp sub-mesh), the
    torch-native way to combine data and tensor parallelism. ``world`` fills the single-name modes.
    """
    text = spec.strip().lower().replace(" ", "")
    n = world or 1
    if text in ("none", ""):
        return ParallelPlan(mode="none")
    if text == "ddp":
        return ParallelPlan(dp=n, mode="ddp")
    if text == "fsdp":
        return ParallelPlan(fsdp=n, mode="fsdp")
    if text == "tp":
        return ParallelPlan(tp=n, mode="tp")
    if text == "pp":
        return ParallelPlan(pp=n, mode="pp")
    if text == "deepspeed":
        return ParallelPlan(dp=n, mode="deepspeed")
    sizes: dict[str, int] = {}
    for part in text.split(","):
        key, _, val = part.partition("=")
        if key not in ("dp", "tp") or not val.isdigit() or int(val) < 1:
            raise ConfigError(
                f"key 'parallel' must be none, ddp, fsdp, tp, pp, deepspeed or a mesh like 'dp=2,tp=2', got {spec!r}"
            )
        sizes[key] = int(val)
    return ParallelPlan(fsdp=sizes.get("dp", 1), tp=sizes.get("tp", 1), mode="mesh")


def _model_heads(model: str) -> tuple[str | None, int | None]:
    """(model_type, num_attention_heads) of a tiny spec or a local HF dir; (None, None) when unknown."""
    if model.startswith("tiny"):
        from modelworks.train.modeling import parse_tiny_spec

        return "llama", parse_tiny_spec(model).heads
    cfg = Path(model).expanduser() / "config.json"
    if cfg.is_file():
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None, None
        return data.get("model_type"), data.get("num_attention_heads")
    return None, None


@dataclass
class TrainConfig:
    """Everything one training run needs; see ``configs/train/*.yaml`` for examples."""

    # what to train
    model: str = "tiny"  # 'tiny' or 'tiny:layers=2,hidden=64,heads=4,vocab_size=512', or a local HF dir
    tokenizer: str | None = None  # default: the model's own (tiny: trained on the training texts)
    # data
    data: list[str] = field(default_factory=list)  # JSONL files, or builtin:text / builtin:chat / builtin:instruction
    eval_data: list[str] = field(default_factory=list)
    eval_fraction: float = 0.0  # hold out this share of the training data when eval_data is empty
    data_format: Literal["text", "chat", "instruction"] = "text"
    text_field: str = "text"
    messages_field: str = "messages"
    prompt_field: str = "prompt"
    response_field: str = "response"
    max_len: int = 128
    packing: bool = False
    # optimisation
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer_args: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments of the optimizer
    max_grad_norm: float = 1.0  # 0 disables clipping
    scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # linear/cosine decay ends at lr * min_lr_ratio (HF's cosine_with_min_lr)
    batch_size: int = 8  # per data-parallel rank and micro-step
    grad_accum: int = 1
    max_steps: int = 0  # 0: run `epochs` epochs
    epochs: float = 1.0
    precision: Literal["fp32", "bf16"] = "fp32"
    grad_checkpointing: bool = False
    peft: PeftSpec = field(default_factory=PeftSpec)
    # parallelism
    parallel: str = "none"
    pp_microbatches: int = 2
    pp_schedule: Literal["gpipe", "1f1b"] = "gpipe"
    zero_stage: int = 2  # parallel=deepspeed only
    # bookkeeping
    eval_every: int = 0
    save_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 1
    save_model: bool = True
    resume: str | None = None  # a checkpoint folder, or 'latest' (the newest under <out>/checkpoints)
    out: str | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"key 'optimizer' must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        check_numbers(self, at_least_1=("max_len", "batch_size", "grad_accum", "pp_microbatches", "log_every",
                                        "keep_checkpoints"),
                      at_least_0=("max_steps", "warmup_steps", "eval_every", "save_every", "weight_decay",
                                  "max_grad_norm"), positive=("lr",))
        if not 0.0 <= self.min_lr_ratio < 1.0:
            raise ConfigError(f"key 'min_lr_ratio' must be in [0, 1), got {self.min_lr_ratio}")
        if self.max_steps == 0 and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"key 'epochs' must be positive when max_steps is 0, got {self.epochs}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ConfigError(f"key 'eval_fraction' must be in [0, 1), got {self.eval_fraction}")
        if self.model == "tiny" or self.model.startswith("tiny:"):
            from modelworks.train.modeling import parse_tiny_spec

            parse_tiny_spec(self.model)  # a bad tiny spec fails at load, before the run folder exists
        plan = parse_parallel(self.parallel)
        fused = self.optimizer in FUSED_OPTIMIZERS
        if fused and self.grad_accum > 1:
            raise ConfigError(
                f"key 'grad_accum' must be 1 with optimizer={self.optimizer}: it updates each parameter inside "
                "backward, so gradients are never accumulated"
            )
        if fused and plan.mode != "none":
            raise ConfigError(
                f"key 'parallel' must be none with optimizer={self.optimizer}: its fused update runs before any "
                "gradient reduction across ranks"
            )
        if self.optimizer == "sophia" and plan.mode != "none":
            raise ConfigError("key 'parallel' must be none with optimizer=sophia (its Hessian estimate "
                              "backpropagates through the gradients, which DDP/FSDP/TP/PP do not support here)")
        if (self.save_every or self.resume) and plan.mode in ("pp", "deepspeed"):
            raise ConfigError(f"keys 'save_every'/'resume' are not supported with parallel={self.parallel} "
                              "(the final model is still saved as a full HF directory)")
        if self.optimizer == "sophia" and self.grad_checkpointing:
            raise ConfigError("key 'grad_checkpointing' cannot be used with optimizer=sophia (double backward)")
        if plan.mode == "deepspeed" and self.zero_stage not in (0, 1, 2, 3):
            raise ConfigError(f"key 'zero_stage' must be 0, 1, 2 or 3, got {self.zero_stage}")
        if plan.tp > 1 or plan.mode in ("tp", "mesh"):
            if self.peft.method != "none":
                raise ConfigError(f"key 'peft.method' must be none with parallel={self.parallel} (tensor parallel "
                                  "shards the base projections that adapters wrap)")
            mtype, heads = _model_heads(self.model)
            if mtype is not None and mtype not in TP_MODEL_TYPES:
                raise ConfigError(
                    f"key 'parallel': tensor parallel supports Llama-style blocks ({', '.join(TP_MODEL_TYPES)}), "
                    f"not model_type '{mtype}' of {self.model}"
                )
            if heads is not None and plan.tp > 1 and heads % plan.tp:
                raise ConfigError(f"key 'parallel': tp={plan.tp} must divide the {heads} attention heads")
        if plan.mode == "pp":
            if self.peft.method != "none":
                raise ConfigError("key 'peft.method' must be none with parallel=pp")
            mtype, _ = _model_heads(self.model)
            if mtype is not None and mtype not in TP_MODEL_TYPES:
                raise ConfigError(f"key 'parallel': pipeline parallel supports Llama-style models, not '{mtype}'")
            if self.grad_accum > 1:
                raise ConfigError("key 'grad_accum' must be 1 with parallel=pp (use pp_microbatches)")
            if self.eval_every or self.eval_data or self.eval_fraction:
                raise ConfigError("keys 'eval_every'/'eval_data'/'eval_fraction' are not supported with parallel=pp")
            if self.batch_size % self.pp_microbatches:
                raise ConfigError(f"key 'batch_size' ({self.batch_size}) must be divisible by pp_microbatches "
                                  f"({self.pp_microbatches})")
        if self.peft.method in ("prefix", "prompt", "p_tuning") and self.grad_checkpointing:
            raise ConfigError(f"key 'grad_checkpointing' cannot be combined with peft.method={self.peft.method}")

    @property
    def plan(self) -> ParallelPlan:
        import os

        return parse_parallel(self.parallel, int(os.environ.get("WORLD_SIZE", "1")))
