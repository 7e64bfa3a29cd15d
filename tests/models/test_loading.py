"""Model paths: local folders, files by mistake, hub ids when the hub cannot be reached."""

from __future__ import annotations

import time

import pytest

from modelworks.errors import UserError
from modelworks.models._loading import load_tokenizer, resolve_model_path


def test_a_file_or_a_missing_folder_is_named(tmp_path):
    (tmp_path / "weights.json").write_text("[]")
    with pytest.raises(UserError, match="weights.json: a file, not a model directory"):
        resolve_model_path(tmp_path / "weights.json")
    with pytest.raises(UserError, match="model directory not found"):
        resolve_model_path(str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        resolve_model_path(tmp_path / "empty")


def test_unreachable_hub_fails_at_once_with_one_line(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "")  # recorded, so the offline switch below is undone after the test
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)  # restored after the test
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="could not load 'no-such-org/no-such-model'") as e:
        load_tokenizer("no-such-org/no-such-model")
    assert time.perf_counter() - t0 < 30 and "\n" not in str(e.value)
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE is True
