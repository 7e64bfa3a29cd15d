"""`modelworks serve`'s request checks and OpenAI-style errors, in process (FastAPI TestClient, no sockets)."""

from __future__ import annotations

import base64
import io

import pytest

from modelworks.chat import MockChat
from modelworks.chat.server import MAX_BODY_BYTES, create_app

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
KEY = {"Authorization": "Bearer secret"}


def png_data_url() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def client(model=None, api_key=None) -> TestClient:
    return TestClient(create_app(model or MockChat(), api_key=api_key), raise_server_exceptions=False)


def user(content) -> dict:
    return {"messages": [{"role": "user", "content": content}]}


def assert_openai_error(r, status: int, param: str | None = "any") -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert err["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    if param != "any":
        assert err["param"] == param
    return err


def image(url) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(("body", "param"), [
    (user(["a"]), "messages.0.content.0"),
    (user([{"type": "image_url"}]), "messages.0.content.0"),
    (user([{"type": "image_url", "image_url": "x"}]), "messages.0.content.0.image_url"),
    (user([{"type": "text"}]), "messages.0.content.0"),
    (user([{"type": "input_audio", "input_audio": {}}]), "messages.0.content.0.type"),
    (user([image("data:image/png;base64,not base64!")]), "messages.0.content.0.image_url.url"),
    (user([image("data:image/png;base64," + base64.b64encode(b"not an image").decode())]),
     "messages.0.content.0.image_url.url"),
    (user(123), "messages.0.content"),
    (user({}), "messages.0.content"),
    (user(None), "messages.0.content"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user"}]}, "messages.0.content"),
    ({**user("x"), "temperature": 2.5}, "temperature"),
    ({**user("x"), "temperature": -1}, "temperature"),
    ({**user("x"), "top_p": 0}, "top_p"),
    ({**user("x"), "max_tokens": 0}, "max_tokens"),
    ({**user("x"), "max_tokens": 40000}, "max_tokens"),
    ({**user("x"), "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({**user("x"), "stop": [""]}, "stop.0"),
    ({**user("x"), "stream": True}, "stream"),
    ({**user("x"), "n": 2}, "n"),
])
def test_invalid_chat_requests_are_400_with_the_field_named(body, param):
    model = MockChat()
    r = client(model).post(CHAT, json=body)
    assert_openai_error(r, 400, param)
    assert model.calls == []


def test_non_finite_numbers_are_400_not_500():
    c = client()
    for raw in ('{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
                '{"messages": [{"role": "user", "content": "x"}], "top_p": Infinity}',
                '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e999}'):
        assert_openai_error(c.post(CHAT, content=raw, headers={"content-type": "application/json"}), 400)


def test_malformed_json_is_400():
    err = assert_openai_error(client().post(CHAT, content="{bad", headers={"content-type": "application/json"}), 400)
    assert "not valid JSON" in err["message"]


def test_image_urls_must_be_data_urls_so_server_files_stay_private(tmp_path):
    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.new("RGB", (2, 2), "blue").save(secret)
    model = MockChat(fn=lambda msgs: "seen")
    c = client(model)
    for url in [str(secret), f"file://{secret}", "http://127.0.0.1:1/x.png", "data:text/plain;base64,aGk="]:
        r = c.post(CHAT, json=user([{"type": "text", "text": "what?"}, image(url)]))
        assert_openai_error(r, 400, "messages.0.content.1.image_url.url")
        assert str(secret) not in r.text  # the input is not echoed back
    assert model.calls == []
    url = png_data_url()
    r = c.post(CHAT, json=user([{"type": "text", "text": "what?"}, image(url)]))
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "seen"
    assert model.calls[0][0]["content"] == [{"type": "text", "text": "what?"}, {"type": "image", "image": url}]


def test_developer_role_is_read_as_system():
    seen = []
    c = client(MockChat(fn=lambda msgs: seen.append(msgs) or "ok"))
    r = c.post(CHAT, json={"messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and seen[0][0] == {"role": "system", "content": "be brief"}


def test_ignored_fields_are_accepted():
    body = {**user("hi"), "logprobs": True, "tools": [], "response_format": {"type": "json_object"}, "n": 1,
            "stream": False, "stop": "x", "seed": 3}
    r = client().post(CHAT, json=body)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "hi"


@pytest.mark.parametrize(("prompt", "param"), [
    ("", "prompt.0"), ([], "prompt"), (["a"] * 65, "prompt"), ([1, 2], "prompt.0"), (5, "prompt"),
])
def test_invalid_completion_prompts_are_400(prompt, param):
    assert_openai_error(client().post(COMPLETIONS, json={"prompt": prompt}), 400, param)


def test_completions_answer_each_prompt():
    r = client().post(COMPLETIONS, json={"prompt": ["a", "b"], "stop": ["\n"]})
    assert [c["text"] for c in r.json()["choices"]] == ["a", "b"]
    assert_openai_error(client().post(COMPLETIONS, json={"prompt": "a", "stream": True}), 400, "stream")


def test_api_key_is_checked_first_with_any_header_bytes():
    c = client(api_key="secret")
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "secret"},
                    {"Authorization": "Basic secret"}, {"Authorization": b"Bearer \xe9"}]:
        r = c.post(CHAT, content="{not json", headers={**headers, "content-type": "application/json"})
        err = assert_openai_error(r, 401)
        assert err["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"
    assert c.get("/v1/models", headers={"Authorization": "bearer secret"}).status_code == 200
    assert c.post(CHAT, json=user("x"), headers={"Authorization": "BEARER  secret"}).status_code == 200
    assert_openai_error(c.post(CHAT, content="{bad", headers={**KEY, "content-type": "application/json"}), 400)


def test_routes_and_docs_give_openai_errors():
    c = client(api_key="secret")
    for path in ["/v1/nope", "/docs", "/redoc", "/openapi.json"]:
        assert_openai_error(c.get(path, headers=KEY), 404)
    r = c.get(CHAT, headers=KEY)
    assert_openai_error(r, 405)
    assert r.headers["allow"] == "POST"


def test_bodies_over_the_limit_are_413_by_length_or_by_stream():
    c = client()
    big = b" " * (MAX_BODY_BYTES + 1)
    assert_openai_error(c.post(CHAT, content=big, headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY_BYTES // (1 << 20) + 1):
            yield b" " * (1 << 20)

    assert_openai_error(c.post(CHAT, content=chunks(), headers={"content-type": "application/json"}), 413)


def test_model_failures_are_500_without_details():
    def boom(msgs):
        raise RuntimeError("internal detail /home/someone")

    r = client(MockChat(fn=boom)).post(CHAT, json=user("x"))
    err = assert_openai_error(r, 500)
    assert "internal detail" not in r.text and "Traceback" not in r.text and err["type"] == "server_error"
