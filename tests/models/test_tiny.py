from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from modelworks.errors import ConfigError, UserError
from modelworks.models import TinyLMConfig, build_tiny_lm, load_causal_lm, load_tokenizer


def test_tiny_model_and_tokenizer_round_trip_through_from_pretrained(tmp_path):
    texts = ["the cat sat on the mat", "a dog ran in the park"] * 20
    model, tok = build_tiny_lm(TinyLMConfig(layers=2, hidden=64, heads=4, vocab_size=300), texts, tmp_path)
    model2 = AutoModelForCausalLM.from_pretrained(tmp_path)
    tok2 = AutoTokenizer.from_pretrained(tmp_path)
    ids = tok2("the cat ran", return_tensors="pt")["input_ids"]
    assert tok2.decode(ids[0]) == "the cat ran"
    assert ids.tolist() == tok("the cat ran", return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model2(ids).logits)
    assert model2.config.num_hidden_layers == 2 and model2.config.hidden_size == 64
    assert tok2.chat_template and "<|assistant|>" in tok2.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )


def test_same_seed_same_weights(tmp_path):
    texts = ["one two three"] * 10
    a, tok = build_tiny_lm(TinyLMConfig(seed=3), texts)
    b, _ = build_tiny_lm(TinyLMConfig(seed=3), tokenizer=tok)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_invalid_shapes_are_rejected():
    with pytest.raises(ConfigError, match="divisible"):
        TinyLMConfig(hidden=65, heads=4)
    with pytest.raises(ConfigError, match="'layers' must be >= 1, got 0"):
        TinyLMConfig(layers=0)
    with pytest.raises(ConfigError, match="'intermediate' must be >= 1, got -5"):
        TinyLMConfig(intermediate=-5)
    with pytest.raises(ConfigError, match="'kv_heads' must be >= 1, got 0"):
        TinyLMConfig(kv_heads=0)


def test_loading_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match="model directory not found: ./no/such/dir"):
        load_causal_lm("./no/such/dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        load_tokenizer(tmp_path / "empty")
    with pytest.raises(UserError, match="could not load 'some-org/some-model'.*hub") as e:
        load_causal_lm("some-org/some-model")
    assert "\n" not in str(e.value)
