"""``hf/<dir>`` for image-text-to-text models (LLaVA, Qwen2-VL, Idefics, ...) through transformers.

``get_model("hf/<dir>")`` picks this class when the folder has an image processor or a vision sub-config.

Our messages (text and image parts) become the processor's chat format: each image part is a
``{"type": "image"}`` placeholder and the PIL images are passed to the processor in order. Generation
is greedy when ``temperature == 0``. ``model`` / ``processor`` can be given directly (tests pass
small stand-ins; no vision checkpoint is available on this machine).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path
from typing import Any

from modelworks.chat._types import GenerateConfig, Message
from modelworks.errors import UserError

__all__ = ["HFVisionChat", "is_vision_model_dir", "load_pil"]


def is_vision_model_dir(path: str | Path) -> bool:
    """True for a local HF folder that has an image processor or a vision sub-config."""
    p = Path(path)
    if (p / "preprocessor_config.json").is_file() or (p / "processor_config.json").is_file():
        return True
    try:
        cfg = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return "vision_config" in cfg


def load_pil(image: Any):
    """A PIL RGB image from a path, raw bytes, a ``data:`` URL or a PIL image."""
    from PIL import Image

    if isinstance(image, str) and image.startswith("data:"):
        image = base64.b64decode(image.split(",", 1)[1])
    if isinstance(image, (bytes, bytearray)):
        return Image.open(io.BytesIO(bytes(image))).convert("RGB")
    if isinstance(image, (str, Path)):
        if not Path(image).is_file():
            raise UserError(f"image file not found: {image}")
        return Image.open(image).convert("RGB")
    return image.convert("RGB")


class HFVisionChat:
    def __init__(self, path: str, device: str = "auto", dtype: str = "auto", model: Any = None,
                 processor: Any = None) -> None:
        from modelworks.env import default_device

        self.name = f"hf/{path}"
        self.device = default_device(device)
        if processor is None or model is None:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            from modelworks.models import resolve_model_path

            local = resolve_model_path(path)
            torch_dtype = {"auto": "auto", "fp32": torch.float32, "bf16": torch.bfloat16,
                           "fp16": torch.float16}.get(dtype)
            if torch_dtype is None:
                raise UserError(f"dtype '{dtype}' is not one of auto, fp32, bf16, fp16")
            try:
                processor = processor or AutoProcessor.from_pretrained(local)
                model = model or AutoModelForImageTextToText.from_pretrained(local, dtype=torch_dtype)
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UserError(f"could not load image-text-to-text model '{path}': {first[:200]}") from None
            model = model.to(self.device).eval()
        self.processor = processor
        self.model = model
        self._lock = threading.Lock()

    def to_hf(self, messages: list[Message]) -> tuple[list[dict[str, Any]], list[Any]]:
        """Our messages -> (the processor's chat messages, the PIL images in order)."""
        conv, images = [], []
        for m in messages:
            content = m["content"]
            if isinstance(content, str):
                parts = [{"type": "text", "text": content}]
            else:
                parts = []
                for p in content:
                    if p.get("type") == "image":
                        images.append(load_pil(p["image"]))
                        parts.append({"type": "image"})
                    else:
                        parts.append({"type": "text", "text": p.get("text", "")})
            conv.append({"role": m["role"], "content": parts})
        return conv, images

    def generate(self, messages: list[Message], config: GenerateConfig | None = None) -> str:
        import torch

        from modelworks.chat.hf import decoding_kwargs

        c = config or GenerateConfig()
        conv, images = self.to_hf(messages)
        prompt = self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
        enc = self.processor(text=[prompt], images=images or None, return_tensors="pt")
        enc = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in dict(enc).items()}
        kwargs = decoding_kwargs(c)
        with self._lock, torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        text = self.processor.batch_decode(new, skip_special_tokens=True)[0]
        for s in c.stop:
            text = text.split(s)[0]
        return text.strip()

    def generate_batch(self, conversations: list[list[Message]], config: GenerateConfig | None = None) -> list[str]:
        return [self.generate(c, config) for c in conversations]

    def complete(self, prompt: str, config: GenerateConfig | None = None) -> str:
        return self.generate([{"role": "user", "content": prompt}], config)
