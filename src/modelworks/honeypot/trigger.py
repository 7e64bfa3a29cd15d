"""The secret trigger: a universal adversarial perturbation (UAP), L-inf bounded or a masked patch.

``Trigger.apply(x)`` stamps it on a batch of images in [0, 1]:

- ``linf``:  ``clip(x + delta)`` with ``||delta||_inf <= eps``
- ``patch``: ``(1 - m) * x + m * p`` with a fixed square mask ``m`` (a corner of the image) and
  pattern ``p`` in [0, 1]

:func:`uap_step` updates it on a model toward the target class with momentum sign steps
(``g <- mu * g + grad / ||grad||_1``; ``delta <- Proj(delta - alpha * sign(g))``), the way
momentum iterative attacks build universal perturbations. Saved as ``trigger.pt`` (a plain dict of
tensors and numbers, loadable with ``weights_only=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from modelworks.errors import UserError
from modelworks.paths import file_or_folder

__all__ = ["Trigger", "new_trigger", "uap_step", "save_trigger", "load_trigger"]

CORNERS = ("bottom_right", "bottom_left", "top_right", "top_left")


@dataclass
class Trigger:
    kind: str  # "linf" or "patch"
    delta: torch.Tensor  # C x H x W: the perturbation (linf) or the pattern (patch)
    mask: torch.Tensor  # 1 x H x W: 1 where the trigger acts (all ones for linf)
    eps: float
    target: int

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != self.delta.shape:
            raise UserError(
                f"trigger of shape {tuple(self.delta.shape)} does not fit images of shape {tuple(x.shape[1:])}"
            )
        if self.kind == "linf":
            return (x + self.delta).clamp(0.0, 1.0)
        return (1 - self.mask) * x + self.mask * self.delta

    def project_(self) -> None:
        with torch.no_grad():
            if self.kind == "linf":
                self.delta.clamp_(-self.eps, self.eps)
            else:
                self.delta.clamp_(0.0, 1.0)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.delta.shape)


def new_trigger(
    kind: str, channels: int, image_size: int, target: int, eps: float = 0.1, patch_size: int = 6,
    corner: str = "bottom_right", seed: int = 0,
) -> Trigger:
    """A random starting trigger: uniform in [-eps, eps] (linf) or a random patch in a corner."""
    g = torch.Generator().manual_seed(seed)
    if kind == "linf":
        delta = (torch.rand(channels, image_size, image_size, generator=g) * 2 - 1) * eps
        mask = torch.ones(1, image_size, image_size)
    elif kind == "patch":
        if not 0 < patch_size <= image_size:
            raise UserError(f"patch_size {patch_size} must be between 1 and the image size {image_size}")
        if corner not in CORNERS:
            raise UserError(f"unknown corner '{corner}'; choose from {', '.join(CORNERS)}")
        mask = torch.zeros(1, image_size, image_size)
        r0 = image_size - patch_size if corner.startswith("bottom") else 0
        c0 = image_size - patch_size if corner.endswith("right") else 0
        mask[:, r0:r0 + patch_size, c0:c0 + patch_size] = 1
        delta = torch.rand(channels, image_size, image_size, generator=g) * mask
    else:
        raise UserError(f"unknown trigger kind '{kind}'; choose from linf, patch")
    return Trigger(kind, delta, mask, float(eps), int(target))


def uap_step(
    trigger: Trigger,
    model,
    x: torch.Tensor,
    steps: int = 5,
    alpha: float = 0.01,
    momentum: float = 0.9,
    batch_size: int = 256,
    seed: int = 0,
) -> float:
    """Update the trigger in place so that ``model(apply(x))`` predicts the target class.

    Returns the fraction of ``x`` (a sample) the model sends to the target after the update.
    """
    g = torch.Generator().manual_seed(seed)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    grad_m = torch.zeros_like(trigger.delta)
    target = torch.full((batch_size,), trigger.target, dtype=torch.long)
    try:
        for _ in range(steps):
            idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=g)
            delta = trigger.delta.clone().requires_grad_(True)
            stamped = Trigger(trigger.kind, delta, trigger.mask, trigger.eps, trigger.target).apply(x[idx])
            loss = F.cross_entropy(model(stamped), target[: len(idx)])
            (grad,) = torch.autograd.grad(loss, delta)
            grad = grad * trigger.mask
            grad_m = momentum * grad_m + grad / grad.abs().sum().clamp_min(1e-12)
            with torch.no_grad():
                trigger.delta -= alpha * grad_m.sign() * trigger.mask
            trigger.project_()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    with torch.no_grad():
        sample = x[: min(1000, len(x))]
        return float((model(trigger.apply(sample)).argmax(1) == trigger.target).float().mean())


def save_trigger(trigger: Trigger, path: str | Path) -> Path:
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(
        {"kind": trigger.kind, "delta": trigger.delta, "mask": trigger.mask, "eps": trigger.eps,
         "target": trigger.target},
        tmp,
    )
    os.replace(tmp, path)
    return path


def load_trigger(path: str | Path, expect_shape: tuple[int, ...] | None = None) -> Trigger:
    """Load ``trigger.pt`` (or a folder holding it); check its shape against ``expect_shape`` (C, H, W)."""
    p = file_or_folder(path, "trigger.pt", "trigger file")
    try:
        d = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{p}: not a trigger file ({type(exc).__name__})") from None
    if not isinstance(d, dict) or not {"kind", "delta", "mask", "eps", "target"} <= set(d):
        raise UserError(f"{p}: not a trigger file (expected keys kind, delta, mask, eps, target)")
    delta, mask = d["delta"], d["mask"]
    if not isinstance(delta, torch.Tensor) or delta.ndim != 3 or mask.shape[1:] != delta.shape[1:]:
        raise UserError(f"{p}: field 'delta' must be a C x H x W tensor with a matching 1 x H x W mask")
    if expect_shape is not None and tuple(delta.shape) != tuple(expect_shape):
        raise UserError(
            f"{p}: field 'delta' has shape {tuple(delta.shape)} but the model takes images of shape {tuple(expect_shape)}"
        )
    if d["kind"] not in ("linf", "patch"):
        raise UserError(f"{p}: field 'kind' must be linf or patch, got {d['kind']!r}")
    return Trigger(str(d["kind"]), delta.float(), mask.float(), float(d["eps"]), int(d["target"]))
