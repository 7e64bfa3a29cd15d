from __future__ import annotations

import pytest

from modelworks import quickstart as qs
from modelworks.errors import UserError


def test_a_failing_capability_is_reported_and_fails_the_command(tmp_path, monkeypatch, capsys):
    def ok(out):
        return qs.QuickstartResult({"acc": 0.5}, out / "report.md")

    def broken(out):
        raise RuntimeError("no data")

    monkeypatch.setattr(qs, "_load", lambda name: {"chat": ok, "tkg": broken}.get(name))
    with pytest.raises(UserError, match="1 capability\\(ies\\) failed — tkg: RuntimeError: no data"):
        qs.run_quickstart(tmp_path, ["chat", "tkg", "esc"])
    out = capsys.readouterr().out
    assert "acc=0.500" in out and "no data" in out and "not implemented yet" in out


def test_an_out_folder_with_earlier_quickstart_runs_is_refused_at_once(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(qs, "_load", lambda name: lambda out: calls.append(name))
    (tmp_path / "tkg").mkdir()
    (tmp_path / "tkg" / "results.json").write_text("{}")
    with pytest.raises(UserError, match="already holds quickstart runs of tkg; give a new folder"):
        qs.run_quickstart(tmp_path, ["chat", "tkg"])
    assert calls == [] and (tmp_path / "tkg" / "results.json").read_text() == "{}"
