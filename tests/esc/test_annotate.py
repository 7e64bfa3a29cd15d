"""`modelworks esc annotate`: the token file across restarts (new names, kept tokens, clear errors)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from modelworks.errors import UserError


@pytest.fixture
def run(tmp_path):
    from modelworks.chat import MockChat
    from modelworks.esc.runner import EscRunConfig, run_esc

    cards = [{"base": f"Age: {30 + i}\nProblem: night shifts", "base_biaozhu": "x", "res": "工作学习",
              "source": "ESconv", "language": "english", "id": i} for i in range(2)]
    (tmp_path / "cards.json").write_text(json.dumps(cards), encoding="utf-8")
    return run_esc(EscRunConfig(cards=str(tmp_path / "cards.json"), rounds=1), tmp_path / "run",
                   agent=MockChat(fn=lambda m: "I can't sleep."), model=MockChat(fn=lambda m: "That sounds hard."))


@pytest.fixture
def served(monkeypatch):
    """Calls the `esc annotate` command; returns the app it would serve."""
    import modelworks.web
    from modelworks.esc.cli import annotate_cmd

    apps = []
    monkeypatch.setattr(modelworks.web, "serve_app", lambda app, host, port: apps.append(app))

    def call(run, annotators=None, tokens=None, k=1):
        annotate_cmd(run=run, port=0, host="127.0.0.1", annotators=annotators, tokens=tokens, k=k, language="en")
        return apps[-1]
    return call


def can_log_in(app, token: str) -> bool:
    c = TestClient(app)
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)
    return c.post("/login", data={"token": token, "csrf": csrf}, follow_redirects=False).status_code == 303


def test_annotator_names_are_the_roster_kept_in_the_token_file(run, served):
    served(run)
    first = json.loads((run / "annotator_tokens.json").read_text())
    assert list(first) == ["annotator1"]
    app = served(run, annotators="annotator1,alice,bob", k=2)  # used to keep only annotator1 and fail on k=2
    stored = json.loads((run / "annotator_tokens.json").read_text())
    assert list(stored) == ["annotator1", "alice", "bob"] and stored["annotator1"] == first["annotator1"]
    assert can_log_in(app, stored["alice"]) and can_log_in(app, stored["annotator1"])
    app = served(run, annotators="alice,bob", k=2)  # annotator1 left out: revoked
    assert [p["annotator"] for p in app.state.db.progress()] == ["alice", "bob"]
    assert not can_log_in(app, stored["annotator1"])
    again = served(run)  # no names: the file's roster, tokens unchanged, annotator1 still out
    assert json.loads((run / "annotator_tokens.json").read_text()) == {n: stored[n] for n in ("alice", "bob")}
    assert can_log_in(again, stored["bob"]) and not can_log_in(again, stored["annotator1"])


def test_token_file_errors_are_one_line(run, served, tmp_path):
    f = tmp_path / "tokens.json"
    f.write_text(json.dumps({"alice": "same-token-123", "bob": "same-token-123"}))
    with pytest.raises(UserError, match="annotators 'alice' and 'bob' have the same token"):
        served(run, tokens=f)
    with pytest.raises(UserError, match="either --tokens FILE or --annotators NAMES"):
        served(run, annotators="carol", tokens=f)
