"""`modelworks quickstart --only esc`: configs/esc/mock.yaml end to end (run -> judge -> leaderboard).

Everything is mock (scripted role agent, echoing ESC model, a fixed-answer judge), so the numbers
show that the pipeline runs and keeps the ESC-Eval format, not the quality of any model. The cards are
ESC-Eval's 3 test cards from the data folder, or, where no data folder exists, three demo cards of
our own in the same schema (``demo_cards.json``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from modelworks.quickstart import QuickstartResult


def _config_path() -> Path:
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        p = base / "configs" / "esc" / "mock.yaml"
        if p.is_file():
            return p
    raise FileNotFoundError("configs/esc/mock.yaml not found (run from the checkout)")


def quickstart(out_dir: Path) -> QuickstartResult:
    from modelworks.config import load_config
    from modelworks.esc.leaderboard import leaderboard, leaderboard_report
    from modelworks.esc.runner import EscRunConfig, run_esc
    from modelworks.esc.scoring import judge_run
    from modelworks.paths import find_data_root
    from modelworks.runs import atomic_write_text

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    cfg = load_config(EscRunConfig, _config_path())
    if find_data_root() is None:  # no benchmark data beside this checkout: our own three demo cards
        cfg.cards = str(Path(__file__).with_name("demo_cards.json"))
    run_dir = run_esc(cfg, out=out_dir / "run")
    res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    dialogues = json.loads((run_dir / "dialogues.json").read_text(encoding="utf-8"))
    judge_run(run_dir, "mock/fixed", {"responses": ["3", "Score: 2", "4"]})
    board_md = leaderboard_report([run_dir], out_dir / "leaderboard")
    board = leaderboard([run_dir])
    avg = next(r["average"] for r in board["rows"] if r["language"] == "all")
    secs = time.perf_counter() - t0
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join([
        "# ESC-Eval quickstart (all mock)", "",
        f"- config: `{_config_path()}`; cards: `{cfg.cards}`; run folder: `{run_dir}`",
        f"- dialogues: {res['done']} of {res['cards']}, {len(next(iter(dialogues.values())))} utterances each",
        f"- judge: mock/fixed cycling '3', 'Score: 2', '4' -> leaderboard average {avg:.2f} (a format check, not a model score)",
        f"- leaderboard: `{board_md}`", f"- time: {secs:.1f} s", ""]))
    return QuickstartResult(headline={"dialogues": res["done"],
                                      "utterances_per_dialogue": len(next(iter(dialogues.values()))),
                                      "mock_judge_average": round(avg, 2)}, report=report)
