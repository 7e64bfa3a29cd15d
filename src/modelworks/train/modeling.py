"""Where the model comes from: a tiny builder spec (``tiny:layers=2,hidden=64``) or a local HF directory."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from modelworks.errors import ConfigError

__all__ = ["parse_tiny_spec", "load_model_and_tokenizer"]


def parse_tiny_spec(spec: str):
    """``tiny`` or ``tiny:layers=4,hidden=128,heads=4,vocab_size=1024`` -> :class:`TinyLMConfig`."""
    from modelworks.models import TinyLMConfig

    name, _, rest = spec.partition(":")
    if name != "tiny":
        raise ConfigError(f"key 'model': {spec!r} is not a tiny spec (tiny or tiny:layers=2,hidden=64,...)")
    kwargs: dict[str, int | bool] = {}
    names = {f.name: f for f in dataclasses.fields(TinyLMConfig)}
    for part in filter(None, rest.split(",")):
        key, _, val = part.partition("=")
        if key not in names:
            raise ConfigError(f"key 'model': unknown tiny option '{key}'; valid: {', '.join(names)}")
        if key == "tie_embeddings":
            if val.lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise ConfigError(f"key 'model': tiny option '{key}' expects true or false, got {val!r}")
            kwargs[key] = val.lower() in ("1", "true", "yes")
            continue
        try:
            kwargs[key] = int(val)
        except ValueError:
            raise ConfigError(f"key 'model': tiny option '{key}' expects an integer, got {val!r}") from None
    try:
        return TinyLMConfig(**kwargs)
    except ConfigError as exc:  # e.g. layers=0, or hidden not divisible by heads: name the spec, not a key of its own
        raise ConfigError(f"key 'model': tiny {str(exc).replace('key ', 'option ', 1)}") from None


def load_model_and_tokenizer(model_spec: str, tokenizer_spec: str | None, texts: Iterable[str] | None, seed: int = 0):
    """(model, tokenizer) in fp32 on CPU. A tiny spec trains its tokenizer on ``texts``."""
    from modelworks.models import build_tiny_lm, load_causal_lm, load_tokenizer

    if model_spec.startswith("tiny"):
        tiny = parse_tiny_spec(model_spec)
        if "seed" not in model_spec:
            tiny = dataclasses.replace(tiny, seed=seed)
        tokenizer = load_tokenizer(tokenizer_spec, padding_side="right") if tokenizer_spec else None
        if tokenizer is None and texts is None:
            raise ConfigError("key 'model': a tiny model needs training texts (data) or a 'tokenizer' directory")
        model, tokenizer = build_tiny_lm(tiny, texts=list(texts) if texts is not None else None, tokenizer=tokenizer)
    else:
        model = load_causal_lm(model_spec, device="cpu", dtype="fp32")
        tokenizer = load_tokenizer(tokenizer_spec or model_spec, padding_side="right")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model.train()
    return model, tokenizer
