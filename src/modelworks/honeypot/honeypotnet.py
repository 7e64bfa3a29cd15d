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
victim's (optionally only where the victim is confident, ``guard_confidence``, or, with
``guard="detector"``, only where a small in-distribution detector on the backbone features says the
input looks like the owner's own data rather than the public shadow set), trading backdoor strength
for exact clean accuracy; ``bilevel_tilt > 0`` couples the two levels to first order: after each
extraction simulation, L_norm's targets on ``D_s`` are tilted toward the target class by the shadow's
hypergradient (see :func:`hypergradient_tilt`), so the honeypot's answers on clean public queries carry
the target-class mass that a model trained on them turns into the backdoor.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F

from modelworks.config import check_numbers
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
    train_detector,
)

__all__ = ["HoneypotConfig", "HoneypotResult", "build_honeypot", "honeypot_layer", "hypergradient_tilt"]


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
    guard: Literal["confidence", "detector"] = "confidence"  # where the guard acts: victim confidence, or an
    # in-distribution detector on the features (own data vs the public shadow set; ours)
    detector_recall: float = 0.995  # detector threshold: this fraction of held-out own images is guarded
    bilevel_tilt: float = 0.0  # > 0: tilt L_norm's targets on D_s by the shadow's first-order hypergradient (ours)
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
        check_numbers(self, at_least_1=("rounds", "head_epochs", "shadow_epochs", "batch_size", "head_batch", "hidden",
                                        "patch_size", "uap_steps"),
                      at_least_0=("margin", "lam", "bilevel_tilt"), positive=("head_lr", "shadow_lr", "uap_alpha"))
        if not 0 <= self.guard_confidence <= 1:
            raise ConfigError(f"key 'guard_confidence' (a probability) must be in [0, 1], got {self.guard_confidence}")
        if self.shadow_arch not in ARCHITECTURES:
            raise ConfigError(f"key 'shadow_arch' must be one of {', '.join(ARCHITECTURES)}, got '{self.shadow_arch}'")
        if self.bilevel_tilt > 0 and self.norm_labels != "soft":
            raise ConfigError("key 'bilevel_tilt' needs norm_labels: soft")
        if not 0 < self.detector_recall <= 1:
            raise ConfigError("key 'detector_recall' must be in (0, 1]")
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


def hypergradient_tilt(shadow, trigger: Trigger, query_x: torch.Tensor, own_x: torch.Tensor,
                       base_probs: torch.Tensor, beta: float) -> torch.Tensor:
    """L_norm's targets on the public queries, tilted toward what makes an extracted model learn the backdoor.

    The outer objective's dependence on the honeypot's answers ``y(x)`` runs through the inner extraction
    problem. One soft-label SGD step of the shadow's classifier head ``W`` (on features ``g``) moves it by
    ``sum_x (y(x) - p_s(x)) g(x)^T``; the non-saturating backdoor objective ``A = mean_x' z_t(x' + delta) -
    mean_k z_k(x' + delta)`` has gradient ``(e_t - 1/K) gbar^T`` with ``gbar`` the mean shadow feature of
    triggered images, so ``dA/dy_t(x)`` is proportional to ``g(x) . gbar`` (and equal for the other classes).
    Each query's target log-probability is shifted by ``beta`` times that score, standardised over the
    queries: trigger-like queries get a little more target mass, unlike ones a little less.
    """
    g_q = features_of(shadow, query_x)
    g_t = features_of(shadow, trigger.apply(own_x)).mean(0)
    score = g_q @ g_t
    score = (score - score.mean()) / score.std().clamp_min(1e-8)
    logits = base_probs.clamp_min(1e-8).log()
    logits[:, trigger.target] += beta * score
    return logits.softmax(1)


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
    detector_stats: dict[str, float] = {}
    if cfg.keep_top1 and cfg.guard == "detector":
        detector, threshold, detector_stats = train_detector(
            feats_clean[len(shadow_x):], feats_clean[: len(shadow_x)], recall=cfg.detector_recall, seed=seed)
        head.set_detector(detector, threshold)
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
        targets_r = norm_targets
        if cfg.bilevel_tilt > 0:
            tilted = hypergradient_tilt(shadow, trigger, shadow_x, own_x[keep_not_target[len(shadow_x):]],
                                        norm_targets[: len(shadow_x)], cfg.bilevel_tilt)
            targets_r = torch.cat([tilted, norm_targets[len(shadow_x):]])
        loss = _finetune_head(head, feats_clean, targets_r, feats_trig, cfg.target, cfg, g)
        row = {"round": r, "shadow_asr": shadow_asr, "head_loss": loss, **(detector_stats if r == 0 else {})}
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
