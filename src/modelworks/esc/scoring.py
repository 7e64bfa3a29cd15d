"""Score a run's dialogues on the 7 dimensions: with an LLM judge, or with a trained ESC-RANK.

Both write ``scores.json`` into the run folder in ESC-Eval's format
(``{index: {fluency, diversity, empathic, suggestion, human, tech, overall}}``, -1 = no digit
found) and ``scores.jsonl`` with the scorer's name. Judge calls are rows in the run's SQLite
store (task ``judge:<spec>``), so an interrupted scoring resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.jsonl import read_json

__all__ = ["judge_run", "rank_run", "read_scores"]


def _write(run_dir: Path, scores: dict[str, dict[str, int]], scorer: str) -> Path:
    from modelworks.runs import atomic_write_json, atomic_write_text

    ordered = dict(sorted(scores.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0]))
    atomic_write_json(run_dir / "scores.json", ordered)
    atomic_write_text(run_dir / "scores.jsonl", "".join(
        json.dumps({"index": k, "scorer": scorer, "scores": v}, ensure_ascii=False) + "\n" for k, v in ordered.items()))
    return run_dir / "scores.json"


def judge_run(run_dir: str | Path, judge: Any, judge_options: dict[str, Any] | None = None,
              templates: dict[str, str] | None = None, concurrency: int = 4,
              dimensions: tuple[str, ...] | None = None) -> dict[str, Any]:
    from modelworks.chat import get_model
    from modelworks.esc.judge import judge_dialogue
    from modelworks.esc.runner import read_dialogues
    from modelworks.esc.templates import DIMENSIONS, load_templates
    from modelworks.store import SampleStore, process

    if concurrency < 1:
        raise UserError(f"--concurrency must be >= 1, got {concurrency}")
    run_dir = Path(run_dir)
    records = read_dialogues(run_dir)
    model = get_model(judge, **(judge_options or {}))
    tmpl = {lang: load_templates(lang, templates) for lang in {r.language for r in records}}
    dims = dimensions or DIMENSIONS
    task = f"judge:{judge if isinstance(judge, str) else model.name}"
    with SampleStore(run_dir / "samples.sqlite") as store:
        store.add("esc", task, [(r.index, {"utterances": r.utterances, "language": r.language}) for r in records])
        counts = process(store, "esc", task,
                         lambda inp: judge_dialogue(inp["utterances"], model, tmpl[inp["language"]], dims),
                         concurrency=concurrency)
        scores = {row.sample_id: row.output for row in store.rows("esc", task) if row.status == "done"}
        errors = [(row.sample_id, row.error) for row in store.rows("esc", task) if row.status == "error"]
    if not scores:
        first = f" (first error: {(errors[0][1] or '').splitlines()[0][:200]})" if errors and errors[0][1] else ""
        raise UserError(f"{run_dir}: the judge scored none of the {len(records)} dialogues{first}; scores.json is left "
                        "as it was; rerun the same command to retry")
    path = _write(run_dir, scores, task.split(":", 1)[1])
    return {"scores": str(path), "scored": counts["done"], "failed": counts["error"], "errors": errors[:5]}


def rank_run(run_dir: str | Path, scorer_dir: str | Path) -> dict[str, Any]:
    """Score with a trained ESC-RANK (light or LoRA); levels 0-4 (-1 where a LoRA reply had no digit)."""
    import numpy as np

    from modelworks.esc.rank.annotations import HIGH, LOW
    from modelworks.esc.rank.metrics import to_levels
    from modelworks.esc.rank.recipes import load_scorer
    from modelworks.esc.runner import read_dialogues

    run_dir = Path(run_dir)
    records = read_dialogues(run_dir)
    scorer = load_scorer(scorer_dir)
    from modelworks.esc.templates import DIMENSIONS

    other = [t for t in scorer.targets if t not in DIMENSIONS]
    if other:
        raise UserError(f"{scorer_dir}: this scorer predicts {', '.join(other)}, not ESC-Eval dimensions; score ESConv "
                        "data with 'modelworks esc rank evaluate --target' instead (scores.json is left as it was)")
    langs = [r.language for r in records]
    if hasattr(scorer, "score_dialogues"):
        preds = scorer.score_dialogues([r.utterances for r in records], scorer.targets, langs)
    else:
        from modelworks.esc.rank.features import turns_of_utterances

        x = scorer.features([turns_of_utterances(r.utterances) for r in records])
        preds = {d: scorer.predict_features(x, d, langs) for d in scorer.targets}
    scores: dict[str, dict[str, int]] = {}
    for i, r in enumerate(records):
        row = {}
        for d, p in preds.items():
            row[d] = -1 if np.isnan(p[i]) else int(to_levels([p[i]], LOW, HIGH)[0])
        scores[r.index] = row
    path = _write(run_dir, scores, f"esc-rank:{scorer_dir}")
    return {"scores": str(path), "scored": len(scores)}


def read_scores(run_dir: str | Path) -> dict[str, dict[str, int]]:
    p = Path(run_dir) / "scores.json"
    if not p.is_file():
        raise UserError(f"{p} not found: score the run first ('modelworks esc judge' or 'modelworks esc rank score')")
    from modelworks.esc.templates import DIMENSIONS

    data = read_json(p, "scores file")
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected an object {{index: {{dimension: score}}}}")
    for k, v in data.items():
        if not isinstance(v, dict):
            raise UserError(f"{p}: entry '{k}' must map dimensions to integer scores")
        for d, s in v.items():
            if d not in DIMENSIONS:
                raise UserError(f"{p}: entry '{k}': unknown dimension '{d}' (one of {', '.join(DIMENSIONS)})")
            if isinstance(s, bool) or not isinstance(s, int) or not -1 <= s <= 4:
                raise UserError(f"{p}: entry '{k}', {d}: score must be an integer 0-4 (or -1 = unparsed), got {s!r}")
    return data
