"""``modelworks serve``: an OpenAI-compatible HTTP server over a local HF model or the mock.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``. Binds
127.0.0.1 by default; with ``api_key`` every request must carry ``Authorization: Bearer <key>``
(checked before the body is read). Requests are answered one model call at a time per request (the
HF provider serialises forwards). No ``/docs`` or ``/openapi.json``.

Honoured request fields: ``model`` (echoed back), ``messages`` (roles system/developer/user/assistant; content
a string or a list of ``text`` and ``image_url`` parts, images only as base64 ``data:image/...``
URLs, never paths or web addresses), ``prompt`` (a string or up to 64 strings), ``max_tokens``
(1..32768), ``temperature`` (0..2), ``top_p`` (0 < p <= 1), ``seed``, ``stop`` (up to 4 strings).
``stream: true`` and ``n`` other than 1 are refused; any other field (logprobs, tools,
response_format, ...) is accepted and ignored. Errors are OpenAI-style
``{"error": {"message", "type", "param", "code"}}``: 400 for an invalid request or malformed JSON,
401 for a wrong key, 404/405 for routes, 413 for a body over 8 MB, 500 (no details) otherwise.
"""

from __future__ import annotations

import base64
import io
import secrets
import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from modelworks.chat._registry import get_model
from modelworks.chat._types import ChatModel, GenerateConfig
from modelworks.errors import require

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_TOKENS = 32768
MAX_PROMPTS = 64
MAX_STOP = 4  # OpenAI's limit

MaxTokens = Annotated[int | None, Field(ge=1, le=MAX_TOKENS)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
TopP = Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
Seed = Annotated[int | None, Field(ge=-(2**63), le=2**63 - 1)]
NonEmptyText = Annotated[str, Field(min_length=1)]


def _as_list(value: Any) -> Any:
    """One string -> a list of one; null -> empty. A plain list type keeps validation errors readable."""
    if isinstance(value, str):
        return [value]
    if value is not None and not isinstance(value, list):
        raise ValueError("must be a string or a list of strings")
    return [] if value is None else value


Stop = Annotated[list[NonEmptyText], BeforeValidator(_as_list), Field(max_length=MAX_STOP)]
Prompts = Annotated[list[NonEmptyText], BeforeValidator(_as_list), Field(min_length=1, max_length=MAX_PROMPTS)]


class ImageURL(BaseModel):
    url: str
    detail: str | None = None

    @field_validator("url")
    @classmethod
    def _data_url_image(cls, url: str) -> str:
        # Only inline images: a path or web address would make the server read its own files or fetch URLs.
        header, comma, payload = url.partition(",")
        if not (url.startswith("data:image/") and header.endswith(";base64") and comma):
            raise ValueError("image_url.url must be a base64 data URL (data:image/<type>;base64,...)")
        from PIL import Image

        try:
            Image.open(io.BytesIO(base64.b64decode(payload, validate=True))).verify()  # checks the file, decodes no pixels
        except Exception:  # noqa: BLE001 - any decoder error (binascii, PIL, bomb guard) means unreadable
            raise ValueError("image_url.url does not hold a readable base64 image") from None
        return url


class ContentPart(BaseModel):
    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageURL | None = None

    @model_validator(mode="after")
    def _has_its_field(self) -> ContentPart:
        if self.type == "text" and self.text is None:
            raise ValueError("a text part needs 'text' (a string)")
        if self.type == "image_url" and self.image_url is None:
            raise ValueError("an image_url part needs 'image_url': {'url': 'data:image/...;base64,...'}")
        return self


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]  # 'developer' is OpenAI's newer name for system
    content: str | list[ContentPart]

    @field_validator("content", mode="before")
    @classmethod
    def _string_or_parts(cls, content: Any) -> Any:
        if not isinstance(content, (str, list)):
            raise ValueError("content must be a string or a list of content parts")
        return content


class _Sampling(BaseModel):
    """The fields both endpoints share."""

    model: str | None = None
    temperature: Temperature = 0.0
    top_p: TopP = 1.0
    seed: Seed = None
    stop: Stop = Field(default_factory=list)
    n: int | None = 1
    stream: bool | None = False


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: MaxTokens = 256


