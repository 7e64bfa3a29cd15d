"""Optimizers by name: adamw, sgd (torch), lion, adan, sophia, lomo, adalomo (pytorch-optimizer).

Two kinds need the trainer's help, and :func:`fused_backward` / :func:`hessian_due` give it:

- **lomo / adalomo** (LOMO, arXiv 2306.09782; AdaLomo, arXiv 2310.10195) update each parameter inside
  ``backward`` from a post-accumulate-grad hook and drop its gradient at once, so a full gradient never
  exists. Consequences, checked at config load: no gradient accumulation, no gradient reduction across
  ranks (``parallel: none``); clipping by global norm costs a second backward (``grad_norm`` pass first).
  LOMO is SGD without momentum; AdaLomo is Adafactor's factored second moment with update clipping.
- **sophia** (pytorch-optimizer ``SophiaH``: Sophia with a Hutchinson Hessian-diagonal estimate) refreshes
  its estimate every ``update_period`` steps from Hessian-vector products, so on those steps the trainer
  runs ``backward(create_graph=True)``.

Users plug in more with ``@register_optimizer("name")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from modelworks.errors import ConfigError

__all__ = ["build_optimizer", "register_optimizer", "OPTIMIZER_REGISTRY", "is_fused", "hessian_due", "fused_backward"]

OPTIMIZER_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_optimizer(name: str):
    """Decorator: ``fn(params_or_model, lr=..., weight_decay=..., **kw) -> torch.optim.Optimizer``."""

    def deco(fn):
        if name in OPTIMIZER_REGISTRY:
            raise ValueError(f"optimizer '{name}' is already registered")
        OPTIMIZER_REGISTRY[name] = fn
        return fn

    return deco


def _params(obj):
    import torch

    if isinstance(obj, torch.nn.Module):
        return [p for p in obj.parameters() if p.requires_grad]
    return [p for p in obj if getattr(p, "requires_grad", True)] if not _is_groups(obj) else obj


def _is_groups(obj) -> bool:
    return isinstance(obj, list) and bool(obj) and isinstance(obj[0], dict)


def _module(obj):
    """LOMO-style optimizers hook a module's parameters; wrap a bare parameter list in one."""
    import torch

    if isinstance(obj, torch.nn.Module):
        return obj
    holder = torch.nn.Module()
    holder.params = torch.nn.ParameterList([p for p in obj if p.requires_grad])
    return holder


@register_optimizer("adamw")
def _adamw(params, lr: float, weight_decay: float = 0.0, **kw):
    import torch

    return torch.optim.AdamW(_params(params), lr=lr, weight_decay=weight_decay, **kw)


@register_optimizer("sgd")
def _sgd(params, lr: float, weight_decay: float = 0.0, **kw):
    import torch

    return torch.optim.SGD(_params(params), lr=lr, weight_decay=weight_decay, **kw)


def _cpu_foreach_off(params: list, kw: dict) -> dict:
    """pytorch-optimizer turns its batched (foreach) update on for CPU tensors too, where it materialises
    whole-model temporaries (measured: Lion's peak +2x the weights on a 107M model); use the per-tensor
    loop on CPU unless the caller asks otherwise."""
    flat = [p for g in params for p in g["params"]] if _is_groups(params) else params
    if "foreach" not in kw and flat and all(not p.is_cuda for p in flat):
        kw = {**kw, "foreach": False}
    return kw


@register_optimizer("lion")
def _lion(params, lr: float, weight_decay: float = 0.0, **kw):
    from pytorch_optimizer import Lion

    params = _params(params)
    return Lion(params, lr=lr, weight_decay=weight_decay, **_cpu_foreach_off(params, kw))


@register_optimizer("adan")
def _adan(params, lr: float, weight_decay: float = 0.0, **kw):
    from pytorch_optimizer import Adan

    params = _params(params)
    return Adan(params, lr=lr, weight_decay=weight_decay, **_cpu_foreach_off(params, kw))


@register_optimizer("sophia")
def _sophia(params, lr: float, weight_decay: float = 0.0, **kw):
    from pytorch_optimizer import SophiaH

    kw.setdefault("update_period", 10)
    params = _params(params)
    return SophiaH(params, lr=lr, weight_decay=weight_decay, **_cpu_foreach_off(params, kw))


