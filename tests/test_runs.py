from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from modelworks.report import markdown_table, update_results_section
from modelworks.runs import Run, atomic_write_text, read_metrics


@dataclass
class Cfg:
    lr: float = 0.1
    name: str = "x"


def test_run_folder_holds_the_five_records(tmp_path):
    run = Run.create("demo", config=Cfg(), out=tmp_path / "r", seed=7)
    run.log(1, loss=2.5, lr=0.1)
    run.log(2, loss=float("nan"))
    run.write_results({"acc": 0.5})
    run.write_report("# demo\n")
    run.close()
    d = tmp_path / "r"
    assert (d / "config.yaml").read_text() == "lr: 0.1\nname: x\n"
    env = json.loads((d / "env.json").read_text())
    assert env["seed"] == 7 and env["packages"]["torch"] and "device" in env and "git_sha" in env
    assert read_metrics(d / "metrics.jsonl") == [{"step": 1, "loss": 2.5, "lr": 0.1}, {"step": 2, "loss": None}]
    assert json.loads((d / "results.json").read_text()) == {"acc": 0.5}
    assert (d / "report.md").read_text() == "# demo\n"


def test_default_folder_is_job_and_utc_stamp(tmp_path):
    a = Run.create("job", root=tmp_path)
    b = Run.create("job", root=tmp_path)
    assert a.dir.name.startswith("job-") and a.dir.name.endswith("Z")
    assert a.dir.parent == b.dir.parent == tmp_path
    assert a.dir != b.dir


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind


def test_read_metrics_skips_a_line_cut_by_a_crash(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "lo')
    assert read_metrics(p) == [{"step": 1, "loss": 1.0}]


def test_only_rank0_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    run = Run.create("job", config=Cfg(), out=tmp_path / "r1")
    run.log(1, loss=1.0)
    run.write_results({"a": 1})
    assert not (tmp_path / "r1").exists()


def test_results_sections_are_replaced_in_place(tmp_path):
    path = tmp_path / "RESULTS.md"
    update_results_section("a", "## A\n1", path)
    update_results_section("b", "## B\n2", path)
    update_results_section("a", "## A\n3", path)
    text = path.read_text()
    assert "## A\n3" in text and "## A\n1" not in text and text.index("## A") < text.index("## B")


def test_markdown_table_formats_numbers():
    table = markdown_table(["m", "v"], [["x", 0.5], ["y", 1.83e-21], ["z", None]])
    assert "| x | 0.5000 |" in table and "1.83e-21" in table and "| z | — |" in table
