"""The dialogue runner: export formats, retries, errors, resume after SIGKILL, HTTP providers, configs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelworks.chat import MockChat
from modelworks.config import load_config
from modelworks.esc.runner import EscRunConfig, read_dialogues, run_esc
from tests._net import serve_cli

REPO = Path(__file__).resolve().parents[2]


def write_cards(path: Path, n: int) -> Path:
    cards = [{"base": f"Age: {i}\nGender: F\nOccupation: x\nProblem: problem {i}", "base_biaozhu": "x",
              "res": "家庭生活", "source": "ESconv", "language": "english", "id": 1000 + i} for i in range(n)]
    path.write_text(json.dumps(cards), encoding="utf-8")
    return path


def card_of(msgs):  # the scripted providers answer with the card's problem number
    return msgs[0]["content"].split("problem ")[1].split("\n")[0].split("'")[0] if "problem " in msgs[0]["content"] else "?"


def test_run_exports_both_formats(tmp_path):
    cards = write_cards(tmp_path / "c.json", 4)
    agent = MockChat(fn=lambda m: f"seeker about {card_of(m)}")
    model = MockChat(fn=lambda m: "reply")
    out = run_esc(EscRunConfig(cards=str(cards), concurrency=3, model_label="M"), tmp_path / "run", agent=agent, model=model)
    d = json.loads((out / "dialogues.json").read_text(encoding="utf-8"))
    assert list(d) == ["0", "1", "2", "3"] and all(len(v) == 11 for v in d.values())
    assert d["2"][1] == "ESC-Role：seeker about 2"
    recs = read_dialogues(out)
    assert [r.card_id for r in recs] == [1000, 1001, 1002, 1003] and recs[0].model == "M"
    assert recs[0].utterances == d["0"]
    res = json.loads((out / "results.json").read_text())
    assert res["done"] == 4 and res["error"] == 0
    assert (out / "config.yaml").is_file() and (out / "report.md").is_file()


def test_resume_refuses_changed_settings_or_cards_and_keeps_the_run(tmp_path):
    from modelworks.errors import UserError

    cards = write_cards(tmp_path / "c.json", 2)
    agent, model = MockChat(fn=lambda m: "seeker"), MockChat(fn=lambda m: "reply")
    out = run_esc(EscRunConfig(cards=str(cards)), tmp_path / "run", agent=agent, model=model)
    before = (out / "dialogues.jsonl").read_text(encoding="utf-8")
    with pytest.raises(UserError, match="model_label, rounds changed"):
        run_esc(EscRunConfig(cards=str(cards), rounds=2, model_label="other"), out, agent=agent, model=model)
    run_esc(EscRunConfig(cards=str(cards), concurrency=1), out, agent=agent, model=model)  # concurrency may change
    data = json.loads(cards.read_text(encoding="utf-8"))
    data[0]["base"] += " (edited)"  # the same file with another card 0
    cards.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UserError, match="have other inputs than this run's"):
        run_esc(EscRunConfig(cards=str(cards)), out, agent=agent, model=model)
    assert (out / "dialogues.jsonl").read_text(encoding="utf-8") == before


def test_provider_errors_retried_then_recorded_then_resumed(tmp_path):
    cards = write_cards(tmp_path / "c.json", 3)
    flaky = {"n": 0}

    def model_fn(msgs):
        user = msgs[1]["content"]
        if "about 0" in user and flaky["n"] < 1:  # card 0: one transient failure
            flaky["n"] += 1
            raise ConnectionError("transient")
        if "about 2" in user:  # card 2: always fails
            raise RuntimeError("server down")
        return "ok"

    agent = MockChat(fn=lambda m: f"about {card_of(m)}")
    cfg = EscRunConfig(cards=str(cards), concurrency=1, max_retries=2, retry_wait=0.01)
    out = run_esc(cfg, tmp_path / "run", agent=agent, model=MockChat(fn=model_fn))
    res = json.loads((out / "results.json").read_text())
    assert res["done"] == 2 and res["error"] == 1
    assert "server down" in (out / "report.md").read_text()
    con = sqlite3.connect(out / "samples.sqlite")
    assert con.execute("SELECT attempts, error FROM samples WHERE sample_id='2'").fetchone()[1].startswith("RuntimeError")
    con.close()
    assert set(json.loads((out / "dialogues.json").read_text())) == {"0", "1"}
    # Rerun with a working model: only the failed card is redone.
    model2 = MockChat(fn=lambda m: "fine")
    out = run_esc(cfg, tmp_path / "run", agent=agent, model=model2)
    res = json.loads((out / "results.json").read_text())
    assert res["done"] == 3 and res["dialogues_this_session"] == 1 and len(model2.calls) == 5


SLOW_RUN = """
import sys, time
from modelworks.chat import MockChat
from modelworks.esc.runner import EscRunConfig, run_esc
def slow(m):
    time.sleep(0.15)
    return "slow reply"
