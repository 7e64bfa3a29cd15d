"""A real browser (Debian's headless Chromium via Playwright) drives `modelworks esc annotate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._net import serve_cli

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser



@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed (apt-get install chromium)")
def test_login_annotate_export_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from modelworks.chat import MockChat
    from modelworks.esc.runner import EscRunConfig, run_esc
    from modelworks.web import AnnotationDB

    cards = [{"base": "Age: 30\nGender: F\nOccupation: nurse\nProblem: <script>alert(1)</script> night shifts",
              "base_biaozhu": "x", "res": "工作学习", "source": "ESconv", "language": "english", "id": 7}]
    (tmp_path / "cards.json").write_text(json.dumps(cards), encoding="utf-8")
    run = run_esc(EscRunConfig(cards=str(tmp_path / "cards.json"), rounds=2), tmp_path / "run",
                  agent=MockChat(fn=lambda m: "I can't sleep after my shifts."), model=MockChat(fn=lambda m: "That sounds exhausting."))
    tokens = {"alice": "alice-browser-token", "bob": "bob-browser-token"}
    (tmp_path / "tokens.json").write_text(json.dumps(tokens))
    with serve_cli("esc", "annotate", "--run", str(run), "--tokens", str(tmp_path / "tokens.json"), "--k", "1") as port:
        base = f"http://127.0.0.1:{port}"
        scores = {"fluency": 4, "diversity": 2, "empathic": 3, "suggestion": 1, "human": 0, "tech": 2, "overall": 3}
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page()
            alerts = []
            page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
            page.goto(base + "/")
            page.fill("#token", "not-a-token")
            page.click("#login")
            assert "unknown token" in page.inner_text("#message")
            annotator = next(n for n, t in tokens.items()
                             if AnnotationDB(run / "annotations.sqlite").is_assigned("0", n))
            page.fill("#token", tokens[annotator])
            page.click("#login")
            page.wait_for_selector("#label-form")
            assert page.inner_text("#who") == annotator
            assert "night shifts" in page.content() and not alerts  # the card is shown as text
            assert "That sounds exhausting." in page.inner_text(".dialogue")
            # submitting with a missing dimension is refused by the server, nothing stored
            page.check('input[name="label.fluency"][value="4"]')
            page.click("#submit")
            assert "no score for" in page.inner_text("#message")
            for dim, v in scores.items():
                page.check(f'input[name="label.{dim}"][value="{v}"]')
            page.click("#submit")
            page.wait_for_selector("#all-done")
            page.goto(base + "/export.json")
            exported = json.loads(page.inner_text("body"))
            browser.close()
        assert exported == [{"item": "0", "annotator": annotator, "scores": scores, "meta": exported[0]["meta"]}]
        db = AnnotationDB(run / "annotations.sqlite")
        assert db.export()[0]["scores"] == scores
        assert db.progress()[[p["annotator"] for p in db.progress()].index(annotator)]["done"] == 1
    # the export feeds ESC-RANK training
    r = subprocess.run([sys.executable, "-m", "modelworks", "esc", "export-annotations", "--run", str(run)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    line = json.loads((run / "annotations.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert line["scores"] == scores and len(line["utterances"]) == 5
    r = subprocess.run([sys.executable, "-m", "modelworks", "esc", "agreement", "--run", str(run)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["empathic"]["units"] == 0  # one annotator per dialogue: nothing to compare
