import pytest

from modelworks.errors import UserError
from modelworks.paths import data_root, file_or_folder, find_data_root


def test_file_or_folder_takes_a_file_or_the_file_inside_a_run_folder(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"x")
    assert file_or_folder(tmp_path, "model.pt", "model file") == tmp_path / "model.pt"
    assert file_or_folder(tmp_path / "model.pt", "model.pt", "model file") == tmp_path / "model.pt"
    with pytest.raises(UserError, match=r"trigger file not found: .*trigger\.pt"):
        file_or_folder(tmp_path, "trigger.pt", "trigger file")
    with pytest.raises(UserError, match="model file not found"):
        file_or_folder(tmp_path / "missing.pt", "model.pt", "model file")


def test_a_named_data_folder_that_is_missing_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("MODELWORKS_DATA", str(tmp_path / "data"))
    assert find_data_root() == (tmp_path / "data").resolve()
    assert data_root(tmp_path) == tmp_path.resolve()  # --data-dir wins over the variable
    with pytest.raises(UserError, match="data directory not found"):
        find_data_root(tmp_path / "none")
    monkeypatch.setenv("MODELWORKS_DATA", str(tmp_path / "gone"))
    with pytest.raises(UserError, match="MODELWORKS_DATA=.*gone: no such folder"):
        data_root()


def test_check_device_names_the_key_and_what_is_missing(monkeypatch):
    import torch

    from modelworks.env import check_device

    assert check_device("cpu") == "cpu" and check_device("auto") == "auto"
    with pytest.raises(UserError, match=r"--device must be one of auto, cpu, cuda, cuda:N, got 'gpu'"):
        check_device("gpu", "--device", allowed=("auto", "cpu", "cuda"))
    with pytest.raises(UserError, match="must be one of"):
        check_device("cpu:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"key 'device' is 'cuda:1' but torch sees no CUDA GPU; use cpu"):
        check_device("cuda:1")
