"""TOFU data: local loader, generator format, hub error offline, one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from modelworks.errors import UserError
from modelworks.unlearn.tofu import HUB_ID, load_idk, load_split, retain_split_for
from modelworks.unlearn.tofu_generator import forget_percentages, generate_tofu


def test_real_tofu_splits(shared_data):
    root = shared_data / "tofu"
    full = load_split(root, "full")
    f10 = load_split(root, "forget10")
    assert len(full) == 4000 and f10 == full[-400:]
    assert len(load_split(root, "forget10_perturbed")[0]["perturbed_answer"]) == 5
    assert len(load_split(root, "world_facts_perturbed")) == 117
    assert len(load_idk(root)) == 100
    assert retain_split_for("forget05") == "retain95"


def test_generator_writes_tofu_format(tmp_path):
    root = generate_tofu(tmp_path, n_authors=20, seed=1)
    full = load_split(root, "full")
    assert len(full) == 400 and set(full[0]) == {"question", "answer"}
    assert forget_percentages(20) == [5, 10]
    f10 = load_split(root, "forget10")
    assert f10 == full[-40:] and load_split(root, "retain90") == full[:-40]
    pert = load_split(root, "forget10_perturbed")
    assert [r["answer"] for r in pert] == [r["answer"] for r in f10]
    assert all(len(r["perturbed_answer"]) == 5 and r["answer"] not in r["perturbed_answer"] for r in pert)
    assert all(r["paraphrased_answer"] != r["answer"] for r in pert)
    assert len(load_split(root, "real_authors_perturbed")[0]["perturbed_answer"]) == 3
    again = generate_tofu(tmp_path / "again", n_authors=20, seed=1)
    assert (again / "full.json").read_text() == (root / "full.json").read_text()  # seeded


def test_missing_split_file_one_line(tmp_path, cli):
    root = generate_tofu(tmp_path, n_authors=10)
    with pytest.raises(UserError, match="split file not found: .*forget05.json"):
        load_split(root, "forget05")
    res = cli("unlearn", "invert", "--data", str(root), "--split", "forget05", "--out", str(tmp_path / "o.json"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "forget05.json" in res.stderr


def test_wrong_keys_one_line(tmp_path, cli):
    (tmp_path / "forget10.json").write_text(json.dumps([{"prompt": "q", "response": "a"}]))
    with pytest.raises(UserError, match="row 0 lacks key 'question'"):
        load_split(tmp_path, "forget10")
    res = cli("unlearn", "invert", "--data", str(tmp_path), "--split", "forget10", "--out", str(tmp_path / "o.json"))
    assert res.returncode == 2 and "forget10.json: row 0 lacks key 'question'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    (tmp_path / "forget05_perturbed.json").write_text(json.dumps([{"question": "q", "answer": "a",
                                                                   "paraphrased_answer": "b", "perturbed_answer": "c"}]))
    with pytest.raises(UserError, match="perturbed_answer' must be a non-empty list"):
        load_split(tmp_path, "forget05_perturbed")


def test_empty_forget_set_one_line(tmp_path, cli):
    (tmp_path / "forget10.json").write_text("[]")
    res = cli("unlearn", "invert", "--data", str(tmp_path), "--split", "forget10", "--out", str(tmp_path / "o.json"))
    assert res.returncode == 2 and "forget set is empty" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_hub_offline_clear_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as exc:
        load_split(HUB_ID, "forget10")
    msg = str(exc.value)
    assert "\n" not in msg and "locuslab/TOFU" in msg and "local directory" in msg


@pytest.mark.parametrize(("split", "row", "message"), [
    ("forget10", {"question": "q", "answer": None}, "row 1 key 'answer' must be a string, got null"),
    ("forget10", {"question": 7, "answer": "a"}, "row 1 key 'question' must be a string, got 7"),
    ("forget10_perturbed", {"question": "q", "answer": "a", "paraphrased_answer": ["b"], "perturbed_answer": ["c"]},
     "row 1 key 'paraphrased_answer' must be a string"),
    ("forget10_perturbed", {"question": "q", "answer": "a", "paraphrased_answer": "b", "perturbed_answer": ["c", None]},
     "row 1 key 'perturbed_answer' must be a non-empty list of strings"),
])
def test_non_string_fields_name_file_row_and_key(tmp_path, split, row, message):
    good = {"question": "q0", "answer": "a0", "paraphrased_answer": "p0", "perturbed_answer": ["x0"]}
    (tmp_path / f"{split}.json").write_text(json.dumps([good, row]))
    with pytest.raises(UserError, match=f"{split}.json: {message}"):
        load_split(tmp_path, split)


def test_null_answer_invert_cli_one_line(tmp_path, cli):
    root = generate_tofu(tmp_path / "d", n_authors=10)
    rows = json.loads((root / "forget10.json").read_text())
    rows[3]["answer"] = None
    (root / "forget10.json").write_text(json.dumps(rows))
    res = cli("unlearn", "invert", "--data", str(root), "--split", "forget10", "--out", str(tmp_path / "o.json"))
    assert res.returncode == 2 and not (tmp_path / "o.json").exists()
    assert res.stderr.strip().splitlines() == [
        f"error: {root / 'forget10.json'}: row 3 key 'answer' must be a string, got null"]


def test_invert_and_generate_bad_arguments_one_line(tmp_path, cli):
    root = generate_tofu(tmp_path / "d", n_authors=10)
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("keep me")
    for extra, message in [(["--n", "0", "--out", str(tmp_path / "o.json")], "--n must be at least 1, got 0"),
                           (["--out", str(tmp_path / "dir")], f"--out {tmp_path / 'dir'} is a folder; give the path of a file"),
                           (["--out", str(tmp_path / "file" / "o.json")], f"{tmp_path / 'file'} is a file, not a folder")]:
        res = cli("unlearn", "invert", "--data", str(root), "--split", "forget10", *extra)
        assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, extra
    res = cli("unlearn", "generate-data", "--out", str(tmp_path / "file"))
    assert res.returncode == 2 and f"{tmp_path / 'file'} is a file, not a folder" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and (tmp_path / "file").read_text() == "keep me"
    with pytest.raises(UserError, match="file/sub: .*file is a file, not a folder"):
        generate_tofu(tmp_path / "file" / "sub", n_authors=10)
