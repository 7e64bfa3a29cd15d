"""`modelworks serve` over real HTTP on 127.0.0.1, called through the `openai/` provider."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from modelworks.chat import GenerateConfig, MockChat, get_model, text_of
from modelworks.chat.server import create_app
from modelworks.errors import UserError
from tests._net import free_port, serve_cli, wait_ready


@pytest.fixture(scope="module")
def served():
    """`modelworks serve --model mock --api-key secret` in a subprocess."""
    with serve_cli("serve", "--model", "mock", "--api-key", "secret", path="/v1/models",
                   headers={"Authorization": "Bearer secret"}) as port:
        yield f"http://127.0.0.1:{port}/v1"


def test_serve_chat_and_completions_through_openai_provider(served, tmp_path):
    chat = get_model("openai/mock", base_url=served, api_key="secret", cache=tmp_path / "cache")
    assert chat.generate([{"role": "user", "content": "hello over http"}]) == "hello over http"
    assert chat.complete("complete me", GenerateConfig(max_tokens=4)) == "complete me"
    assert chat.generate_batch([[{"role": "user", "content": f"q{i}"}] for i in range(5)]) == [
        f"q{i}" for i in range(5)
    ]
    models = httpx.get(f"{served}/models", headers={"Authorization": "Bearer secret"}).json()
    assert models["data"][0]["id"] == "mock"


def test_serve_rejects_a_wrong_key(served, tmp_path):
    assert httpx.get(f"{served}/models").status_code == 401
    bad = get_model("openai/mock", base_url=served, api_key="wrong", cache=False, max_retries=3)
    with pytest.raises(UserError, match=r"failed after 1 attempt\(s\).*401"):
        bad.generate([{"role": "user", "content": "x"}])
    assert bad.requests_sent == 1  # 401 is final, not retried


@contextmanager
def thread_server(app):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_ready(port, "/v1/models")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def faulty_app(model, faults: list[int], delay_first: float = 0.0):
    """The serve app behind a handler that answers the first requests with the given error codes."""
    from fastapi.responses import JSONResponse

    app = create_app(model, model_id="m")
    seen = {"n": 0, "times": []}

    @app.middleware("http")
    async def inject(request, call_next):
        if request.url.path.endswith("/models"):
            return await call_next(request)
        seen["n"] += 1
        seen["times"].append(time.monotonic())
        if seen["n"] <= len(faults):
            return JSONResponse({"error": {"message": "injected"}}, status_code=faults[seen["n"] - 1])
        if delay_first and seen["n"] == len(faults) + 1:
            import asyncio

            await asyncio.sleep(delay_first)
        return await call_next(request)

    app.state.seen = seen
    return app


def test_retry_with_backoff_on_429_and_5xx_then_cache_avoids_second_call(tmp_path):
    app = faulty_app(MockChat(responses=["the answer"]), faults=[429, 503, 500])
    with thread_server(app) as base:
        chat = get_model("openai/m", base_url=base, cache=tmp_path / "c", backoff_base=0.2, max_retries=4)
        msgs = [{"role": "user", "content": "q"}]
        assert chat.generate(msgs) == "the answer"
        assert chat.requests_sent == 4 and app.state.seen["n"] == 4
        gaps = [b - a for a, b in zip(app.state.seen["times"], app.state.seen["times"][1:])]
        assert all(g >= 0 for g in gaps) and sum(gaps) < 0.2 + 0.4 + 0.8 + 1.0  # bounded by the backoff caps
        again = get_model("openai/m", base_url=base, cache=tmp_path / "c")
        assert again.generate(msgs) == "the answer"
        assert again.requests_sent == 0 and app.state.seen["n"] == 4  # served from the on-disk cache
        different = again.generate(msgs, GenerateConfig(max_tokens=7))  # another request key
        assert different == "the answer" and app.state.seen["n"] == 5


def test_gives_up_after_max_retries_and_does_not_retry_400(tmp_path):
    app = faulty_app(MockChat(), faults=[500] * 10)
    with thread_server(app) as base:
        chat = get_model("openai/m", base_url=base, cache=False, backoff_base=0.01, max_retries=2)
        with pytest.raises(UserError, match=r"after 3 attempt\(s\)"):
            chat.generate([{"role": "user", "content": "q"}])
        assert chat.requests_sent == 3
    app = faulty_app(MockChat(), faults=[400])
    with thread_server(app) as base:
        chat = get_model("openai/m", base_url=base, cache=False, backoff_base=0.01, max_retries=5)
        with pytest.raises(UserError):
            chat.generate([{"role": "user", "content": "q"}])
        assert chat.requests_sent == 1


def test_timeout_is_retried(tmp_path):
    app = faulty_app(MockChat(responses=["late"]), faults=[], delay_first=2.0)
    with thread_server(app) as base:
        chat = get_model("openai/m", base_url=base, cache=False, timeout=0.5, backoff_base=0.01, max_retries=3)
        assert chat.generate([{"role": "user", "content": "q"}]) == "late"
        assert chat.requests_sent == 2


def test_image_parts_travel_as_data_urls(tmp_path):
    from PIL import Image

    img = tmp_path / "x.png"
    Image.new("RGB", (4, 4), "red").save(img)

    def describe(msgs):
        parts = msgs[-1]["content"]
        urls = [p["image"] for p in parts if p["type"] == "image"]
        return f"{text_of(parts)}|{len(urls)}|{urls[0][:22]}"

    with thread_server(create_app(MockChat(fn=describe))) as base:
        chat = get_model("openai/vision", base_url=base, cache=False)
        out = chat.generate(
            [{"role": "user", "content": [{"type": "text", "text": "what?"}, {"type": "image", "image": img}]}]
        )
        assert out == "what?|1|data:image/png;base64,"


def test_serve_a_local_hf_model(tiny_lm_dir):
    local = get_model(f"hf/{tiny_lm_dir}", device="cpu")
    msgs = [{"role": "user", "content": "question 3: what is 3 plus 3?"}]
    expected = local.generate(msgs, GenerateConfig(max_tokens=6))
    with thread_server(create_app(local, model_id="tiny")) as base:
        remote = get_model("openai/tiny", base_url=base, cache=False)
        assert remote.generate(msgs, GenerateConfig(max_tokens=6)) == expected  # greedy: same text over HTTP
        assert isinstance(remote.complete("question 3:", GenerateConfig(max_tokens=4)), str)
