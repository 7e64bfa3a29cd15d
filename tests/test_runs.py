from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pytest

from modelworks.errors import UserError
from modelworks.report import markdown_table, read_notes, update_results_section
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


def test_read_notes_one_per_bullet(tmp_path):
    p = tmp_path / "notes.md"
    p.write_text("# notes for tkg\n\n- first, with `cmd --x 1`\n  continued here\n\n- second\n", encoding="utf-8")
    assert read_notes(p) == ["first, with `cmd --x 1` continued here", "second"]
    with pytest.raises(UserError, match="missing.md: cannot read notes"):
        read_notes(tmp_path / "missing.md")
    p.write_text("- one\n\nA closing paragraph that markdown would not put in the list\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"notes.md:3: text after the notes"):
        read_notes(p)
    p.write_text("* a star bullet\n* another\n", encoding="utf-8")
    with pytest.raises(UserError, match="no '- ' bullet"):
        read_notes(p)


def test_markdown_table_formats_numbers():
    table = markdown_table(["m", "v"], [["x", 0.5], ["y", 1.83e-21], ["z", None]])
    assert "| x | 0.5000 |" in table and "1.83e-21" in table and "| z | — |" in table


def test_out_folder_with_a_finished_run_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "r"
    with Run.create("demo", config=Cfg(), out=out) as run:
        run.log(1, loss=1.0)
        run.write_results({"acc": 0.5})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(UserError, match=r"already holds a run \(demo\) \(config.yaml, env.json, metrics.jsonl"):
        Run.create("demo", config=Cfg(lr=0.5), out=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(UserError, match="already holds files"):
        Run.create("demo", config=Cfg(), out=tmp_path / "mine")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        Run.create("demo", out=tmp_path / "f")


def test_out_folder_of_a_run_that_stopped_at_start_is_reused(tmp_path):
    out = tmp_path / "r"
    Run.create("demo", config=Cfg(lr=9.0), out=out).close()  # failed before writing anything else
    Run.create("demo", config=Cfg(), out=out).close()
    assert (out / "config.yaml").read_text() == "lr: 0.1\nname: x\n"
    with pytest.raises(UserError, match=r"already holds a run \(demo\)"):
        Run.create("other", config=Cfg(), out=out)  # another job's folder is not taken over


def test_resume_continues_only_with_the_same_settings(tmp_path):
    out = tmp_path / "r"
    with Run.create("demo", config=Cfg(), out=out, resume=True, resume_ignore=("lr",)) as run:
        run.log(1, loss=1.0)
    Run.create("demo", config=Cfg(lr=0.9), out=out, resume=True, resume_ignore=("lr",)).close()  # lr is ignored
    with pytest.raises(UserError, match="name changed"):
        Run.create("demo", config=Cfg(name="y"), out=out, resume=True, resume_ignore=("lr",))
    assert "name: x" in (out / "config.yaml").read_text()
    with pytest.raises(UserError, match=r"already holds a run \(demo\)"):
        Run.create("demo", config=Cfg(), out=out)  # not resumable: refused


def test_secrets_are_not_written_to_config_yaml(tmp_path):
    @dataclass
    class WithKey:
        api_key: str | None = "sk-secret"
        options: dict = None

    opts = {"token": "t0k", "hf_token": "hf0", "tokenizer": "gpt2", "base_url": "http://127.0.0.1:1"}
    Run.create("demo", config=WithKey(options=opts), out=tmp_path / "r")
    text = (tmp_path / "r" / "config.yaml").read_text()
    assert "sk-secret" not in text and "t0k" not in text and "hf0" not in text and "<redacted>" in text
    assert "127.0.0.1" in text and "tokenizer: gpt2" in text  # not a secret


def test_resume_ignores_dotted_keys_and_compares_old_unredacted_folders(tmp_path):
    @dataclass
    class Opts:
        name: str = "x"
        options: dict = None

    out = tmp_path / "r"
    Run.create("demo", config=Opts(options={"base_url": "http://a", "api_key": "k1", "prefix": "p"}), out=out,
               resume=True, resume_ignore=("options.base_url",)).close()
    (out / "config.yaml").write_text("name: x\noptions:\n  base_url: http://a\n  api_key: k1\n  prefix: p\n")  # old
    Run.create("demo", config=Opts(options={"base_url": "http://b", "api_key": "k2", "prefix": "p"}), out=out,
               resume=True, resume_ignore=("options.base_url",)).close()  # moved server, new key: resumes
    with pytest.raises(UserError, match="options.prefix changed"):
        Run.create("demo", config=Opts(options={"base_url": "http://b", "api_key": "k2", "prefix": "q"}), out=out,
                   resume=True, resume_ignore=("options.base_url",))
