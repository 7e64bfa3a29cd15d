"""Checkpoint / resume: trainable weights (safetensors) + optimizer + scheduler + RNG + data position.

A checkpoint is a folder ``<out>/checkpoints/step-00000010/`` written to a temp name and renamed, so a
crash never leaves a half checkpoint behind::

    model.safetensors    the trainable parameters (all weights, or only the adapter's under PEFT)
    optimizer.pt         optimizer.state_dict()
    scheduler.pt         scheduler.state_dict()
    rng.pt               Python, NumPy, torch (CPU and CUDA) generator states
    trainer_state.json   step, epoch, batch position in the epoch, tokens seen

Resuming restores all of it, so the losses after step k equal an uninterrupted run's (exactly on CPU fp32).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

from modelworks.errors import UserError

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "trainable_state"]


def trainable_state(model) -> dict[str, Any]:
    return {n: p.detach().to("cpu").clone().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _full_state(module, optimizer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unsharded model + optimizer state of an FSDP2 / DTensor-TP module (a collective: every rank calls it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    msd, osd = get_state_dict(module, optimizer, options=opts)
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    return {k: v.clone().contiguous() for k, v in msd.items() if k in trainable}, osd


def save_checkpoint(folder: str | Path, model, optimizer, scheduler, trainer_state: dict[str, Any],
                    keep: int | None = None, sharded: bool = False, is_main: bool = True) -> Path:
    """Write a checkpoint folder atomically (temp name + rename); prune to the newest ``keep`` siblings.

    ``sharded``: ``model`` is FSDP2/TP-sharded; every rank must call this (the full state is gathered),
    and only ``is_main`` writes.
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    if sharded:
        weights, optim_state = _full_state(model, optimizer)
        if not is_main:
            return folder
    else:
        weights, optim_state = trainable_state(model), optimizer.state_dict()
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(weights, str(tmp / "model.safetensors"))
    torch.save(optim_state, tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(_rng_state(), tmp / "rng.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    if keep:
        old = sorted(p for p in folder.parent.glob("step-*") if p.is_dir())
        for p in old[:-keep]:
            shutil.rmtree(p, ignore_errors=True)
    return folder


def latest_checkpoint(checkpoints_dir: str | Path) -> Path | None:
    found = sorted(p for p in Path(checkpoints_dir).glob("step-*") if (p / "trainer_state.json").is_file())
    return found[-1] if found else None


def load_checkpoint(folder: str | Path, model, optimizer, scheduler, sharded: bool = False) -> dict[str, Any]:
    """Restore everything saved by :func:`save_checkpoint`; returns the trainer state (every rank calls it)."""
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "trainer_state.json").is_file():
        raise UserError(f"key 'resume': {folder} is not a checkpoint folder (no trainer_state.json)")
    weights = load_file(str(folder / "model.safetensors"))
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(model, optimizer, model_state_dict=weights,
                       optim_state_dict=torch.load(folder / "optimizer.pt", weights_only=False),
                       options=StateDictOptions(full_state_dict=True, strict=False))
        scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=False))
        _set_rng_state(torch.load(folder / "rng.pt", weights_only=False))
        return json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    params = dict(model.named_parameters())
    unknown = [k for k in weights if k not in params]
    if unknown:
        raise UserError(f"key 'resume': {folder} holds weight '{unknown[0]}' that this model does not have")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=False))
    _set_rng_state(torch.load(folder / "rng.pt", weights_only=False))
    return json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
