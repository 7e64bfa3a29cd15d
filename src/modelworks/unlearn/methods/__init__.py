"""Unlearning methods: one registry, one small module each.

A method is a loss over one batch ``{"forget", "retain", "target", "lose"}`` (each a collated QA batch,
see :mod:`modelworks.unlearn.batches`): ``loss(model, batch, ref_model, cfg) -> (tensor, logs)``.
``target`` holds the method's new answers (MEOW: inverted facts; IdK/DPO: "I don't know" answers).

| name | forget term | retain term (default) | reference model |
|---|---|---|---|
| ``meow`` | NLL on MEMO-selected inverted answers | none (``nll``/``kl`` variants) | only for ``kl`` |
| ``ga``   | -NLL on forget answers | none | only for ``kl`` |
| ``gd``   | -NLL on forget answers | NLL on retain | no |
| ``kl``   | -NLL on forget answers | KL(ref ‖ model) on retain | yes |
| ``idk``  | NLL on "I don't know" answers | NLL on retain | no |
| ``dpo``  | DPO: IdK answer preferred over the true answer | NLL on retain | yes |
| ``npo``  | -(2/β)·logσ(β·(NLL_θ - NLL_ref)) on forget | NLL on retain | yes |

Register a new one with ``@register_method("name", needs_ref=..., target=...)`` next to its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelworks.errors import UserError

__all__ = ["Method", "register_method", "get_method", "method_names", "MethodConfig"]


@dataclass
class MethodConfig:
    """Hyper-parameters shared by the methods (open-unlearning defaults: β=0.1, γ=α=1)."""

    beta: float = 0.1
    forget_weight: float = 1.0
    retain_weight: float = 1.0
    retain_loss: str | None = None  # none | nll | kl ; None = the method's default


@dataclass(frozen=True)
class Method:
    name: str
    loss: Callable[..., Any]
    needs_ref: bool
    target: str | None  # None | "inverted" | "idk"
    default_retain: str
    probe: str  # which NLL the method must move: "forget_up" or "target_down"

    def retain_kind(self, cfg: MethodConfig) -> str:
        kind = cfg.retain_loss or self.default_retain
        if kind not in ("none", "nll", "kl"):
            raise UserError(f"retain_loss '{kind}' is not one of none, nll, kl")
        return kind

    def uses_ref(self, cfg: MethodConfig) -> bool:
        return self.needs_ref or self.retain_kind(cfg) == "kl"


_REGISTRY: dict[str, Method] = {}


def register_method(name: str, *, needs_ref: bool = False, target: str | None = None, default_retain: str = "none",
                    probe: str = "forget_up") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"unlearning method '{name}' is already registered")
        _REGISTRY[name] = Method(name, fn, needs_ref, target, default_retain, probe)
        return fn

    return deco


def _load_builtin() -> None:
    from modelworks.unlearn.methods import dpo, ga, idk, meow, npo  # noqa: F401


def get_method(name: str) -> Method:
    _load_builtin()
    if name not in _REGISTRY:
        raise UserError(f"unknown unlearning method '{name}'; choose from {', '.join(method_names())}")
    return _REGISTRY[name]


def method_names() -> list[str]:
    _load_builtin()
    return list(_REGISTRY)
