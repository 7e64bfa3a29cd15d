"""Black-box prediction APIs and the baseline output defences they can apply.

A :class:`BlackBox` answers ``query(x) -> probabilities`` for a batch of images and counts the
queries. :class:`ModelBlackBox` wraps a local model (optionally with an output defence),
:class:`HTTPBlackBox` calls a ``/predict`` endpoint (``modelworks honeypot serve``).

Output defences (``DEFENCES``), each a function ``probs -> probs``:

- ``none``               the probabilities as they are
- ``top1``               a one-hot vector of the top class (label-only API)
- ``rounding``           probabilities rounded to ``decimals`` places
- ``reverse_sigmoid``    Lee et al. 2019: ``y - beta * (sigmoid(gamma * logit(y)) - 1/2)``, clipped, renormalised
- ``adaptive_misinformation``  Kariyappa & Qureshi 2020 (simplified): inputs with a low top probability
  (the OOD score) get a mix of the true posterior and a misinformation posterior
  ``softmax(-logits)``, weighted by ``sigmoid(nu * (tau - max prob))``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from modelworks.errors import UserError

__all__ = ["BlackBox", "ModelBlackBox", "HTTPBlackBox", "DefenceConfig", "apply_defence", "DEFENCES"]

DEFENCES = ("none", "top1", "rounding", "reverse_sigmoid", "adaptive_misinformation")


@dataclass
class DefenceConfig:
    name: str = "none"
    decimals: int = 1  # rounding
    beta: float = 0.7  # reverse_sigmoid
    gamma: float = 0.4  # reverse_sigmoid
    tau: float = 0.9  # adaptive_misinformation: OOD threshold on the top probability
    nu: float = 50.0  # adaptive_misinformation: sharpness of the switch

    def __post_init__(self) -> None:
        if self.name not in DEFENCES:
            raise UserError(f"unknown defence '{self.name}'; choose from {', '.join(DEFENCES)}")


def apply_defence(probs: torch.Tensor, cfg: DefenceConfig, logits: torch.Tensor | None = None) -> torch.Tensor:
    if cfg.name == "none":
        return probs
    if cfg.name == "top1":
        return torch.nn.functional.one_hot(probs.argmax(1), probs.shape[1]).float()
    if cfg.name == "rounding":
        out = torch.round(probs * 10**cfg.decimals) / 10**cfg.decimals
        return out
    if cfg.name == "reverse_sigmoid":
        y = probs.clamp(1e-6, 1 - 1e-6)
        inv = torch.log(y / (1 - y))
        out = (y - cfg.beta * (torch.sigmoid(cfg.gamma * inv) - 0.5)).clamp_min(0)
        total = out.sum(1, keepdim=True)
        uniform = torch.full_like(out, 1.0 / out.shape[1])
        return torch.where(total > 0, out / total.clamp_min(1e-12), uniform)
    if cfg.name == "adaptive_misinformation":
        z = logits if logits is not None else torch.log(probs.clamp_min(1e-12))
        mis = torch.softmax(-z, dim=1)
        alpha = torch.sigmoid(cfg.nu * (cfg.tau - probs.max(1, keepdim=True).values))
        return (1 - alpha) * probs + alpha * mis
    raise UserError(f"unknown defence '{cfg.name}'")


class BlackBox(Protocol):
    queries: int

    def query(self, x: torch.Tensor) -> torch.Tensor: ...


class ModelBlackBox:
    """A local model behind an output defence, counting queries."""

    def __init__(self, model, defence: DefenceConfig | None = None, batch_size: int = 1024) -> None:
        self.model = model.eval()
        self.defence = defence or DefenceConfig()
        self.batch_size = batch_size
        self.queries = 0

    def query(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), self.batch_size):
                logits = self.model(x[i:i + self.batch_size])
                outs.append(apply_defence(logits.softmax(1), self.defence, logits))
        self.queries += len(x)
        return torch.cat(outs)


class HTTPBlackBox:
    """Queries ``POST {url}/predict`` with ``{"inputs": N x C x H x W}`` and reads ``{"probs": N x K}``."""

    def __init__(self, url: str, batch_size: int = 256, timeout: float = 60.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.batch_size = batch_size
        self.client = httpx.Client(timeout=timeout)
        self.queries = 0

    def info(self) -> dict:
        return self._call("GET", "/info")

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        import httpx

        try:
            resp = self.client.request(method, self.url + path, json=payload)
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach the predict endpoint {self.url}{path}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise UserError(f"{self.url}{path} answered HTTP {resp.status_code}: {resp.text[:200]}")
        return resp.json()

    def query(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(0, len(x), self.batch_size):
            batch = x[i:i + self.batch_size]
            data = self._call("POST", "/predict", {"inputs": batch.tolist()})
            outs.append(torch.tensor(data["probs"], dtype=torch.float32))
        self.queries += len(x)
        return torch.cat(outs)

    def close(self) -> None:
        self.client.close()
