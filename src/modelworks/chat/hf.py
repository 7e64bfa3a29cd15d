"""``hf/<dir>``: a local transformers causal LM as a chat model.

Uses the tokenizer's chat template when it has one, a plain ``role: text`` prompt otherwise;
generates in batches with left padding; greedy when ``temperature == 0``, sampling otherwise.
A folder with an image processor or a vision sub-config is served by :mod:`modelworks.chat.vision` instead.
"""

from __future__ import annotations

import threading
from typing import Any

from modelworks.chat._registry import register_provider
from modelworks.chat._types import GenerateConfig, Message, text_of
from modelworks.env import default_device


def decoding_kwargs(config: GenerateConfig) -> dict[str, Any]:
    """``generate()`` keyword arguments for our settings: greedy at temperature 0, else seeded sampling."""
    import torch

    if config.temperature <= 0:
        return {"max_new_tokens": config.max_tokens, "do_sample": False}
    if config.seed is not None:
        torch.manual_seed(config.seed)
    return {"max_new_tokens": config.max_tokens, "do_sample": True, "temperature": config.temperature,
            "top_p": config.top_p}


def plain_prompt(messages: list[Message]) -> str:
    """The prompt for a tokenizer without a chat template."""
    lines = [f"{m['role']}: {text_of(m['content'])}" for m in messages]
    return "\n".join(lines) + "\nassistant:"


class HFChat:
    def __init__(
        self,
        path: str,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        model: Any = None,
        tokenizer: Any = None,
    ) -> None:
        from modelworks.models import load_causal_lm, load_tokenizer

        self.name = f"hf/{path}"
        self.device = default_device(device)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = model if model is not None else load_causal_lm(path, self.device, dtype)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one forward at a time per model

    def render(self, messages: list[Message]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            plain = [{"role": m["role"], "content": text_of(m["content"])} for m in messages]
            return self.tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        return plain_prompt(messages)

    def _generate_prompts(self, prompts: list[str], config: GenerateConfig | None) -> list[str]:
        import torch

        c = config or GenerateConfig()
        outs: list[str] = []
        for i in range(0, len(prompts), self.batch_size):
            chunk = prompts[i : i + self.batch_size]
            enc = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            kwargs = decoding_kwargs(c)
            kwargs.update(pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id)
            with self._lock, torch.no_grad():
                gen = self.model.generate(**enc, **kwargs)
            new = gen[:, enc["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for t in texts:
                for s in c.stop:
                    t = t.split(s)[0]
                outs.append(t.strip())
        return outs

    def generate(self, messages: list[Message], config: GenerateConfig | None = None) -> str:
        return self._generate_prompts([self.render(messages)], config)[0]

    def generate_batch(self, conversations: list[list[Message]], config: GenerateConfig | None = None) -> list[str]:
        return self._generate_prompts([self.render(m) for m in conversations], config)

    def complete(self, prompt: str, config: GenerateConfig | None = None) -> str:
        return self._generate_prompts([prompt], config)[0]


@register_provider("hf")
def _hf(model: str, **options: Any):
    from modelworks.chat.vision import HFVisionChat, is_vision_model_dir

    if is_vision_model_dir(model):
        return HFVisionChat(model, **options)
    return HFChat(model, **options)
