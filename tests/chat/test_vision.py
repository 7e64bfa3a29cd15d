"""``hf/<dir>`` picks the image-text-to-text class for vision folders; images become PIL in order."""

from __future__ import annotations

import base64
import io
import json

import pytest

from modelworks.chat import get_model
from modelworks.chat.hf import HFChat
from modelworks.chat.vision import HFVisionChat, is_vision_model_dir, load_pil
from modelworks.errors import UserError


def _png_bytes(size=(3, 2)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_vision_folder_detection(tmp_path):
    (tmp_path / "vl").mkdir()
    (tmp_path / "vl" / "config.json").write_text(json.dumps({"vision_config": {}}))
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "preprocessor_config.json").write_text("{}")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert is_vision_model_dir(tmp_path / "vl") and is_vision_model_dir(tmp_path / "proc")
    assert not is_vision_model_dir(tmp_path / "text") and not is_vision_model_dir(tmp_path / "missing")


def test_hf_provider_dispatches_on_the_folder(tmp_path, tiny_lm_dir):
    assert isinstance(get_model(f"hf/{tiny_lm_dir}"), HFChat)
    (tmp_path / "vl").mkdir()
    (tmp_path / "vl" / "config.json").write_text(json.dumps({"vision_config": {}}))
    # a vision folder goes to the image-text-to-text loader (which fails here: there are no weights)
    with pytest.raises(UserError, match="image-text-to-text model"):
        get_model(f"hf/{tmp_path / 'vl'}")


def test_load_pil_accepts_paths_bytes_and_data_urls(tmp_path):
    raw = _png_bytes()
    (tmp_path / "a.png").write_bytes(raw)
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    for src in (tmp_path / "a.png", str(tmp_path / "a.png"), raw, url):
        img = load_pil(src)
        assert img.size == (3, 2) and img.mode == "RGB"
    with pytest.raises(UserError, match="image file not found"):
        load_pil(tmp_path / "nope.png")


def test_messages_become_processor_parts_in_order(tmp_path):
    chat = HFVisionChat("stand-in", device="cpu", model=object(), processor=object())
    raw = _png_bytes((4, 4))
    conv, images = chat.to_hf([
        {"role": "system", "content": "be safe"},
        {"role": "user", "content": [{"type": "image", "image": raw}, {"type": "text", "text": "what is this?"},
                                     {"type": "image", "image": _png_bytes((5, 5))}]},
    ])
    assert conv[0] == {"role": "system", "content": [{"type": "text", "text": "be safe"}]}
    assert conv[1]["content"] == [{"type": "image"}, {"type": "text", "text": "what is this?"}, {"type": "image"}]
    assert [im.size for im in images] == [(4, 4), (5, 5)]