run_esc(EscRunConfig(cards=sys.argv[1], concurrency=1), sys.argv[2],
        agent=MockChat(fn=lambda m: "seeker"), model=MockChat(fn=slow))
"""


def _done(db: Path) -> dict[str, str]:
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(db, timeout=5)
        rows = con.execute("SELECT sample_id, output FROM samples WHERE status='done'").fetchall()
        con.close()
        return dict(rows)
    except sqlite3.OperationalError:
        return {}


def test_resume_after_sigkill(tmp_path):
    cards = write_cards(tmp_path / "c.json", 8)
    out = tmp_path / "run"
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN)
    proc = subprocess.Popen([sys.executable, str(script), str(cards), str(out)], cwd=REPO)
    deadline = time.time() + 60
    while len(_done(out / "samples.sqlite")) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _done(out / "samples.sqlite")
    assert 2 <= len(before) < 8, "the run should be killed half-way"
    model = MockChat(fn=lambda m: "fast reply")
    run_esc(EscRunConfig(cards=str(cards), concurrency=2), out, agent=MockChat(fn=lambda m: "seeker"), model=model)
    after = _done(out / "samples.sqlite")
    assert len(after) == 8
    assert {k: after[k] for k in before} == before  # finished dialogues were not redone
    assert len(model.calls) == 5 * (8 - len(before))  # ... only the others were
    d = json.loads((out / "dialogues.json").read_text())
    assert sorted(d, key=int) == [str(i) for i in range(8)]
    con = sqlite3.connect(out / "samples.sqlite")
    assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 8  # no duplicates
    con.close()
    lines = (out / "dialogues.jsonl").read_text().splitlines()
    assert len(lines) == 8



def test_config_against_local_modelworks_serve(tmp_path, cli, shared_data):
    with serve_cli("serve", "--model", "mock") as port:
        url = f"http://127.0.0.1:{port}/v1"
        r = cli("esc", "run", str(REPO / "configs" / "esc" / "serve_http.yaml"), "--out", str(tmp_path / "run"),
                "--set", f"agent_options.base_url={url}", "--set", f"model_options.base_url={url}")
        assert r.returncode == 0, r.stderr
        d = json.loads((tmp_path / "run" / "dialogues.json").read_text(encoding="utf-8"))
        assert len(d) == 3 and all(len(v) == 11 for v in d.values())
        # mock server echoes the last user message: the ESC model's reply echoes the seeker's turn.
        for v in d.values():
            assert v[2].split("：", 1)[1] == v[1].split("：", 1)[1]


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "esc").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = load_config(EscRunConfig, path)
    assert cfg.rounds == 5


def test_config_errors_one_line(tmp_path, cli):
    r = cli("esc", "run", str(REPO / "configs" / "esc" / "mock.yaml"), "--set", "rounds=0", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "rounds" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # the mock config's model_options (prefix) do not fit another provider: named, and '{}' clears them
    mock_cfg = str(REPO / "configs" / "esc" / "mock.yaml")
    r = cli("esc", "run", mock_cfg, "--model", "openai/x", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "'prefix' is not an option of the openai provider" in r.stderr
    r = cli("esc", "run", mock_cfg, "--set", "agent_options.responses=5", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "mock option 'responses' must be a list of strings, got 5" in r.stderr
    # every dialogue failing is an error exit (a server that refuses connections, no retries)
    r = cli("esc", "run", mock_cfg, "--model", "openai/x", "--set", "model_options={}", "--set", "max_retries=0",
            "--model-option", "base_url=http://127.0.0.1:9/v1", "--model-option", "max_retries=0",
            "--out", str(tmp_path / "down"))
    assert r.returncode == 2 and "all 3 dialogues failed" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_run_with_local_hf_checkpoints(tmp_path, tiny_lm_dir, cli, shared_data):
    r = cli("esc", "run", "--cards", "esc/role_cards/test_zh.json", "--agent", f"hf/{tiny_lm_dir}",
            "--model", f"hf/{tiny_lm_dir}", "--rounds", "1", "--n", "1", "--out", str(tmp_path / "run"),
            "--set", "agent_max_tokens=6", "--set", "model_max_tokens=6", "--set", "agent_temperature=0")
    if "data not found" in r.stderr or "no benchmark data" in r.stderr:
        pytest.skip("shared data absent")
    assert r.returncode == 0, r.stderr
    recs = read_dialogues(tmp_path / "run")
    assert len(recs) == 1 and len(recs[0].utterances) == 3 and recs[0].language == "zh"
