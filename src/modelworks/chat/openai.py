"""``openai/<model>``: any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, ``modelworks serve``).

- bounded concurrency: one semaphore per endpoint (base URL), shared by every client in the process;
- retries with exponential backoff and full jitter on 429, 5xx, timeouts and connection errors
  (the SDK's own retries are switched off so that this policy is the only one and is testable);
- an on-disk response cache keyed by the whole request (endpoint, model, messages, settings);
  ``cache=False`` turns it off;
- image parts become base64 ``data:`` URLs for vision models.

The key comes from ``OPENAI_API_KEY`` (or ``api_key=``); the base URL from ``--base-url`` /
``base_url=`` or ``OPENAI_BASE_URL``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelworks.chat._registry import register_provider
from modelworks.chat._types import GenerateConfig, Message, image_data_url
from modelworks.errors import UserError, require

_SEMAPHORES: dict[str, threading.BoundedSemaphore] = {}
_SEM_LOCK = threading.Lock()
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def endpoint_semaphore(base_url: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore of one endpoint (created with the first caller's limit)."""
    with _SEM_LOCK:
        if base_url not in _SEMAPHORES:
            _SEMAPHORES[base_url] = threading.BoundedSemaphore(max(1, limit))
        return _SEMAPHORES[base_url]


def default_cache_dir() -> Path:
    return Path(os.environ.get("MODELWORKS_CACHE", Path.home() / ".cache" / "modelworks")) / "chat"


class ResponseCache:
    """One JSON file per request hash; writes are atomic so parallel writers never corrupt it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        path = self.root / key[:2] / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))["response"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return None

    def put(self, key: str, request: dict[str, Any], response: str) -> None:
        from modelworks.runs import atomic_write_text

        atomic_write_text(
            self.root / key[:2] / f"{key}.json",
            json.dumps({"request": request, "response": response}, ensure_ascii=False),
        )


def _wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "image":
                    parts.append({"type": "image_url", "image_url": {"url": image_data_url(p["image"])}})
                else:
                    parts.append(p)
            content = parts
        out.append({"role": m["role"], "content": content})
    return out


def _retryable(exc: Exception) -> bool:
    openai = require("openai", "dev", "OpenAI-compatible servers")
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    return status in RETRY_STATUS or (status is not None and status >= 500)


def _option(name: str, value: Any, low: float, kind: type) -> Any:
    """An option as ``kind`` (2.0 -> 2, "1e-3" -> 0.001), at least ``low`` (> 0 for timeout), or a one-line error."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    ok = math.isfinite(number) and number >= low and (name != "timeout" or number > 0)
    if kind is int:
        ok = ok and number.is_integer()
    if not ok:
        what = "an integer" if kind is int else "a number"
        rule = "> 0" if name == "timeout" else f">= {low:g}"
        raise UserError(f"openai option '{name}' must be {what} {rule}, got {value!r}")
    return int(number) if kind is int else number


class OpenAIChat:
    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 120.0,
        cache: bool | str | Path = True,
        http_client: Any = None,
    ) -> None:
        openai = require("openai", "dev", "OpenAI-compatible servers")
        max_concurrency = _option("max_concurrency", max_concurrency, 1, int)
        max_retries = _option("max_retries", max_retries, 0, int)
        backoff_base = _option("backoff_base", backoff_base, 0, float)
        backoff_max = _option("backoff_max", backoff_max, 0, float)
        if isinstance(timeout, (int, float, str)):  # or None / an httpx.Timeout, passed on as they are
            timeout = _option("timeout", timeout, 0, float)
        self.name = f"openai/{model}"
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.client = openai.OpenAI(
            base_url=self.base_url, api_key=key, max_retries=0, timeout=timeout, http_client=http_client
        )
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.semaphore = endpoint_semaphore(self.base_url, max_concurrency)
        if cache is True:
            self.cache: ResponseCache | None = ResponseCache(default_cache_dir())
        elif cache:
            self.cache = ResponseCache(cache)  # type: ignore[arg-type]
        else:
            self.cache = None
        self.requests_sent = 0  # HTTP attempts, for tests and reports

    # -- one request, cached and retried ------------------------------------------------------
    def _call(self, kind: str, payload: dict[str, Any]) -> str:
        request = {"endpoint": self.base_url, "kind": kind, **payload}
        key = ResponseCache.key(request) if self.cache else ""
        if self.cache and (hit := self.cache.get(key)) is not None:
            return hit
        attempt = 0
        while True:
            try:
                with self.semaphore:
                    self.requests_sent += 1
                    if kind == "chat":
                        resp = self.client.chat.completions.create(**payload)
                        text = resp.choices[0].message.content or ""
                    else:
                        resp = self.client.completions.create(**payload)
                        text = resp.choices[0].text or ""
                break
            except Exception as exc:  # noqa: BLE001 - sorted into retryable and final below
                if attempt >= self.max_retries or not _retryable(exc):
                    raise UserError(
                        f"{self.name} at {self.base_url}: request failed after {attempt + 1} attempt(s): "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    ) from exc
                delay = min(self.backoff_max, self.backoff_base * 2**attempt)
                time.sleep(random.uniform(0, delay))  # full jitter
                attempt += 1
        if self.cache:
            self.cache.put(key, request, text)
        return text

    def _params(self, config: GenerateConfig | None) -> dict[str, Any]:
        c = config or GenerateConfig()
        params: dict[str, Any] = {"max_tokens": c.max_tokens, "temperature": c.temperature, "top_p": c.top_p}
        if c.seed is not None:
            params["seed"] = c.seed
        if c.stop:
            params["stop"] = list(c.stop)
        return params

    def generate(self, messages: list[Message], config: GenerateConfig | None = None) -> str:
        payload = {"model": self.model, "messages": _wire_messages(messages), **self._params(config)}
        return self._call("chat", payload)

    def generate_batch(self, conversations: list[list[Message]], config: GenerateConfig | None = None) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, self.max_concurrency)) as pool:
            return list(pool.map(lambda msgs: self.generate(msgs, config), conversations))

    def complete(self, prompt: str, config: GenerateConfig | None = None) -> str:
        return self._call("completion", {"model": self.model, "prompt": prompt, **self._params(config)})


@register_provider("openai")
def _openai(model: str, **options: Any) -> OpenAIChat:
    return OpenAIChat(model, **options)
