"""The chat seam: messages, generation settings, and the ChatModel protocol."""

from __future__ import annotations

import base64
import io
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# A message is {"role": "system"|"user"|"assistant", "content": str | list[part]} where a part is
# {"type": "text", "text": str} or {"type": "image", "image": <path | bytes | PIL.Image>}.
Message = dict[str, Any]


@dataclass
class GenerateConfig:
    """Decoding settings shared by every provider. ``temperature == 0`` means greedy."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers a conversation. Providers: mock, hf/<dir>, openai/<model>."""

    name: str

    def generate(self, messages: list[Message], config: GenerateConfig | None = None) -> str: ...

    def generate_batch(self, conversations: list[list[Message]], config: GenerateConfig | None = None) -> list[str]: ...

    def complete(self, prompt: str, config: GenerateConfig | None = None) -> str: ...


def text_of(content: Any) -> str:
    """The text of a message's content (image parts dropped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def images_of(content: Any) -> list[Any]:
    """The image parts of a message's content, in order."""
    if isinstance(content, list):
        return [p["image"] for p in content if isinstance(p, dict) and p.get("type") == "image"]
    return []


def image_data_url(image: Any) -> str:
    """A base64 ``data:`` URL for an image given as a path, raw bytes or a PIL image."""
    if isinstance(image, str) and image.startswith("data:"):
        return image
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            from modelworks.errors import UserError

            raise UserError(f"image file not found: {path}")
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"
    if isinstance(image, (bytes, bytearray)):
        return f"data:image/png;base64,{base64.b64encode(bytes(image)).decode()}"
    buf = io.BytesIO()  # a PIL image
    image.save(buf, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"
