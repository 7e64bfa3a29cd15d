"""Every optimizer trains a tiny model; LOMO equals SGD and AdaLomo equals Adafactor where the maths agree."""

from __future__ import annotations

import copy

import pytest
import torch

from modelworks.errors import ConfigError
from modelworks.train import build_optimizer, collate, fit, token_loss_sum
from modelworks.train.optimizers import OPTIMIZER_REGISTRY, fused_backward, register_optimizer
from tests.train._tiny import cfg, tiny

LRS = {"adamw": 1e-2, "sgd": 1.0, "lion": 2e-3, "adan": 1e-2, "sophia": 0.5, "lomo": 1.0, "adalomo": 5e-2}


@pytest.mark.parametrize("name", list(LRS))
def test_loss_falls_over_20_steps(name, tmp_path):
    model, tok, rows = tiny()
    res = fit(cfg(tmp_path, optimizer=name, lr=LRS[name], max_grad_norm=1.0, seed=1), model=model, tokenizer=tok,
              train_dataset=rows)
    losses = [h["loss"] for h in res.history]
    assert len(losses) == 20
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < first - 0.3, (name, losses)


def _losses(model, rows, make_opt, fused: bool, lr: float, steps: int = 5):
    torch.manual_seed(0)
    opt = make_opt(model)
    out = []
    for i in range(steps):
        batch = collate(rows[i * 4:(i + 1) * 4])
        s, n = token_loss_sum(model, batch)
        loss = s / n
        if fused:
            fused_backward(opt, loss, lr)
        else:
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        out.append(float(loss))
    return out, model


def test_lomo_equals_sgd():
    model, _, rows = tiny()
    lomo, m1 = _losses(copy.deepcopy(model), rows, lambda m: build_optimizer("lomo", m, lr=0.5), True, 0.5)
    sgd, m2 = _losses(copy.deepcopy(model), rows, lambda m: torch.optim.SGD(m.parameters(), lr=0.5), False, 0.5)
    assert lomo == sgd
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)


def test_adalomo_equals_adafactor():
    """AdaLomo's update is Adafactor's (factored second moment, beta2_t = 1 - t^-0.8, relative step size,
    RMS update clipping at 1) fused into backward; torch.optim.Adafactor is the independent oracle."""
    model, _, rows = tiny()
    lr = 1e-2
    ada, m1 = _losses(copy.deepcopy(model), rows, lambda m: build_optimizer("adalomo", m, lr=lr), True, lr)
    ref, m2 = _losses(copy.deepcopy(model), rows, lambda m: torch.optim.Adafactor(
        m.parameters(), lr=lr, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0), False, lr)
    assert ada == pytest.approx(ref, abs=1e-4)
    assert ada[-1] < ada[0]


def test_lomo_clipping_pass_reports_grad_norm(tmp_path):
    model, tok, rows = tiny()
    res = fit(cfg(tmp_path, optimizer="lomo", lr=0.5, max_grad_norm=0.5, max_steps=3), model=model, tokenizer=tok,
              train_dataset=rows)
    assert all(h["grad_norm"] and h["grad_norm"] > 0 for h in res.history)


def test_registry_rejects_duplicates_and_unknown_names():
    assert set(LRS) <= set(OPTIMIZER_REGISTRY)
    with pytest.raises(ValueError, match="already registered"):
        register_optimizer("adamw")(lambda p, **kw: None)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        build_optimizer("nope", [torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ConfigError, match="optimizer_args"):
        build_optimizer("adamw", [torch.nn.Parameter(torch.zeros(1))], lr=1e-3, no_such_arg=1)