class CompletionRequest(_Sampling):
    prompt: Prompts
    max_tokens: MaxTokens = 16


class APIError(Exception):
    """An error answered as OpenAI's ``{"error": {...}}`` body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None):
    from fastapi.responses import JSONResponse

    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def key_matches(authorization: str | None, api_key: str) -> bool:
    """True for ``Bearer <api_key>`` (scheme in any case); compares bytes, so any header text is safe."""
    scheme, _, given = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), api_key.encode())


def validation_message(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(message, param) for pydantic errors: the most specific one, without echoing the input."""
    err = max(errors, key=lambda e: len(e.get("loc", ())))  # the deepest error names the actual field
    if err.get("type") == "json_invalid":
        return f"request body is not valid JSON: {(err.get('ctx') or {}).get('error', 'decode error')}", None
    # drop "body" and pydantic's union-branch tags ("str", "list[ContentPart]", ...)
    loc = [str(x) for x in err.get("loc", ())[1:] if not (isinstance(x, str) and ("[" in x or x == "str"))]
    param = ".".join(loc) or None
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return (f"{param}: {msg}" if param else msg), param


def _too_large(limit: int) -> str:
    return f"request body is larger than {limit // (1024 * 1024)} MB"


def create_app(model: ChatModel, model_id: str = "modelworks", api_key: str | None = None):
    fastapi = require("fastapi", "web", "modelworks serve")
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    app = fastapi.FastAPI(title="modelworks serve", docs_url=None, redoc_url=None, openapi_url=None)
    from modelworks.web.body_limit import BodyLimit

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES,  # added first, so it runs after the key check
                       too_large=lambda: error_response(413, _too_large(MAX_BODY_BYTES)))

    @app.middleware("http")
    async def check_key(request, call_next):
        if api_key is not None and not key_matches(request.headers.get("authorization"), api_key):
            return error_response(401, "invalid or missing API key (send 'Authorization: Bearer <key>')",
                                  code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc):
        message, param = validation_message(list(exc.errors()))
        return error_response(400, message, param)

    @app.exception_handler(APIError)
    async def api_error(request, exc):
        return error_response(exc.status, exc.message, exc.param, exc.code)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        messages = {404: f"invalid URL ({request.method} {request.url.path})",
                    405: f"method {request.method} is not allowed on {request.url.path}",
                    413: _too_large(MAX_BODY_BYTES)}
        message = messages.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def server_error(request, exc):
        return error_response(500, "the server failed to answer this request")

    def settings(req: Any) -> GenerateConfig:
        if req.stream:
            raise APIError(400, "stream is not supported by this server", "stream")
        if req.n not in (None, 1):
            raise APIError(400, "n must be 1: this server returns one choice", "n")
        return GenerateConfig(
            max_tokens=req.max_tokens or 256, temperature=req.temperature, top_p=req.top_p, seed=req.seed,
            stop=list(req.stop),
        )

    def usage() -> dict[str, int]:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_id, "object": "model", "created": 0, "owned_by": "modelworks"}]}

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest) -> dict[str, Any]:
        config = settings(req)
        messages = [_from_wire(m) for m in req.messages]
        text = model.generate(messages, config)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model or model_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage(),
        }

    @app.post("/v1/completions")
    def completions(req: CompletionRequest) -> dict[str, Any]:
        config = settings(req)
        texts = [model.complete(p, config) for p in req.prompt]
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


def _from_wire(m: ChatMessage) -> dict[str, Any]:
    """A validated OpenAI message -> our message (image_url parts become image parts holding the data URL)."""
    role = "system" if m.role == "developer" else m.role
    if isinstance(m.content, str):
        return {"role": role, "content": m.content}
    parts: list[dict[str, Any]] = []
    for p in m.content:
        if p.type == "image_url":
            assert p.image_url is not None  # ContentPart checked it
            parts.append({"type": "image", "image": p.image_url.url})
        else:
            parts.append({"type": "text", "text": p.text or ""})
    return {"role": role, "content": parts}


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
