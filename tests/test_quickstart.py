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
