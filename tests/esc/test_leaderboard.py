"""Judge runs, leaderboard (0-100 mapping, averages, languages, plots) and the quickstart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelworks.chat import MockChat
from modelworks.errors import UserError
from modelworks.esc.leaderboard import leaderboard, leaderboard_report, to_100
from modelworks.esc.runner import EscRunConfig, run_esc
from modelworks.esc.scoring import judge_run, read_scores

REPO = Path(__file__).resolve().parents[2]


def cards_file(path: Path) -> Path:
    cards = [{"base": "Age: 1\nProblem: a", "base_biaozhu": "x", "res": "家庭生活", "source": "ESconv", "language": "english", "id": 1},
             {"base": "年龄：青年\n问题：b", "base_biaozhu": "年龄", "res": "工作学习", "source": "PsyQA", "language": "chinese", "id": 2}]
    path.write_text(json.dumps(cards, ensure_ascii=False), encoding="utf-8")
    return path


def make_run(tmp_path: Path, name: str, label: str) -> Path:
    return run_esc(EscRunConfig(cards=str(cards_file(tmp_path / "c.json")), rounds=1, model_label=label),
                   tmp_path / name, agent=MockChat(fn=lambda m: "hi"), model=MockChat(fn=lambda m: "hello"))


def test_to_100():
    assert to_100(4) == 100 and to_100(0) == 0 and to_100(3) == 75


def test_judge_and_leaderboard_by_hand(tmp_path):
    a = make_run(tmp_path, "a", "model-A")
    b = make_run(tmp_path, "b", "model-B")

    def judge_a(msgs):  # en dialogue -> 4 on everything, zh -> 2, except "overall" unparseable
        text = msgs[0]["content"]
        if "总体偏好" in text or "overall preference" in text:
            return "no idea"
        return "4" if "hi" in text and "年龄" not in text and "下面是" not in text else "2"

    judge_run(a, MockChat(fn=judge_a))
    judge_run(b, MockChat(responses=["1"]))
    sa = read_scores(a)
    assert sa["0"]["fluency"] == 4 and sa["1"]["fluency"] == 2 and sa["0"]["overall"] == -1
    board = {(r["model"], r["language"]): r for r in leaderboard([a, b])["rows"]}
    assert board[("model-A", "en")]["empathic"] == 100.0
    assert board[("model-A", "zh")]["empathic"] == 50.0
    assert board[("model-A", "all")]["empathic"] == 75.0
    assert board[("model-A", "all")]["invalid"] == 2  # the two -1 overall scores are left out
    assert board[("model-A", "all")]["average"] == pytest.approx(75.0)  # mean of the 6 valid dimensions
    assert board[("model-B", "all")]["average"] == pytest.approx(25.0)
    report = leaderboard_report([a, b], tmp_path / "board")
    text = report.read_text(encoding="utf-8")
    assert "| model-A | all | 2 | 75.00" in text and "-1" in text
    for f in ("leaderboard_all.png", "leaderboard_en.png", "leaderboard_zh.png", "dimension_empathic.png"):
        assert (tmp_path / "board" / f).stat().st_size > 1000


def test_judge_resume_no_rejudging(tmp_path):
    a = make_run(tmp_path, "a", "A")
    j = MockChat(responses=["3"])
    judge_run(a, j)
    assert len(j.calls) == 14
    j2 = MockChat(responses=["1"])
    judge_run(a, j2)
    assert len(j2.calls) == 0 and read_scores(a)["0"]["empathic"] == 3


def test_leaderboard_bad_input(tmp_path, cli):
    a = make_run(tmp_path, "a", "A")
    with pytest.raises(UserError, match="score the run first"):
        leaderboard([a])
    (a / "scores.json").write_text('{"0": {"fluency": "high"}}')
    r = cli("esc", "leaderboard", str(a), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "entry '0', fluency: score must be an integer 0-4" in r.stderr
    for bad, msg in (('{"0": {"fluency": 9}}', "fluency: score must be an integer 0-4"),
                     ('{"0": {"empathy": 3}}', "unknown dimension 'empathy'")):
        (a / "scores.json").write_text(bad)
        with pytest.raises(UserError, match=msg):
            read_scores(a)


def test_failed_judge_keeps_the_old_scores(tmp_path):
    a = make_run(tmp_path, "a", "A")
    judge_run(a, MockChat(responses=["3"]))
    before = (a / "scores.json").read_text(encoding="utf-8")

    def down(msgs):
        raise ConnectionError("judge server down\nsecond line")

    with pytest.raises(UserError, match=r"judge scored none of the 2 dialogues \(first error: .*judge server down\)"):
        judge_run(a, MockChat(fn=down, name="other-judge"))
    assert (a / "scores.json").read_text(encoding="utf-8") == before


def test_leaderboard_counts_a_folder_once_and_never_writes_into_a_run(tmp_path):
    a = make_run(tmp_path, "a", "A")
    judge_run(a, MockChat(responses=["3"]))
    assert leaderboard([a, a, str(a)])["rows"][0]["n"] == 2
    report = (a / "report.md").read_text(encoding="utf-8")
    with pytest.raises(UserError, match=r"is a run folder \(esc-run\)"):
        leaderboard_report([a], a)
    assert (a / "report.md").read_text(encoding="utf-8") == report


def test_quickstart_runs_mock_config(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    from modelworks.esc._quickstart import quickstart

    res = quickstart(tmp_path)
    assert res.headline["dialogues"] == 3 and res.headline["utterances_per_dialogue"] == 11
    assert res.headline["mock_judge_average"] == 75.0
    assert res.report.is_file()


def test_bad_dialogue_file_one_line(tmp_path, cli):
    a = make_run(tmp_path, "a", "A")
    lines = (a / "dialogues.jsonl").read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[1])
    rec["utterances"] = rec["utterances"][:2]
    (a / "dialogues.jsonl").write_text(lines[0] + "\n" + json.dumps(rec) + "\n", encoding="utf-8")
    r = cli("esc", "judge", "--run", str(a), "--judge", "mock/fixed")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "dialogues.jsonl line 2" in r.stderr and "1 + 2 x rounds" in r.stderr
    r = cli("esc", "judge", "--run", str(tmp_path / "missing"), "--judge", "mock")
    assert r.returncode == 2 and "not found" in r.stderr
