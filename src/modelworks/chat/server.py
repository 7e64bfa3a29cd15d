"""``modelworks serve``: an OpenAI-compatible HTTP server over a local HF model or the mock.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``. Binds
127.0.0.1 by default; with ``api_key`` every request must carry ``Authorization: Bearer <key>``.
Requests are answered one model call at a time per request (the HF provider serialises forwards).
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from pydantic import BaseModel, Field

from modelworks.chat._registry import get_model
from modelworks.chat._types import ChatModel, GenerateConfig
from modelworks.errors import require


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[dict[str, Any]]
    max_tokens: int | None = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None


class CompletionRequest(BaseModel):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None


def create_app(model: ChatModel, model_id: str = "modelworks", api_key: str | None = None):
    fastapi = require("fastapi", "web", "modelworks serve")
    app = fastapi.FastAPI(title="modelworks serve")

    def check_key(authorization: str | None = fastapi.Header(default=None)) -> None:
        if api_key is None:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(given, api_key):
            raise fastapi.HTTPException(status_code=401, detail="invalid or missing API key")

    def settings(req: Any) -> GenerateConfig:
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        return GenerateConfig(
            max_tokens=req.max_tokens or 256, temperature=req.temperature, top_p=req.top_p, seed=req.seed, stop=stop
        )

    def usage() -> dict[str, int]:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    @app.get("/v1/models", dependencies=[fastapi.Depends(check_key)])
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 0, "owned_by": "modelworks"}]}

    @app.post("/v1/chat/completions", dependencies=[fastapi.Depends(check_key)])
    def chat(req: ChatRequest) -> dict[str, Any]:
        for m in req.messages:
            if "role" not in m or "content" not in m:
                raise fastapi.HTTPException(status_code=400, detail="each message needs 'role' and 'content'")
        messages = [_from_wire(m) for m in req.messages]
        text = model.generate(messages, settings(req))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model or model_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage(),
        }

    @app.post("/v1/completions", dependencies=[fastapi.Depends(check_key)])
    def completions(req: CompletionRequest) -> dict[str, Any]:
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        texts = [model.complete(p, settings(req)) for p in prompts]
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": req.model or model_id,
            "choices": [
                {"index": i, "text": t, "finish_reason": "stop", "logprobs": None} for i, t in enumerate(texts)
            ],
            "usage": usage(),
        }

    return app


def _from_wire(m: dict[str, Any]) -> dict[str, Any]:
    """OpenAI message -> our message (image_url parts become image parts holding the data URL)."""
    content = m["content"]
    if isinstance(content, list):
        parts = []
        for p in content:
            if p.get("type") == "image_url":
                parts.append({"type": "image", "image": p["image_url"]["url"]})
            else:
                parts.append(p)
        content = parts
    return {"role": m["role"], "content": content}


def serve(
    model_spec: str, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None, model_id: str | None = None
) -> None:
    """Load ``mock`` or a local HF directory and serve it until interrupted."""
    uvicorn = require("uvicorn", "web", "modelworks serve")
    is_spec = model_spec == "mock" or model_spec.startswith(("mock/", "hf/"))
    spec = model_spec if is_spec else f"hf/{model_spec}"
    model = get_model(spec)
    app = create_app(model, model_id=model_id or model_spec, api_key=api_key)
    uvicorn.run(app, host=host, port=port, log_level="warning")
