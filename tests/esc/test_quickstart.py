from __future__ import annotations

import json

import modelworks.paths
from modelworks.esc._quickstart import quickstart


def test_quickstart_runs_on_our_demo_cards_without_a_data_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(modelworks.paths, "find_data_root", lambda override=None: None)
    res = quickstart(tmp_path)
    assert res.headline["dialogues"] == 3 and res.headline["utterances_per_dialogue"] == 11
    records = [json.loads(line) for line in (tmp_path / "run" / "dialogues.jsonl").read_text().splitlines()]
    assert {r["card_id"] for r in records} == {900001, 900002, 900003}
    assert "demo_cards.json" in res.report.read_text()
