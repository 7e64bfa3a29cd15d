import pytest

from modelworks.errors import UserError
from modelworks.paths import file_or_folder


def test_file_or_folder_takes_a_file_or_the_file_inside_a_run_folder(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"x")
    assert file_or_folder(tmp_path, "model.pt", "model file") == tmp_path / "model.pt"
    assert file_or_folder(tmp_path / "model.pt", "model.pt", "model file") == tmp_path / "model.pt"
    with pytest.raises(UserError, match=r"trigger file not found: .*trigger\.pt"):
        file_or_folder(tmp_path, "trigger.pt", "trigger file")
    with pytest.raises(UserError, match="model file not found"):
        file_or_folder(tmp_path / "missing.pt", "model.pt", "model file")
