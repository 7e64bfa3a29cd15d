"""KnockoffNets model extraction (Orekondy et al., CVPR 2019) against a :class:`BlackBox`.

The attacker picks ``budget`` images from a natural-image pool, queries the black box, and trains
a substitute on the answers with the soft-label cross-entropy ``-sum y * log softmax(z)``
(or, with ``labels="top1"``, on the top class only). Two query policies:

- ``random``   — a uniform sample of the pool without replacement;
- ``adaptive`` — a gradient bandit over groups of the pool (k-means clusters, since our pools have no
  class hierarchy) that learns which groups give informative answers. Rewards as in KnockoffNets:
  ``cert`` (top-1 minus top-2 probability), ``div`` (how far the answer is from the running mean
  answer), ``loss`` (the substitute's cross-entropy to the answer), or ``all`` (their sum). The
  substitute is refit on everything collected after every batch of queries.

An optional last step fine-tunes the substitute on a little clean labelled data (an attacker who
tries to wash out anything odd it learned).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from modelworks.config import check_numbers
from modelworks.errors import ConfigError, UserError
from modelworks.honeypot.victims import ARCHITECTURES, build_classifier, predict_probs, train_classifier

__all__ = ["AttackConfig", "Extraction", "knockoff_nets", "agreement"]


@dataclass
class AttackConfig:
    name: str = "knockoff"
    queries: list[str] = field(default_factory=lambda: ["usps_train"])  # the attacker's image pool
    budget: int = 1000
    policy: Literal["random", "adaptive"] = "random"
    labels: Literal["soft", "top1"] = "soft"
    arch: str = "cnn"  # substitute architecture
    epochs: int = 10
    lr: float = 2e-3
    batch_size: int = 128
    # adaptive policy
    reward: Literal["cert", "div", "loss", "all"] = "all"
    clusters: int = 20
    adaptive_batch: int = 500
    bandit_lr: float = 0.1
    # optional clean fine-tuning afterwards
    finetune_data: list[str] = field(default_factory=list)
    finetune_epochs: int = 0
    finetune_lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"key 'arch' must be one of {', '.join(ARCHITECTURES)}, got '{self.arch}'")
        if not self.queries:
            raise ConfigError("key 'queries' needs at least one data reference")
        if self.finetune_epochs > 0 and not self.finetune_data:
            raise ConfigError("key 'finetune_data' is needed when finetune_epochs > 0")
        check_numbers(self, at_least_1=("budget", "epochs", "batch_size", "clusters", "adaptive_batch"),
                      at_least_0=("finetune_epochs",), positive=("lr", "bandit_lr", "finetune_lr"))


@dataclass
class Extraction:
    substitute: object
    query_x: torch.Tensor
    answers: torch.Tensor


def _targets(answers: torch.Tensor, labels: str) -> torch.Tensor:
    return answers.argmax(1) if labels == "top1" else answers


def _clusters(pool: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    from sklearn.cluster import MiniBatchKMeans

    small = torch.nn.functional.adaptive_avg_pool2d(pool, 8).flatten(1).numpy()
    km = MiniBatchKMeans(n_clusters=min(k, len(pool)), random_state=seed, n_init=3, batch_size=1024)
    return torch.from_numpy(km.fit_predict(small)).long()


def knockoff_nets(
    blackbox, pool: torch.Tensor, cfg: AttackConfig, num_classes: int, seed: int = 0,
    finetune: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Extraction:
    """Extract a substitute from ``blackbox`` with ``cfg.budget`` queries drawn from ``pool``."""
    if cfg.budget > len(pool):
        raise UserError(f"query budget {cfg.budget} is larger than the attacker's pool ({len(pool)} images)")
    g = torch.Generator().manual_seed(seed)
    channels, size = pool.shape[1], pool.shape[-1]
    torch.manual_seed(seed)
    sub = build_classifier(cfg.arch, channels, size, num_classes)
    if cfg.policy == "random":
        idx = torch.randperm(len(pool), generator=g)[: cfg.budget]
        qx = pool[idx]
        answers = blackbox.query(qx)
    else:
        qx, answers = _adaptive(blackbox, pool, cfg, sub, g, seed)
    train_classifier(sub, qx, _targets(answers, cfg.labels), epochs=cfg.epochs, lr=cfg.lr,
                     batch_size=cfg.batch_size, seed=seed)
    if finetune is not None and cfg.finetune_epochs > 0:
        train_classifier(sub, finetune[0], finetune[1], epochs=cfg.finetune_epochs, lr=cfg.finetune_lr,
                         batch_size=cfg.batch_size, seed=seed + 1)
    return Extraction(sub, qx, answers)


def _adaptive(blackbox, pool, cfg: AttackConfig, sub, g, seed: int):
    groups = _clusters(pool, cfg.clusters, seed)
    k = int(groups.max()) + 1
    members = [torch.nonzero(groups == a).flatten() for a in range(k)]
    used = torch.zeros(len(pool), dtype=torch.bool)
    prefs = torch.zeros(k)
    baseline = 0.0
    mean_answer = None
    xs, ys = [], []
    steps = 0
    while sum(len(x) for x in xs) < cfg.budget:
        n = min(cfg.adaptive_batch, cfg.budget - sum(len(x) for x in xs))
        alive = torch.tensor([bool((~used[m]).any()) for m in members])
        probs = torch.softmax(prefs.masked_fill(~alive, float("-inf")), 0)
        actions = torch.multinomial(probs, n, replacement=True, generator=g)
        chosen = []
        for a in actions.tolist():
            free = members[a][~used[members[a]]]
            if len(free) == 0:
                continue
            j = free[torch.randint(0, len(free), (1,), generator=g)].item()
            used[j] = True
            chosen.append((a, j))
        if not chosen:
            break
        acts = torch.tensor([a for a, _ in chosen])
        idx = torch.tensor([j for _, j in chosen])
        bx = pool[idx]
        by = blackbox.query(bx)
        rewards = _rewards(by, sub, bx, mean_answer, cfg.reward)
        mean_answer = by.mean(0) if mean_answer is None else 0.9 * mean_answer + 0.1 * by.mean(0)
        for a, r in zip(acts.tolist(), rewards.tolist(), strict=True):
            steps += 1
            baseline += (r - baseline) / steps
            grad = -probs * (r - baseline)
            grad[a] += r - baseline
            prefs += cfg.bandit_lr * grad
        xs.append(bx)
        ys.append(by)
        qx, answers = torch.cat(xs), torch.cat(ys)
        train_classifier(sub, qx, _targets(answers, cfg.labels), epochs=1, lr=cfg.lr, batch_size=cfg.batch_size,
                         seed=seed + steps)
    return torch.cat(xs), torch.cat(ys)


def _rewards(answers, sub, x, mean_answer, kind: str) -> torch.Tensor:
    top2 = answers.topk(2, dim=1).values
    cert = top2[:, 0] - top2[:, 1]
    div = (answers - mean_answer).clamp_min(0).sum(1) if mean_answer is not None else torch.ones(len(x))
    with torch.no_grad():
        loss = -(answers * predict_probs(sub, x).clamp_min(1e-8).log()).sum(1)
    loss = loss / loss.max().clamp_min(1e-8)
    if kind == "cert":
        return cert
    if kind == "div":
        return div
    if kind == "loss":
        return loss
    return cert + div + loss


def agreement(a, b, x: torch.Tensor) -> float:
    """Fraction of ``x`` on which models ``a`` and ``b`` predict the same class."""
    return float((predict_probs(a, x).argmax(1) == predict_probs(b, x).argmax(1)).float().mean())
