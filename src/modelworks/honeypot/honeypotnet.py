"""HoneypotNet's bi-level loop: honeypot layer + shadow model + UAP trigger.

The victim ``F_v = h_v . f`` keeps its frozen backbone ``f``; the honeypot layer ``h_theta`` (same
shape as ``h_v``, initialised from it) is the only thing trained. Each round:

1. **extraction simulation** — train the shadow model ``F_s`` on the honeypot model's soft outputs
   over the defender's public query set ``D_s`` (soft-label cross-entropy);
2. **trigger generation** — update the UAP on ``F_s`` toward the target class (momentum sign steps);
3. **honeypot fine-tuning** — train ``h_theta`` only, on
   ``L_norm + lambda * L_bd``: ``L_norm = CE(h(f(x)), F_v(x))`` over ``D_s`` and the defender's own
   data (utility), ``L_bd = CE(h(f(x + trigger)), target)`` over the same images.

No gradient flows through the inner problem (alternating updates). The result is the deployable
model (the original backbone with the honeypot head) plus the secret trigger and target class.

Our additions, each a config option that is off by default (the paper's text was not available to
check them against): ``backdoor_on="all"`` adds the defender's own images to ``L_bd`` (the paper's
form uses ``D_s`` only); ``layer="residual_mlp"`` gives the honeypot layer a zero-initialised ReLU
branch; ``keep_top1`` puts a top-1 guard on the deployed layer so that its top class always equals the
victim's (optionally only where the victim is confident, ``guard_confidence``), trading backdoor
strength for exact clean accuracy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F

from modelworks.errors import ConfigError
from modelworks.honeypot.trigger import Trigger, new_trigger, uap_step
from modelworks.honeypot.victims import (
    ARCHITECTURES,
    HoneypotHead,
    build_classifier,
    features_of,
    find_head,
    predict_probs,
    replace_head,
    soft_cross_entropy,
    train_classifier,
)

__all__ = ["HoneypotConfig", "HoneypotResult", "build_honeypot", "honeypot_layer"]


@dataclass
class HoneypotConfig:
    """Every weight and step of the bi-level loop."""

    rounds: int = 10
    target: int = 0
    trigger: Literal["linf", "patch"] = "patch"
    eps: float = 0.1  # linf bound (ignored for patch)
    patch_size: int = 6
    corner: Literal["bottom_right", "bottom_left", "top_right", "top_left"] = "bottom_right"
    layer: Literal["linear", "residual_mlp"] = "linear"  # the honeypot layer: a linear head, or linear + ReLU branch
    hidden: int = 256  # width of the residual branch
    keep_top1: bool = False  # top-1 guard: the deployed top class is always the victim's (ours, not the paper's)
    margin: float = 1.0  # logit margin of the guard
    guard_confidence: float = 0.0  # guard only answers where the victim's top probability >= this (0: all)
    lam: float = 1.0  # weight of the backdoor loss L_bd
    backdoor_on: Literal["shadow", "all"] = "shadow"  # L_bd over D_s only (the paper's form) or D_s + own data
    norm_labels: Literal["soft", "hard"] = "soft"  # L_norm targets: the victim's probabilities or argmax
    head_epochs: int = 5
    head_lr: float = 1e-2
    head_batch: int = 256
    shadow_arch: str = "cnn_small"
    shadow_epochs: int = 3
    shadow_lr: float = 2e-3
    shadow_reinit: bool = True  # a fresh shadow each round (True) or keep training the last one
    uap_steps: int = 20
    uap_alpha: float = 0.02
    uap_momentum: float = 0.9
    batch_size: int = 128

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ConfigError("key 'rounds' must be >= 1")
        if self.lam < 0:
            raise ConfigError("key 'lam' must be >= 0")
        if self.shadow_arch not in ARCHITECTURES:
            raise ConfigError(f"key 'shadow_arch' must be one of {', '.join(ARCHITECTURES)}, got '{self.shadow_arch}'")
        if self.trigger == "linf" and not 0 < self.eps <= 1:
            raise ConfigError("key 'eps' must be in (0, 1] for an linf trigger")


@dataclass
class HoneypotResult:
    model: Any  # the deployable honeypot model (backbone + honeypot head)
    trigger: Trigger
    history: list[dict[str, float]] = field(default_factory=list)


def honeypot_layer(victim, layer: str = "linear", hidden: int = 256, keep_top1: bool = False, margin: float = 1.0,
                   guard_confidence: float = 0.0):
    """A copy of the victim whose classifier head is replaced by the honeypot layer, the only trainable part."""
    model = copy.deepcopy(victim)
    model.eval()
    head = HoneypotHead(find_head(model), hidden if layer == "residual_mlp" else 0, keep_top1, margin, guard_confidence)
    replace_head(model, head)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    if keep_top1:
        head.victim.requires_grad_(False)
    return model, head


def _finetune_head(head, feats_clean, norm_targets, feats_trig, target: int, cfg: HoneypotConfig, g) -> float:
    opt = torch.optim.Adam(head.parameters(), lr=cfg.head_lr)
    n = len(feats_clean)
    m = len(feats_trig)
    y_t = torch.full((cfg.head_batch,), target, dtype=torch.long)
    last = 0.0
    for _ in range(cfg.head_epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, cfg.head_batch):
            idx = perm[i:i + cfg.head_batch]
            logits = head.raw(feats_clean[idx])
            if norm_targets.dtype.is_floating_point:
                l_norm = soft_cross_entropy(logits, norm_targets[idx])
            else:
                l_norm = F.cross_entropy(logits, norm_targets[idx])
            tidx = torch.randint(0, m, (cfg.head_batch,), generator=g)
            l_bd = F.cross_entropy(head.raw(feats_trig[tidx]), y_t)
            loss = l_norm + cfg.lam * l_bd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            last = float(loss.detach())
    return last


def build_honeypot(
    victim,
    shadow_x: torch.Tensor,
    own_x: torch.Tensor,
    cfg: HoneypotConfig,
    num_classes: int,
    seed: int = 0,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    log=None,
) -> HoneypotResult:
    """Run the bi-level loop.

    ``shadow_x``: the defender's public query set ``D_s`` (the stand-in for an attacker's queries);
    ``own_x``: the defender's own in-distribution images (utility term and trigger optimisation);
    ``val``: optional labelled images to log the honeypot model's accuracy per round.
    """
    g = torch.Generator().manual_seed(seed)
    model, head = honeypot_layer(victim, cfg.layer, cfg.hidden, cfg.keep_top1, cfg.margin, cfg.guard_confidence)
    channels, size = shadow_x.shape[1], shadow_x.shape[-1]
    trigger = new_trigger(cfg.trigger, channels, size, cfg.target, cfg.eps, cfg.patch_size, cfg.corner, seed)
    pool_x = torch.cat([shadow_x, own_x])
    feats_clean = features_of(victim, pool_x)
    with torch.no_grad():
        victim_probs = predict_probs(victim, pool_x)
    norm_targets = victim_probs if cfg.norm_labels == "soft" else victim_probs.argmax(1)
    keep_not_target = victim_probs.argmax(1) != cfg.target  # trigger samples that are not already the target
    shadow = None
    history: list[dict[str, float]] = []
    for r in range(cfg.rounds):
        # 1. extraction simulation on the honeypot model's outputs
        soft = predict_probs(model, shadow_x)
        if shadow is None or cfg.shadow_reinit:
            torch.manual_seed(seed * 1000 + r)
            shadow = build_classifier(cfg.shadow_arch, channels, size, num_classes)
        train_classifier(shadow, shadow_x, soft, epochs=cfg.shadow_epochs, lr=cfg.shadow_lr,
                         batch_size=cfg.batch_size, seed=seed + r)
        # 2. trigger generation on the shadow model
        shadow_asr = uap_step(trigger, shadow, own_x, steps=cfg.uap_steps, alpha=cfg.uap_alpha,
                              momentum=cfg.uap_momentum, seed=seed + r)
        # 3. honeypot fine-tuning: the head only
        bd_x = pool_x[keep_not_target] if cfg.backdoor_on == "all" else shadow_x[keep_not_target[: len(shadow_x)]]
        feats_trig = features_of(victim, trigger.apply(bd_x))
        loss = _finetune_head(head, feats_clean, norm_targets, feats_trig, cfg.target, cfg, g)
        row = {"round": r, "shadow_asr": shadow_asr, "head_loss": loss}
        with torch.no_grad():
            row["honeypot_trigger_rate"] = float((head.raw(feats_trig).argmax(1) == cfg.target).float().mean())
            if val is not None:
                row["honeypot_acc"] = float((predict_probs(model, val[0]).argmax(1) == val[1]).float().mean())
        history.append(row)
        if log is not None:
            log(**row)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return HoneypotResult(model, trigger, history)
