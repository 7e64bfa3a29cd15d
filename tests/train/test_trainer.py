"""The fit recipe: custom losses over nested batches (the API other capabilities use), gradient
checkpointing, bf16, chat data through the config path, metrics rows."""

from __future__ import annotations

import pytest
import torch

from modelworks.errors import UserError
from modelworks.runs import Run, read_metrics
from modelworks.train import TrainConfig, fit
from tests.train._tiny import cfg, tiny


def test_custom_loss_over_forget_and_retain_parts(tmp_path):
    model, tok, rows = tiny()
    items = [{"forget": rows[i], "retain": rows[i + 1]} for i in range(0, 32, 2)]
    seen = []

    def loss_fn(m, batch):
        seen.append(tuple(batch))
        f = m(**batch["forget"]).loss
        r = m(**batch["retain"]).loss
        return r - 0.1 * f, {"forget_loss": f.item(), "retain_loss": r.item()}

    run = Run.create("unlearn", out=tmp_path)  # a caller's own run: fit logs into it, leaves results.json alone
    res = fit(cfg(tmp_path, lr=1e-2, max_steps=6), model=model, tokenizer=tok, train_dataset=items, loss_fn=loss_fn,
              run=run)
    run.close()
    assert (tmp_path / "train_results.json").is_file() and not (tmp_path / "results.json").exists()
    assert seen[0] == ("forget", "retain")
    rows_logged = read_metrics(res.out_dir / "metrics.jsonl")
    assert len(rows_logged) == 6 and all("forget_loss" in r and "retain_loss" in r for r in rows_logged)
    assert rows_logged[-1]["retain_loss"] < rows_logged[0]["retain_loss"]
    assert res.model is model and res.out_dir == tmp_path


def test_gradient_checkpointing_gives_the_same_losses(tmp_path):
    model, tok, rows = tiny()
    plain = fit(cfg(tmp_path / "a", max_steps=4), model=model, tokenizer=tok, train_dataset=rows)
    model2, _, _ = tiny()
    ckpt = fit(cfg(tmp_path / "b", max_steps=4, grad_checkpointing=True), model=model2, tokenizer=tok,
               train_dataset=rows)
    assert any(getattr(m, "gradient_checkpointing", False) for m in ckpt.model.modules())
    a, b = [h["loss"] for h in plain.history], [h["loss"] for h in ckpt.history]
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5


def test_bf16_trains(tmp_path):
    model, tok, rows = tiny()
    res = fit(cfg(tmp_path, precision="bf16", optimizer="adalomo", lr=5e-2, max_steps=10), model=model,
              tokenizer=tok, train_dataset=rows)
    assert next(res.model.parameters()).dtype == torch.bfloat16
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_chat_config_path_with_builtin_data(tmp_path):
    c = TrainConfig(model="tiny:layers=1,hidden=32,heads=2,vocab_size=300", data=["builtin:chat"], data_format="chat",
                    max_len=64, batch_size=8, max_steps=3, eval_fraction=0.1, eval_every=3, progress=False,
                    out=str(tmp_path), lr=1e-2)
    res = fit(c)
    assert res.metrics["eval_loss"] is not None and res.metrics["steps"] == 3
    assert (tmp_path / "model" / "tokenizer.json").is_file() and (tmp_path / "results.json").is_file()


def test_raw_records_with_a_model_need_a_tokenizer(tmp_path):
    model, _, _ = tiny()
    with pytest.raises(UserError, match="tokenizer"):
        fit(cfg(tmp_path), model=model, train_dataset=[{"text": "a b c"}])


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_scheduler_warms_up_then_decays_to_the_floor(kind):
    from modelworks.train import build_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = build_scheduler(opt, kind, warmup_steps=4, total_steps=24, min_lr_ratio=0.05)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])  # linear warm-up to the peak
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))  # then never rises
    assert lrs[24] == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.1)  # and rests at lr * min_lr_ratio
    mid = lrs[14]  # halfway through the decay
    assert mid == pytest.approx(0.1 + 1.9 * 0.5)
    flat = build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0), "constant", 0, 24, 0.05)
    assert flat.get_last_lr() == [2.0]


def test_custom_collate_without_tokens_logs_samples_per_s(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    w = torch.tensor([1.0, -2.0, 0.5])
    records = [{"x": x, "y": float(x @ w)} for x in torch.randn(64, 3)]

    def collate(items):
        return {"x": torch.stack([r["x"] for r in items]), "y": torch.tensor([r["y"] for r in items])}

    def mse(m, batch):
        return torch.nn.functional.mse_loss(m(batch["x"]).squeeze(-1), batch["y"])

    c = TrainConfig(optimizer="adamw", lr=5e-2, batch_size=16, max_steps=20, save_model=False, progress=False,
                    tensorboard=False, out=str(tmp_path), device="cpu")
    res = fit(c, model=model, train_dataset=records, loss_fn=mse, collate_fn=collate)
    rows = read_metrics(res.out_dir / "metrics.jsonl")
    assert len(rows) == 20 and rows[-1]["loss"] < rows[0]["loss"]
    assert all(r["tokens_per_s"] is None and r["samples_per_s"] > 0 for r in rows)
    assert res.metrics["tokens_per_s"] is None
