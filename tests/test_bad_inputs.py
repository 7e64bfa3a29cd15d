"""Bad input across the capabilities: one-line errors naming the file and field, exit 2, nothing written.

Each case is one that once slipped through (a traceback, exit 0, a silent drop, or a file changed by a
failing command).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.test_cli import assert_one_line_error

NOT_UTF8 = b"seed: 0\nname: caf\xe9\n"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_non_utf8_config_and_data_name_the_file_and_line(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(NOT_UTF8)
    assert_one_line_error(cli("validate", str(cfg), "--kind", "train"), f"{cfg}:2: not UTF-8 text (byte 0xe9")
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    assert_one_line_error(cli("unlearn", "tofu-metrics", "--model-logs", str(data)), f"{data}:2: not UTF-8 text")
    folder = tmp_path / "adir.yaml"
    folder.mkdir()
    assert_one_line_error(cli("train", "run", str(folder)), "config file is a folder, not a file")


def test_nan_inf_and_out_of_range_settings_are_refused_at_load(cli):
    assert_one_line_error(cli("validate", "configs/honeypot/digits.yaml", "victim.epochs=-2"),
                          "configs/honeypot/digits.yaml", "key 'victim.epochs' must be >= 1, got -2")
    assert_one_line_error(cli("validate", "configs/honeypot/digits.yaml", "victim.lr=.nan"),
                          "key 'victim.lr' must be a finite number, got nan")
    assert_one_line_error(cli("validate", "configs/guard/build.yaml", "noise_sigma=-5"),
                          "key 'noise_sigma' (Gaussian noise, in 0-255 pixel units) must be > 0, got -5.0")
    assert_one_line_error(cli("validate", "configs/guard/build.yaml", "noise_sigma=.inf"),
                          "key 'noise_sigma' must be a finite number, got inf")


@pytest.mark.parametrize(("file", "setting", "message"), [
    ("configs/honeypot/digits.yaml", "honeypot.head_batch=0", "key 'honeypot.head_batch' must be >= 1"),
    ("configs/honeypot/digits.yaml", "honeypot.guard_confidence=2", "key 'honeypot.guard_confidence' (a probability)"),
    ("configs/esc/mock.yaml", "retry_wait=-1", "key 'retry_wait' must be >= 0, got -1"),
    ("configs/guard/judge.yaml", "lr=-1", "key 'lr' must be > 0, got -1"),
    ("configs/guard/mock.yaml", "run.temperature=-0.5", "key 'run.temperature' must be >= 0"),
    ("configs/unlearn/tiny.yaml", "precision=bf16 unlearn.engine=train", "key 'precision': bf16 (autocast) applies"),
])
def test_more_ranges_are_checked_at_load(cli, file, setting, message):
    assert_one_line_error(cli("validate", file, *setting.split()), file, message)


@pytest.mark.parametrize("args", [
    ("serve", "--model", "mock", "--port", "70000"),
    ("serve", "--model", "mock", "--port", "-1"),
    ("honeypot", "serve", "--model", "nowhere", "--port", "0"),
])
def test_ports_out_of_range(cli, args):
    assert_one_line_error(cli(*args), "Invalid value for '--port'")


def test_annotate_with_a_bad_port_writes_nothing(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("esc", "run", "configs/esc/mock.yaml", "--out", str(run)).returncode == 0
    before = _digest(run)
    assert_one_line_error(cli("esc", "annotate", "--run", str(run), "--port", "99999"), "--port")
    assert _digest(run) == before


def test_corrupt_sqlite_names_the_file(tmp_path):
    from modelworks.errors import UserError
    from modelworks.store import open_sqlite

    bad = tmp_path / "labels.sqlite"
    bad.write_bytes(b"not a database at all")
    with pytest.raises(UserError, match=rf"^{bad}: cannot open as a SQLite database \(file is not a database\)$"):
        open_sqlite(bad)
    assert bad.read_bytes() == b"not a database at all"
    with pytest.raises(UserError, match="cannot open as a SQLite database"):
        open_sqlite(tmp_path)  # a folder
    good = open_sqlite(tmp_path / "ok.sqlite")
    assert isinstance(good, sqlite3.Connection)


def test_scores_without_a_score_field_are_an_error(cli, tmp_path):
    scores = tmp_path / "s.jsonl"
    rows = [{"id": "a", "dimension": "privacy", "subtask": "x", "language": "en", "score": 1},
            {"id": "b", "dimension": "privacy", "subtask": "x", "language": "en", "score": None},
            {"id": "c", "dimension": "privacy", "subtask": "x", "language": "en"}]
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert_one_line_error(cli("guard", "metrics", "--scores", str(scores), "--json"),
                          f"{scores}:3: missing field 'score'")


def test_responses_without_a_response_field_are_an_error(cli, tmp_path):
    resp = tmp_path / "responses.jsonl"
    resp.write_text(json.dumps({"id": "a", "dimension": "privacy", "subtask": "x", "prompt": "p"}) + "\n")
    assert_one_line_error(cli("guard", "score", "--responses", str(resp), "--scorer", "llm:sim", "--out",
                              str(tmp_path / "s.jsonl")), f"{resp}:1: missing field 'response'")
    assert not (tmp_path / "s.jsonl").exists()


def test_bad_scorer_is_refused_before_anything_runs(cli, tmp_path):
    assert_one_line_error(cli("guard", "eval", "--config", "configs/guard/mock.yaml", "scorer=llm:nope/x", "--out",
                              str(tmp_path / "e")), "key 'scorer'", "unknown model provider 'nope'")
    samples = tmp_path / "samples"  # valid samples: without the early check the run would answer them
    assert cli("guard", "build", "--out", str(samples), "noise_pairs=0", "swap_pairs=0", "hallucination=1",
               "typographic=false").returncode == 0
    data = str(samples / "samples.jsonl")
    assert_one_line_error(cli("guard", "run", "--data", data, "--model", "mock", "--scorer", "magic:x", "--out",
                              str(tmp_path / "r")), "unknown scorer 'magic:x'")
    (tmp_path / "empty_rank").mkdir()
    assert_one_line_error(cli("guard", "run", "--data", data, "--model", "mock", "--scorer",
                              f"guardrank:{tmp_path / 'empty_rank'}", "--out", str(tmp_path / "r")),
                          "no trained GuardRank folder", "no guardrank.json")
    assert not (tmp_path / "e").exists() and not (tmp_path / "r").exists()
    assert cli("guard", "run", "--data", data, "--model", "mock", "--out", str(tmp_path / "r")).returncode == 0


def test_outputs_refuse_another_jobs_run_folder(cli, tmp_path):
    run = tmp_path / "trainrun"
    assert cli("train", "run", "configs/train/tiny.yaml", "max_steps=1", "eval_every=0", "save_model=false",
               "--out", str(run)).returncode == 0
    before = _digest(run)
    assert_one_line_error(cli("tkg", "export", "--data", "ICEWS14", "--out", str(run), "--limit", "2"),
                          f"--out {run} is a run folder (train)")
    assert_one_line_error(cli("quickstart", "--only", "chat", "--out", str(run)),
                          f"--out {run} is a run folder (train)")
    assert _digest(run) == before


def test_unknown_unlearning_method_names_the_key(cli):
    assert_one_line_error(cli("validate", "configs/unlearn/tiny.yaml", "unlearn.methods=[meow,bogus]"),
                          "configs/unlearn/tiny.yaml", "key 'unlearn.methods': unknown unlearning method 'bogus'")


def test_train_without_data_names_the_config(cli, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert_one_line_error(cli("train", "run", str(empty), "--out", str(tmp_path / "r")),
                          f"{empty}: key 'data' is empty")


def test_verification_file_fields_are_checked(tmp_path):
    from modelworks.errors import UserError
    from modelworks.honeypot.verify import load_calibration

    (tmp_path / "verification.json").write_text(json.dumps({"p0": "high", "data": ["digits"]}))
    with pytest.raises(UserError, match=r"verification.json: field 'p0' must be a number in \(0, 1\), got \"high\""):
        load_calibration(tmp_path / "trigger.pt")
    (tmp_path / "verification.json").write_text(json.dumps({"p0": 0.01, "queries": 0}))
    with pytest.raises(UserError, match="field 'queries' must be an integer >= 1, got 0"):
        load_calibration(tmp_path / "trigger.pt")
    (tmp_path / "verification.json").write_text(json.dumps({"p0": 0.01, "queries": 50, "data": ["digits"]}))
    assert load_calibration(tmp_path / "trigger.pt")["queries"] == 50


def test_broken_local_model_folder_is_not_blamed_on_the_hub(tmp_path):
    from modelworks.errors import UserError
    from modelworks.models import load_causal_lm

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UserError, match=f"could not load the local model folder '{tmp_path}'"):
        load_causal_lm(str(tmp_path))


def test_text_files_read_with_universal_newlines_and_foreign_env_json(tmp_path):
    from modelworks.jsonl import read_text
    from modelworks.runs import check_not_run_dir

    f = tmp_path / "t.txt"
    f.write_bytes(b"Q: {question}\r\nA:\rend\n")
    assert read_text(f) == f.read_text(encoding="utf-8") == "Q: {question}\nA:\nend\n"
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "env.json").write_text(json.dumps({"PYTHON": "3.11"}))  # some other tool's env.json: not a run
    assert check_not_run_dir(proj, "a scorer") == proj


def test_a_yaml_key_given_twice_is_an_error(cli, tmp_path):
    from modelworks.config import read_yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 1.0e-3\nmodel: tiny\nlr: 2.0e-3\n")
    assert_one_line_error(cli("validate", str(cfg), "--kind", "train"), f"{cfg}: key 'lr' is given twice (line 3)")
    merged = tmp_path / "m.yaml"  # merge keys are not repeats
    merged.write_text("base: &b {r: 8, alpha: 16}\npeft: {<<: *b, method: lora}\n")
    assert read_yaml(merged)["peft"] == {"r": 8, "alpha": 16, "method": "lora"}


def test_openai_options_are_coerced_or_refused():
    from modelworks.chat.openai import OpenAIChat
    from modelworks.errors import UserError

    chat = OpenAIChat("m", base_url="http://127.0.0.1:9", cache=False, max_retries=2.0, backoff_base="1e-3")
    assert (chat.max_retries, chat.backoff_base) == (2, 0.001)  # what YAML gives for 2.0 and 1e-3
    for bad, message in ((dict(max_concurrency="abc"), "'max_concurrency' must be an integer >= 1"),
                         (dict(max_retries=1.5), "'max_retries' must be an integer >= 0"),
                         (dict(timeout=0), "'timeout' must be a number > 0")):
        with pytest.raises(UserError, match=message):
            OpenAIChat("m", base_url="http://127.0.0.1:9", cache=False, **bad)


def test_annotate_checks_k_before_writing(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("esc", "run", "configs/esc/mock.yaml", "--out", str(run)).returncode == 0
    before = _digest(run)
    for k in ("0", "5"):
        assert_one_line_error(cli("esc", "annotate", "--run", str(run), "--k", k),
                              f"--k {k}: annotators per item must be between 1 and the number of annotators (1)")
    assert _digest(run) == before
    assert_one_line_error(cli("guard", "annotate", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "lab")),
                          "responses file not found")
    assert not (tmp_path / "lab").exists()


def test_repeated_ids_and_misplaced_outputs(cli, tmp_path):
    scores = tmp_path / "s.jsonl"
    row = {"id": "a", "dimension": "privacy", "subtask": "x", "language": "en", "score": 1}
    scores.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    assert_one_line_error(cli("guard", "metrics", "--scores", str(scores)), f"{scores}:2: id 'a' already appears at")
    cards = tmp_path / "cards.json"
    cards.write_text(json.dumps({"id": 1, "base": "x"}) + "\n")
    assert_one_line_error(cli("esc", "cards", str(cards)), "a .json role-card file must hold a JSON list")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    resp = tmp_path / "responses.jsonl"
    resp.write_text(json.dumps({"id": "a", "dimension": "privacy", "subtask": "x", "prompt": "p", "response": "r"})
                    + "\n")
    assert_one_line_error(cli("guard", "score", "--responses", str(resp), "--out", str(blocker / "s.jsonl")),
                          f"{blocker} is a file, not a folder")


def test_model_metadata_fields_are_checked(tmp_path):
    from modelworks.errors import UserError
    from modelworks.honeypot.victims import read_model_meta

    meta = tmp_path / "model.json"
    meta.write_text(json.dumps({"input_shape": [1, 8, 8], "num_classes": "ten"}))
    with pytest.raises(UserError, match="field 'num_classes' must be an integer >= 2, got \"ten\""):
        read_model_meta(meta)
    meta.write_text(json.dumps({"input_shape": "abc"}))
    with pytest.raises(UserError, match="field 'input_shape' must be a list"):
        read_model_meta(meta)
    meta.write_text(json.dumps({"input_shape": [1, 8, 8], "num_classes": 10}))
    assert read_model_meta(meta)["input_shape"] == (1, 8, 8)


def test_diverging_training_stops_with_an_error(cli, tmp_path):
    assert_one_line_error(cli("train", "run", "configs/train/tiny.yaml", "lr=1e308", "max_steps=5", "--out",
                              str(tmp_path / "r")), "training diverged: loss nan at step")
    assert (tmp_path / "r" / "metrics.jsonl").is_file()  # the steps up to the failure are kept


def test_provider_options_are_checked_with_their_config_key(cli, tmp_path):
    assert_one_line_error(cli("esc", "run", "configs/esc/serve_http.yaml", "--set", "agent_options.max_concurrency=abc",
                              "--out", str(tmp_path / "r")),
                          "(with key 'agent_options')", "option 'max_concurrency' must be an integer >= 1")
    assert not (tmp_path / "r").exists()


def test_annotate_with_nothing_to_label_writes_nothing(cli, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "dialogues.jsonl").write_text("")
    assert_one_line_error(cli("esc", "annotate", "--run", str(run)), "the run has no finished dialogues to annotate")
    assert sorted(p.name for p in run.iterdir()) == ["dialogues.jsonl"]
    resp = tmp_path / "responses.jsonl"  # only a pair-subtask answer: nothing open-domain to label
    resp.write_text(json.dumps({"id": "a", "dimension": "truthfulness", "subtask": "noise-injection", "prompt": "p",
                                "response": "A"}) + "\n")
    assert_one_line_error(cli("guard", "annotate", "--data", str(resp), "--out", str(tmp_path / "lab")),
                          "no open-domain responses")
    assert not (tmp_path / "lab").exists()
