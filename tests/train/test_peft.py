"""PEFT: each method trains only its own parameters, round-trips through safetensors, LoRA merges."""

from __future__ import annotations

import copy

import pytest
import torch

from modelworks.train import PeftSpec, apply_peft, collate, fit, load_adapter, merge_lora
from tests.train._tiny import cfg, tiny

MARKERS = {"lora": "lora_", "prefix": "prompt_encoder", "prompt": "prompt_encoder", "p_tuning": "prompt_encoder",
           "ia3": "ia3_l"}


def _logits(model, batch):
    model.eval()
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return out[:, -batch["input_ids"].shape[1]:]


@pytest.mark.parametrize("method", list(MARKERS))
def test_method_trains_only_its_parameters_and_round_trips(method, tmp_path):
    model, tok, rows = tiny()
    base_before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = PeftSpec(method=method, r=4, num_virtual_tokens=4, encoder_hidden_size=16)
    res = fit(cfg(tmp_path, optimizer="adamw", lr=3e-2, max_steps=4, peft=spec, save_model=True), model=model,
              tokenizer=tok, train_dataset=rows)
    trained = res.model
    names = [n for n, p in trained.named_parameters() if p.requires_grad]
    assert names and all(MARKERS[method] in n for n in names), names
    assert res.metrics["trainable_params"] < res.metrics["total_params"] / 5
    # the base weights did not move (LoRA/IA3 wrap them in place: compare through the base layer names)
    base_now = {k.replace("base_model.model.", "").replace(".base_layer", ""): v
                for k, v in trained.state_dict().items() if MARKERS[method] not in k}
    for k, v in base_before.items():
        if k in base_now:
            assert torch.equal(base_now[k], v), k
    # the adapter moved and round-trips through adapter_model.safetensors
    adapter_dir = res.saved["adapter"]
    assert (adapter_dir / "adapter_model.safetensors").is_file()
    fresh, _, _ = tiny()
    loaded = load_adapter(fresh, adapter_dir)
    batch = collate(rows[:2])
    assert torch.allclose(_logits(trained, batch), _logits(loaded, batch), atol=1e-5)
    plain, _, _ = tiny()
    assert not torch.allclose(_logits(plain, batch), _logits(trained, batch), atol=1e-4)


def test_lora_merge_gives_the_same_outputs(tmp_path):
    model, tok, rows = tiny()
    res = fit(cfg(tmp_path, lr=3e-2, max_steps=3, peft=PeftSpec(method="lora", r=4, merge=True), save_model=True),
              model=model, tokenizer=tok, train_dataset=rows)
    assert (res.saved["merged"] / "model.safetensors").is_file()
    fresh, _, _ = tiny()
    peft_model = load_adapter(fresh, res.saved["adapter"])
    batch = collate(rows[:2])
    ref = _logits(peft_model, batch)
    merged = merge_lora(peft_model)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    assert torch.allclose(_logits(merged, batch), ref, atol=1e-5)
    assert torch.allclose(_logits(res.model, batch), ref, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["lomo", "adalomo", "lion"])
def test_lora_with_other_optimizers(optimizer, tmp_path):
    model, tok, rows = tiny()
    peft_model = apply_peft(copy.deepcopy(model), PeftSpec(method="lora", r=4))
    assert all("lora_" in n for n, p in peft_model.named_parameters() if p.requires_grad)
    lr = {"lomo": 1.0, "adalomo": 5e-2, "lion": 5e-3}[optimizer]
    res = fit(cfg(tmp_path, optimizer=optimizer, lr=lr, max_steps=8, peft=PeftSpec(method="lora", r=4)),
              model=model, tokenizer=tok, train_dataset=rows)
    assert res.history[-1]["loss"] < res.history[0]["loss"]
