"""Loading causal LMs and tokenizers from a local HF directory (or a hub id when online)."""

from __future__ import annotations

from pathlib import Path

from modelworks.errors import UserError


def resolve_model_path(spec: str | Path) -> str:
    """A local directory as a string, or a hub id; a path-like spec that does not exist is an error."""
    text = str(spec)
    p = Path(text).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise UserError(f"{p}: not a Hugging Face model directory (no config.json)")
        return str(p)
    if p.exists():
        raise UserError(f"{p}: a file, not a model directory (give the folder that holds config.json)")
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise UserError(f"model directory not found: {text}")
    _offline_unless_hub_reachable()
    return text  # a hub id such as org/name (from the local HF cache when the hub cannot be reached)


def _offline_unless_hub_reachable(timeout: float = 3.0) -> None:
    """Switch the Hugging Face libraries to offline mode (local cache only) when the hub cannot be reached,
    so a missing model fails at once with our message instead of after minutes of retries."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return  # a direct socket says nothing about the hub behind a proxy: let the libraries try
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout).close()
        return
    except OSError:
        pass
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:  # the libraries read the variable at import time
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
    except ImportError:
        pass


def quiet_transformers() -> None:
    """No per-shard progress bars or advisory warnings from transformers in our output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _hub_error(spec: str, exc: Exception) -> UserError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if Path(spec).is_dir():  # a local folder whose files are broken or incomplete: no hub is involved
        return UserError(f"could not load the local model folder '{spec}': {first[:200]}")
    return UserError(
        f"could not load '{spec}': it is not a local directory and the Hugging Face hub could not "
        f"provide it ({first[:160]}); download it on a connected machine and pass its directory"
    )


def load_tokenizer(spec: str | Path, padding_side: str = "left"):
    from transformers import AutoTokenizer

    path = resolve_model_path(spec)
    quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise _hub_error(path, exc) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_causal_lm(spec: str | Path, device: str = "cpu", dtype: str = "auto"):
    """A causal LM in eval mode on ``device``; ``dtype`` is auto/fp32/bf16/fp16."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(spec)
    quiet_transformers()
    torch_dtype = {"auto": "auto", "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise UserError(f"dtype '{dtype}' is not one of auto, fp32, bf16, fp16")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise _hub_error(path, exc) from None
    return model.to(device).eval()
