from __future__ import annotations

import pytest

from modelworks.chat import GenerateConfig, MockChat, get_model, image_data_url, providers, text_of
from modelworks.chat.hf import plain_prompt
from modelworks.errors import UserError


def test_mock_echo_fixed_and_callable_are_deterministic():
    echo = get_model("mock")
    assert echo.generate([{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}]) == "hello"
    fixed = get_model("mock/fixed", responses=["a", "b"])
    assert [fixed.generate([{"role": "user", "content": "x"}]) for _ in range(3)] == ["a", "b", "a"]
    fn = MockChat(fn=lambda msgs: f"{len(msgs)} messages")
    assert fn.generate_batch([[{"role": "user", "content": "x"}]] * 2) == ["1 messages", "1 messages"]
    assert fn.calls == [[{"role": "user", "content": "x"}]] * 2
    assert echo.complete("plain prompt") == "plain prompt"


def test_registry_errors():
    assert {"mock", "hf", "openai"} <= set(providers())
    with pytest.raises(UserError, match="unknown model provider 'vllm'"):
        get_model("vllm/x")
    with pytest.raises(UserError, match="names no model"):
        get_model("openai/")
    with pytest.raises(UserError, match="unknown mock model"):
        get_model("mock/whatever")


def test_message_helpers(tmp_path):
    content = [
        {"type": "text", "text": "look "},
        {"type": "image", "image": b"\x89PNG"},
        {"type": "text", "text": "here"},
    ]
    assert text_of(content) == "look here"
    assert image_data_url(b"\x89PNG").startswith("data:image/png;base64,")
    with pytest.raises(UserError, match="image file not found"):
        image_data_url(tmp_path / "missing.png")
    assert plain_prompt([{"role": "user", "content": "hi"}]) == "user: hi\nassistant:"


def test_hf_provider_generates_batches_with_chat_template(tiny_lm_dir):
    chat = get_model(f"hf/{tiny_lm_dir}", device="cpu", batch_size=2)
    convs = [[{"role": "user", "content": f"question {i}: what is {i} plus {i}?"}] for i in range(3)]
    cfg = GenerateConfig(max_tokens=5)
    batch = chat.generate_batch(convs, cfg)
    assert len(batch) == 3 and all(isinstance(t, str) for t in batch)
    # greedy decoding is deterministic and batching (left padding) does not change the answer
    assert chat.generate(convs[2], cfg) == batch[2]
    assert "<|user|>" in chat.render(convs[0])
    sampled = chat.generate(convs[0], GenerateConfig(max_tokens=5, temperature=1.0, seed=1))
    assert sampled == chat.generate(convs[0], GenerateConfig(max_tokens=5, temperature=1.0, seed=1))


def test_hf_provider_without_chat_template_uses_plain_prompt(tiny_lm_dir):
    chat = get_model(f"hf/{tiny_lm_dir}", device="cpu")
    chat.tokenizer.chat_template = None
    assert chat.render([{"role": "user", "content": "hi"}]) == "user: hi\nassistant:"
    assert isinstance(chat.complete("question 1:", GenerateConfig(max_tokens=3)), str)
