"""Shared fixtures of the unlearn tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(tiny Llama, its tokenizer, forget10 rows, retain90 rows) of a generated 10-author TOFU."""
    import torch

    from modelworks.models import TinyLMConfig, build_tiny_lm
    from modelworks.unlearn.tofu import load_split
    from modelworks.unlearn.tofu_generator import generate_tofu

    torch.set_num_threads(1)
    root = generate_tofu(tmp_path_factory.mktemp("tofu"), n_authors=10, seed=0)
    full = load_split(root, "full")
    model, tok = build_tiny_lm(TinyLMConfig(seed=0), [r["question"] + " " + r["answer"] for r in full])
    return model, tok, load_split(root, "forget10"), load_split(root, "retain90")
