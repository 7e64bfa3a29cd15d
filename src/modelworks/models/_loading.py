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
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise UserError(f"model directory not found: {text}")
    return text  # a hub id such as org/name


def quiet_transformers() -> None:
    """No per-shard progress bars or advisory warnings from transformers in our output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _hub_error(spec: str, exc: Exception) -> UserError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
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
