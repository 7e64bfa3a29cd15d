"""The package's own training loop: bf16 autocast (``precision``) and the divergence error."""

from __future__ import annotations

import copy

import pytest
import torch

from modelworks.config import load_config
from modelworks.errors import ConfigError, UserError
from modelworks.unlearn.config import UnlearnConfig
from modelworks.unlearn.loop import autocast, finetune
from modelworks.unlearn.qa import QATemplate


def _logit_dtypes(model) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    model.register_forward_hook(lambda _m, _a, out: seen.append(out.logits.dtype))
    return seen


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_finetune_runs_its_forward_passes_in_the_given_precision(setup, precision):
    base, tok, rows, _ = setup
    model = copy.deepcopy(base)
    seen = _logit_dtypes(model)
    losses = finetune(model, tok, QATemplate(), rows, epochs=3, lr=3e-3, batch_size=8, max_length=64,
                      precision=precision)
    assert losses[-1] < losses[0]
    assert set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: the weights stay fp32


def test_unlearning_steps_run_in_bf16_too(setup):
    from modelworks.unlearn.batches import batch_stream, build_examples
    from modelworks.unlearn.loop import run_steps
    from modelworks.unlearn.methods import MethodConfig, get_method

    base, tok, rows, _ = setup
    model = copy.deepcopy(base)
    seen = _logit_dtypes(model)
    ga = get_method("ga")
    examples = build_examples(rows, rows, ga.target, seed=0)
    run_steps(model, lambda b: ga.loss(model, b, None, MethodConfig(), "none"),
              batch_stream(examples, tok, QATemplate(), 4, seed=0), steps=2, lr=1e-3, precision="bf16")
    assert seen and set(seen) == {torch.bfloat16}
    with autocast(model, "fp32"):
        assert model(torch.tensor([[1, 2, 3]])).logits.dtype == torch.float32


def test_diverged_finetuning_is_a_clear_error(setup):
    base, tok, rows, _ = setup
    with pytest.raises(UserError, match=r"fine-tuning diverged: mean loss nan in epoch \d+ \(lower finetune.lr\)"):
        finetune(copy.deepcopy(base), tok, QATemplate(), rows, epochs=3, lr=1e6, batch_size=8, max_length=64)


def test_precision_key_is_validated(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("precision: bf16\n")
    assert load_config(UnlearnConfig, cfg, []).precision == "bf16"
    with pytest.raises(ConfigError, match="key 'precision' expects one of 'fp32', 'bf16', got 'fp16'"):
        load_config(UnlearnConfig, cfg, ["precision=fp16"])
