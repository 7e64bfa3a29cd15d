"""Training-memory estimator per component — the analysis of CoLLiE's paper (RQ1), as a formula.

For ``P`` parameters (``T`` of them trainable) stored in ``w`` bytes each (4 fp32, 2 bf16):

- weights           ``P * w``
- gradients         ``T * w`` — except LOMO/AdaLomo, which hold one parameter's gradient at a time
                    (the largest tensor); AdaLomo's update adds one fp32 temporary of that size (g^2 + eps)
- optimizer states  ``T * w * k`` with ``k`` states per parameter (in the parameter dtype, as our trainer
                    keeps them): adamw 2, sgd 0, lion 1, adan 4 (m, v, n, previous grad), sophia 3
                    (m, h-moment, h), lomo 0; adalomo keeps Adafactor's row + column factors (O(n + m) per
                    matrix, about ``(rows + cols) * 4`` bytes)
- activations       per layer ``s*b*h*(34 + 5*a*s/h) * w/2`` bytes (Korthikanti et al. 2022, no recompute);
                    with gradient checkpointing only the layer inputs (``2*s*b*h*w/2``) plus one layer; plus
                    the logits ``s*b*V*(w + 8)`` (logits, fp32 copy for the loss and its gradient)

Data parallelism with ZeRO stage ``z`` divides states (z >= 1), gradients (z >= 2) and weights (z = 3)
by ``dp``. When only ``P`` is given, a Llama shape is assumed: ``h = (128 P / 12)^(1/3)``, ``L = h / 128``,
32 heads (or h/128), vocab 32000, MLP width 2.6875 h.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from modelworks.errors import UserError

__all__ = ["MemoryEstimate", "estimate_memory", "STATES_PER_PARAM", "model_shape_from_params"]

STATES_PER_PARAM = {"adamw": 2, "sgd": 0, "lion": 1, "adan": 4, "sophia": 3, "lomo": 0, "adalomo": 0}
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass
class MemoryEstimate:
    weights: float
    gradients: float
    optimizer_states: float
    activations: float
    params: float
    trainable_params: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer_states + self.activations

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total": self.total}

    def rows(self) -> list[tuple[str, float]]:
        """(component, MiB) rows for printing."""
        mib = 2**20
        return [("weights", self.weights / mib), ("gradients", self.gradients / mib),
                ("optimizer states", self.optimizer_states / mib), ("activations", self.activations / mib),
                ("total", self.total / mib)]


def model_shape_from_params(params: float) -> dict[str, int]:
    hidden = int(round((128 * params / 12) ** (1 / 3) / 128) * 128) or 128
    layers = max(1, int(round(params / (12 * hidden * hidden))))
    return {"layers": layers, "hidden": hidden, "heads": max(1, hidden // 128), "vocab": 32000,
            "intermediate": int(2.6875 * hidden), "largest": 32000 * hidden}


def estimate_memory(
    params: float,
    optimizer: str = "adamw",
    peft: str = "none",
    dp: int = 1,
    zero: int = 0,
    precision: str = "bf16",
    batch: int = 1,
    seq: int = 2048,
    grad_checkpointing: bool = False,
    layers: int | None = None,
    hidden: int | None = None,
    heads: int | None = None,
    vocab: int | None = None,
    intermediate: int | None = None,
    largest_tensor: float | None = None,
    lora_r: int = 8,
    matrix_dims: list[tuple[int, int]] | None = None,
) -> MemoryEstimate:
    """Bytes per component for training a ``params``-parameter causal LM (see the module docstring)."""
    if optimizer not in STATES_PER_PARAM:
        raise UserError(f"--optimizer must be one of {', '.join(STATES_PER_PARAM)}, got {optimizer!r}")
    if precision not in _BYTES:
        raise UserError(f"--precision must be one of {', '.join(_BYTES)}, got {precision!r}")
    if not (math.isfinite(params) and params > 0):
        raise UserError(f"--params must be a positive number, got {params}")
    for flag, value in (("--dp", dp), ("--batch", batch), ("--seq", seq)):
        if value < 1:
            raise UserError(f"{flag} must be >= 1, got {value}")
    if zero not in (0, 1, 2, 3):
        raise UserError(f"--zero must be one of 0, 1, 2, 3, got {zero}")
    if peft not in ("none", "lora"):
        raise UserError(f"--peft must be none or lora, got {peft!r}")
    guess = model_shape_from_params(params)
    L = layers or guess["layers"]
    h = hidden or guess["hidden"]
    a = heads or max(1, h // 128)
    V = vocab or guess["vocab"]
    inter = intermediate or int(2.6875 * h)
    w = _BYTES[precision]
    if peft == "lora":
        trainable = L * lora_r * (8 * h + 3 * (h + inter))
        largest = lora_r * max(h, inter)
    else:
        trainable = params
        largest = largest_tensor or V * h
    weights = params * w
    fused = optimizer in ("lomo", "adalomo")
    grads = largest * (w + (4 if optimizer == "adalomo" else 0)) if fused else trainable * w
    if optimizer == "adalomo":
        dims = matrix_dims or ([(V, h)] + L * ([(h, h)] * 4 + [(inter, h)] * 3))
        states = sum(r + c for r, c in dims) * 4.0 if peft == "none" else 2 * math.sqrt(trainable) * 4
    else:
        states = trainable * w * STATES_PER_PARAM[optimizer]
    tokens = batch * seq
    per_layer = tokens * h * (34 + 5 * a * seq / h) * w / 2
    acts = (L * 2 * tokens * h * w / 2 + per_layer) if grad_checkpointing else L * per_layer
    acts += tokens * V * (w + 8)
    if dp > 1 and zero >= 1:
        states /= dp
    if dp > 1 and zero >= 2 and not fused:
        grads /= dp
    if dp > 1 and zero >= 3:
        weights /= dp
    return MemoryEstimate(weights=weights, gradients=grads, optimizer_states=states, activations=acts,
                          params=params, trainable_params=trainable)


def estimate_for_model(model, optimizer: str, precision: str = "fp32", batch: int = 1, seq: int = 32,
                       grad_checkpointing: bool = False) -> MemoryEstimate:
    """The estimate for an actual (HF Llama-style) model object: exact parameter counts and shapes."""
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    dims = [tuple(p.shape) if p.dim() == 2 else (p.numel(), 0) for p in trainable]
    est = estimate_memory(
        params, optimizer=optimizer, precision=precision, batch=batch, seq=seq, grad_checkpointing=grad_checkpointing,
        layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=cfg.num_attention_heads, vocab=cfg.vocab_size,
        intermediate=cfg.intermediate_size, largest_tensor=max(p.numel() for p in trainable),
        matrix_dims=[(r, c) for r, c in dims],
    )
    n_train = sum(p.numel() for p in trainable)
    if n_train != params:  # frozen parts (adapters): grads/states only for the trainable ones
        w = _BYTES[precision]
        fused = optimizer in ("lomo", "adalomo")
        extra = 4 if optimizer == "adalomo" else 0
        est.gradients = max(p.numel() for p in trainable) * (w + extra) if fused else n_train * w
        if optimizer != "adalomo":
            est.optimizer_states = n_train * w * STATES_PER_PARAM[optimizer]
        est.trainable_params = n_train
    return est
