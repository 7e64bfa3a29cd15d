"""One ASGI middleware for both HTTP servers (the annotation app and ``modelworks serve``): a request
body over ``limit`` bytes is answered 413, by its Content-Length or as it streams in, before the app
has read it all.

By hand rather than ``FastAPI(max_body_size=...)``: that answers an oversized Content-Length in plain
text, replacing the server's own error body (OpenAI-style for ``serve``), and older FastAPI releases,
which pyproject still allows, do not have it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException  # imported only where a server is built

__all__ = ["BodyLimit"]


class _TooLarge(HTTPException):
    """Raised from ``receive``: FastAPI lets an HTTPException out of body parsing (other errors become a
    generic 400), so the app's own 413 handler answers, or the middleware does if it reaches it."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimit:
    """``app.add_middleware(BodyLimit, limit=N, too_large=lambda: Response(...))``."""

    def __init__(self, app: Any, limit: int, too_large: Callable[[], Any]) -> None:
        self.app, self.limit, self.too_large = app, limit, too_large

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.datastructures import Headers

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            return await self.too_large()(scope, receive, send)
        seen, started = 0, False

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if started:  # too late for a 413: the app already answered
                raise
            await self.too_large()(scope, receive, send)
