"""Every method: 2 steps on a tiny model move its forget loss the expected way."""

from __future__ import annotations

import copy

import pytest
import torch

from modelworks.errors import UserError
from modelworks.unlearn.batches import batch_stream, build_examples
from modelworks.unlearn.loop import run_steps
from modelworks.unlearn.methods import MethodConfig, get_method, method_names, register_method
from modelworks.unlearn.methods._common import mean_nll
from modelworks.unlearn.qa import QATemplate


def test_registry_has_every_method():
    assert set(method_names()) >= {"meow", "ga", "gd", "kl", "idk", "dpo", "npo"}
    with pytest.raises(UserError, match="unknown unlearning method 'rmu'"):
        get_method("rmu")
    with pytest.raises(ValueError, match="already registered"):
        register_method("ga")(lambda *a: None)


@pytest.mark.parametrize("name", ["meow", "ga", "gd", "kl", "idk", "dpo", "npo"])
def test_two_steps_move_forget_loss(setup, name):
    base, tok, forget, retain = setup
    method = get_method(name)
    cfg = MethodConfig()
    template = QATemplate()
    inverted = [[r["answer"].replace(" was ", " was never ")] for r in forget]
    examples = build_examples(forget, retain, method.target, inverted=inverted, idk=["I don't know."], seed=0)
    model = copy.deepcopy(base)
    ref = copy.deepcopy(base).eval() if method.uses_ref(cfg) else None
    probe = next(batch_stream(examples, tok, template, len(examples), seed=1))
    part = "forget" if method.probe == "forget_up" else "target"
    with torch.no_grad():
        before = float(mean_nll(model, probe[part]))
    kind = method.retain_kind(cfg)
    rows = run_steps(model, lambda b: method.loss(model, b, ref, cfg, kind),
                     batch_stream(examples, tok, template, 8, seed=0), steps=2, lr=1e-3)
    with torch.no_grad():
        after = float(mean_nll(model, probe[part]))
    assert len(rows) == 2
    if method.probe == "forget_up":  # unlearning pushes the true forget answers away
        assert after > before + 1e-3, (name, before, after)
    else:  # meow / idk fit their new answers (inverted facts, "I don't know")
        assert after < before - 1e-3, (name, before, after)
    if kind != "none":
        assert "retain_term" in rows[-1]


def test_retain_variants_and_bad_option(setup):
    m = get_method("meow")
    assert m.retain_kind(MethodConfig()) == "none" and not m.uses_ref(MethodConfig())
    assert m.uses_ref(MethodConfig(retain_loss="kl"))
    assert get_method("npo").retain_kind(MethodConfig()) == "nll"
    with pytest.raises(UserError, match="retain_loss"):
        m.retain_kind(MethodConfig(retain_loss="mse"))


def test_empty_forget_set_and_missing_targets(setup):
    _, _, forget, retain = setup
    with pytest.raises(UserError, match="forget set is empty"):
        build_examples([], retain, None)
    with pytest.raises(UserError, match="inverted answers"):
        build_examples(forget, retain, "inverted", inverted=None)
    with pytest.raises(UserError, match="I don't know"):
        build_examples(forget, retain, "idk", idk=[])


def test_method_through_train_engine(setup, tmp_path):
    """The same loss driven by modelworks.train.fit (the CoLLiE engine) moves the forget loss too."""
    from modelworks.train import TrainConfig, fit
    from modelworks.unlearn.qa import encode_qa

    base, tok, forget, retain = setup
    method, cfg = get_method("gd"), MethodConfig()
    template = QATemplate()
    examples = build_examples(forget, retain, None, seed=0)
    items = [{p: encode_qa(tok, template, *ex[p]) for p in ("forget", "retain")} for ex in examples]
    model = copy.deepcopy(base)
    probe = next(batch_stream(examples, tok, template, len(examples), seed=1))
    with torch.no_grad():
        before = float(mean_nll(model, probe["forget"]))
    tcfg = TrainConfig(lr=1e-3, batch_size=8, max_steps=2, device="cpu", out=str(tmp_path / "eng"), save_model=False,
                       progress=False, tensorboard=False)
    res = fit(tcfg, model=model, tokenizer=tok, train_dataset=items,
              loss_fn=lambda m, b: method.loss(m, {"target": None, **b}, None, cfg, "nll"))
    with torch.no_grad():
        after = float(mean_nll(res.model, probe["forget"]))
    assert after > before + 1e-3
