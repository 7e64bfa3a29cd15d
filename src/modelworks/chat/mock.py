"""The mock provider: deterministic scripted answers, so every pipeline runs in tests without weights.

``mock`` / ``mock/echo`` answers with the last user text; ``mock/fixed`` cycles through
``responses``; ``MockChat(fn=...)`` calls a function with the messages. Every call is recorded in
``calls`` so tests can check exactly what a model was shown.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from modelworks.chat._registry import register_provider
from modelworks.chat._types import GenerateConfig, Message, text_of


class MockChat:
    def __init__(
        self,
        responses: Sequence[str] | None = None,
        fn: Callable[[list[Message]], str] | None = None,
        name: str = "mock",
        prefix: str = "",
    ) -> None:
        self.name = name
        self._fn = fn
        self._prefix = prefix
        self._cycle = itertools.cycle(list(responses)) if responses else None
        self._lock = threading.Lock()
        self.calls: list[list[Message]] = []

    def generate(self, messages: list[Message], config: GenerateConfig | None = None) -> str:
        snapshot = [dict(m) for m in messages]
        with self._lock:
            self.calls.append(snapshot)
            if self._fn is not None:
                return self._fn(snapshot)
            if self._cycle is not None:
                return next(self._cycle)
        last_user = next((text_of(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
        return f"{self._prefix}{last_user}"

    def generate_batch(self, conversations: list[list[Message]], config: GenerateConfig | None = None) -> list[str]:
        return [self.generate(c, config) for c in conversations]

    def complete(self, prompt: str, config: GenerateConfig | None = None) -> str:
        return self.generate([{"role": "user", "content": prompt}], config)


@register_provider("mock")
def _mock(
    model: str = "", responses: Sequence[str] | None = None, fn: Any = None, prefix: str = "", **_: Any
) -> MockChat:
    from modelworks.errors import UserError

    if responses is not None and not (isinstance(responses, (list, tuple)) and all(isinstance(r, str) for r in responses)):
        raise UserError(f"mock option 'responses' must be a list of strings, got {responses!r}")
    if not isinstance(prefix, str):
        raise UserError(f"mock option 'prefix' must be a string, got {prefix!r}")
    if model in ("", "echo"):
        return MockChat(responses=responses, fn=fn, name=f"mock/{model or 'echo'}", prefix=prefix)
    if model == "fixed":
        return MockChat(responses=responses or ["OK"], name="mock/fixed")
    raise UserError(f"unknown mock model 'mock/{model}'; use mock, mock/echo or mock/fixed")
