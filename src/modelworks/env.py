"""The machine a job runs on: device choice, seeding, and the facts recorded in ``env.json``."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["seed_everything", "default_device", "check_device", "environment_info", "git_sha"]

_PACKAGES = (
    "modelworks",
    "torch",
    "transformers",
    "peft",
    "tokenizers",
    "pytorch-optimizer",
    "numpy",
    "scipy",
    "scikit-learn",
    "rouge-score",
    "openai",
    "fastapi",
)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that a run repeats exactly on CPU."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def default_device(requested: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; other values pass through."""
    if requested != "auto":
        return requested
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except ImportError:  # pragma: no cover
        pass
    return "cpu"


def check_device(device: str, what: str = "key 'device'", allowed: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")) -> str:
    """``device`` when it is one of ``allowed`` (``cuda`` also as ``cuda:N``) and present on this machine;
    else a one-line :class:`UserError` naming ``what`` (a config key or a flag)."""
    from modelworks.errors import UserError

    base, _, index = device.partition(":")
    if base not in allowed or (index and not (base == "cuda" and index.isdigit())):
        names = ", ".join(a + (", cuda:N" if a == "cuda" else "") for a in allowed)
        raise UserError(f"{what} must be one of {names}, got {device!r}")
    if base in ("auto", "cpu"):
        return device
    import torch

    if base == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(index or 0) >= n:
            have = f"only {n} CUDA GPU(s)" if n else "no CUDA GPU"
            raise UserError(f"{what} is {device!r} but torch sees {have}; use cpu")
    elif base == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"{what} is 'mps' but torch.backends.mps.is_available() is False; use cpu")
    return device


def git_sha(start: Path | None = None) -> str | None:
    """The commit of the checkout holding the package (or ``start``), or None outside git."""
    where = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _device_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def environment_info(seed: int | None = None) -> dict[str, Any]:
    """Package versions, git sha, seed and device: what ``env.json`` records for every run."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_sha": git_sha(),
        "seed": seed,
        "device": _device_name(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
