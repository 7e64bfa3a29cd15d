"""A shared tiny model + data for the train tests (2 layers, 32 dims: fractions of a second per step)."""

from __future__ import annotations

import copy
from functools import lru_cache

from modelworks.models import TinyLMConfig, build_tiny_lm
from modelworks.train import TrainConfig, builtin_records, tokenize_records


@lru_cache(maxsize=1)
def _base():
    texts = [r["text"] for r in builtin_records("text", 96)]
    model, tok = build_tiny_lm(TinyLMConfig(layers=2, hidden=32, heads=2, vocab_size=256, seed=0), texts)
    rows = tokenize_records(builtin_records("text", 96), tok, TrainConfig(max_len=24, packing=True))
    return model, tok, rows


def tiny():
    """(fresh copy of the model, tokenizer, packed rows of 24 tokens)."""
    model, tok, rows = _base()
    return copy.deepcopy(model), tok, rows


def cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(max_len=24, packing=True, batch_size=4, max_steps=20, progress=False, tensorboard=False,
                save_model=False, out=str(tmp_path), max_grad_norm=0.0)
    return TrainConfig(**{**base, **kw})
