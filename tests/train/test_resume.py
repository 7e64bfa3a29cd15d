"""Checkpoint/resume: a run resumed from step k repeats the uninterrupted run's losses (CPU fp32)."""

from __future__ import annotations

import json

import pytest

from modelworks.errors import UserError
from modelworks.train import fit
from tests.train._tiny import cfg, tiny


@pytest.mark.parametrize("optimizer,accum", [("adamw", 2), ("adalomo", 1)])
def test_resume_gives_the_same_losses(optimizer, accum, tmp_path):
    model, tok, rows = tiny()
    rows = rows[:12]  # a few batches per epoch, so the run crosses epoch boundaries (reshuffles)
    kw = dict(optimizer=optimizer, lr=1e-2, max_steps=8, save_every=4, grad_accum=accum, scheduler="cosine",
              warmup_steps=2, max_grad_norm=1.0 if optimizer == "adamw" else 0.0)
    full = fit(cfg(tmp_path / "full", **kw), model=model, tokenizer=tok, train_dataset=rows)
    ckpt = tmp_path / "full" / "checkpoints" / "step-00000004"
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "optimizer.pt").is_file()
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["step"] == 4 and state["epoch"] >= 1
    other, _, _ = tiny()
    for p in other.parameters():  # prove the weights come from the checkpoint, not the shared init
        p.data.add_(0.5)
    resumed = fit(cfg(tmp_path / "resumed", resume=str(ckpt), **kw), model=other, tokenizer=tok,
                  train_dataset=rows)
    a = [h["loss"] for h in full.history[4:]]
    b = [h["loss"] for h in resumed.history]
    assert len(b) == 4
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-6, (a, b)


def test_resume_latest_and_missing(tmp_path):
    model, tok, rows = tiny()
    with pytest.raises(UserError, match="no checkpoint"):
        fit(cfg(tmp_path, resume="latest", max_steps=2), model=model, tokenizer=tok, train_dataset=rows)
    with pytest.raises(UserError, match="not a checkpoint"):
        fit(cfg(tmp_path / "x", resume=str(tmp_path), max_steps=2), model=model, tokenizer=tok, train_dataset=rows)


def test_resuming_in_the_same_folder_logs_each_step_once(tmp_path):
    """A run stopped after its step-4 checkpoint but with rows up to step 6 (as when interrupted): resuming
    in the same folder trains steps 5.. again and keeps one metrics row per step."""
    from modelworks.runs import read_metrics

    model, tok, rows = tiny()
    kw = dict(optimizer="adamw", lr=1e-2, save_every=4, log_every=1)
    fit(cfg(tmp_path, max_steps=6, **kw), model=model, tokenizer=tok, train_dataset=rows[:12])
    assert not (tmp_path / "checkpoints" / "step-00000006").exists()  # the last saved state is step 4
    fit(cfg(tmp_path, max_steps=8, resume="latest", **kw), model=model, tokenizer=tok, train_dataset=rows[:12])
    steps = [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl") if "loss" in r]
    assert steps == list(range(1, 9)), steps