def _lomo_class():
    import torch
    from pytorch_optimizer import LOMO

    class AuthorsLOMO(LOMO):
        """pytorch-optimizer's LOMO with the LOMO authors' overflow rule: the inf/NaN check (three byte masks
        per element of the tensor being updated) runs only under fp16 loss scaling, as in OpenLMLab/LOMO;
        pytorch-optimizer runs it on every gradient. Everything else is the library's."""

        def fuse_update(self):
            library_update = super().fuse_update()

            @torch.no_grad()
            def update(x, params=None):
                if self.loss_scaler is not None:  # fp16: the library's path with its overflow handling
                    return library_update(x, params)
                for p in self.model.parameters() if params is None else params:
                    if not p.requires_grad or p.grad is None:
                        continue
                    grad = p.grad.to(torch.float32)
                    p.grad = None
                    if self.gather_norm:  # first pass of clipping: only measure
                        self.grad_norms.append(torch.norm(grad, 2.0))
                        continue
                    if self.clip_grad_value is not None and self.clip_grad_value > 0.0:
                        grad.clamp_(min=-self.clip_grad_value, max=self.clip_grad_value)
                    if self.clip_grad_norm is not None and self.clip_grad_norm > 0.0 and self.clip_coef is not None:
                        grad.mul_(self.clip_coef)
                    if self.maximize:
                        grad.neg_()
                    if p.dtype == torch.float32:
                        p.add_(grad, alpha=-self.lr)
                    else:
                        p.copy_(p.to(torch.float32).add_(grad, alpha=-self.lr))
                return x

            return update

    return AuthorsLOMO


@register_optimizer("lomo")
def _lomo(params, lr: float, weight_decay: float = 0.0, **kw):
    if weight_decay:
        raise ConfigError("key 'weight_decay' must be 0 with optimizer=lomo (pytorch-optimizer's LOMO has none)")
    return _lomo_class()(_module(params), lr=lr, **kw)


@register_optimizer("adalomo")
def _adalomo(params, lr: float, weight_decay: float = 0.0, **kw):
    from pytorch_optimizer import AdaLOMO

    return AdaLOMO(_module(params), lr=lr, weight_decay=weight_decay, **kw)


def build_optimizer(name: str, params: Iterable[Any] | Any, lr: float = 1e-3, weight_decay: float = 0.0, **kw):
    """An optimizer by registry name over ``params`` (a module, a parameter iterable, or param groups).

    For ``lomo``/``adalomo`` pass the model (or its parameters): the optimizer hooks them and must then be
    driven through :func:`fused_backward` instead of ``loss.backward(); opt.step()``.
    """
    if name not in OPTIMIZER_REGISTRY:
        raise ConfigError(f"unknown optimizer '{name}'; choose from {', '.join(sorted(OPTIMIZER_REGISTRY))}")
    if not isinstance(params, list) and not hasattr(params, "parameters"):
        params = list(params)
    try:
        return OPTIMIZER_REGISTRY[name](params, lr=lr, weight_decay=weight_decay, **kw)
    except TypeError as exc:
        raise ConfigError(f"key 'optimizer_args' does not fit optimizer '{name}': {exc}") from None


def is_fused(optimizer) -> bool:
    """True for optimizers that update inside backward (LOMO, AdaLOMO)."""
    return hasattr(optimizer, "fused_backward")


def hessian_due(optimizer) -> bool:
    """True when the next ``step()`` of a Sophia-style optimizer refreshes its Hessian estimate."""
    period = getattr(optimizer, "update_period", None)
    if period is None or not hasattr(optimizer, "compute_hutchinson_hessian"):
        return False
    step = optimizer.param_groups[0].get("step", 0)
    return step % period == 0


def fused_backward(optimizer, loss, lr: float, max_grad_norm: float = 0.0) -> float | None:
    """Backward + in-place update for LOMO/AdaLOMO; with ``max_grad_norm`` a first pass measures the norm.

    Returns the global gradient norm when it was measured (the clipping pass), else None.
    """
    import torch

    norm = None
    if max_grad_norm > 0:
        optimizer.clip_grad_norm = max_grad_norm
        optimizer.grad_norm(loss)  # backward #1 (retain_graph): gathers per-parameter norms, updates nothing
        if optimizer.grad_norms:
            norm = float(torch.norm(torch.stack([g.float() for g in optimizer.grad_norms]), 2.0))
    optimizer.fused_backward(loss, lr)
    return norm
