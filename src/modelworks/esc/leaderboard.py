"""The ESC-Eval leaderboard: per model x dimension on 0-100, the Average, per language, bar plots.

A dimension's table score maps the mean 0-4 score linearly to 0-100 (``mean / 4 * 100``, author's
answer in ESC-Eval issue #4); scores of -1 (no digit in the judge's reply) are left out and
counted. "Average" is the mean of the 7 dimension scores. Any number of scored runs can be
combined; runs of the same model label are pooled.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.esc.templates import DIMENSION_TITLES, DIMENSIONS

__all__ = ["to_100", "leaderboard", "leaderboard_report"]


def to_100(mean_score: float, high: int = 4) -> float:
    return mean_score / high * 100.0


def leaderboard(runs: list[str | Path]) -> dict[str, Any]:
    """``{"rows": [{model, language, n, invalid, <dim>: 0-100, average}], ...}`` (language "all" pooled)."""
    from modelworks.esc.runner import read_dialogues
    from modelworks.esc.scoring import read_scores

    if not runs:
        raise UserError("give at least one scored run folder")
    runs = list({Path(r).resolve(): r for r in runs}.values())  # a folder given twice counts once
    pools: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[tuple[str, str], int] = defaultdict(int)
    invalid: dict[tuple[str, str], int] = defaultdict(int)
    for run in runs:
        records = {r.index: r for r in read_dialogues(run)}
        for idx, sc in read_scores(run).items():
            if idx not in records:
                raise UserError(f"{Path(run) / 'scores.json'}: dialogue '{idx}' is not in dialogues.jsonl")
            rec = records[idx]
            for lang in (rec.language, "all"):
                key = (rec.model, lang)
                counts[key] += 1
                for d in DIMENSIONS:
                    v = sc.get(d, -1)
                    if v < 0:
                        invalid[key] += 1
                    else:
                        pools[key][d].append(v)
    rows = []
    for (model, lang), dims in sorted(pools.items()):
        row: dict[str, Any] = {"model": model, "language": lang, "n": counts[(model, lang)],
                               "invalid": invalid[(model, lang)]}
        vals = []
        for d in DIMENSIONS:
            row[d] = to_100(sum(dims[d]) / len(dims[d])) if dims[d] else float("nan")
            vals.append(row[d])
        ok = [v for v in vals if v == v]
        row["average"] = sum(ok) / len(ok) if ok else float("nan")
        rows.append(row)
    return {"rows": rows, "runs": [str(r) for r in runs]}


def leaderboard_report(runs: list[str | Path], out: str | Path) -> Path:
    """Write report.md, leaderboard.json and one bar chart per dimension (+ an overview) into ``out``."""
    from modelworks.report import bar_plot, markdown_table
    from modelworks.runs import atomic_write_json, atomic_write_text, check_report_dir

    out = check_report_dir(out)
    board = leaderboard(runs)
    atomic_write_json(out / "leaderboard.json", board)
    headers = ["model", "lang", "n", *(DIMENSION_TITLES[d] for d in DIMENSIONS), "Average"]
    lines = ["# ESC-Eval leaderboard", "", "Scores are the mean 0-4 rating mapped to 0-100; Average = mean of the 7.", ""]
    for lang in ("all", "en", "zh"):
        rows = [r for r in board["rows"] if r["language"] == lang]
        if not rows:
            continue
        lines += [f"## {'All languages' if lang == 'all' else lang}", "",
                  markdown_table(headers, [[r["model"], lang, r["n"], *(r[d] for d in DIMENSIONS), r["average"]]
                                           for r in rows], digits=2), ""]
        groups = {r["model"]: {DIMENSION_TITLES[d]: r[d] for d in DIMENSIONS} | {"Average": r["average"]} for r in rows}
        bar_plot(groups, out / f"leaderboard_{lang}.png", title=f"ESC-Eval ({lang})", ylabel="score (0-100)")
        lines.append(f"![overview](leaderboard_{lang}.png)\n")
    alls = [r for r in board["rows"] if r["language"] == "all"]
    for d in DIMENSIONS:
        bar_plot({DIMENSION_TITLES[d]: {r["model"]: r[d] for r in alls}}, out / f"dimension_{d}.png",
                 title=DIMENSION_TITLES[d], ylabel="score (0-100)")
    lines.append("Per-dimension charts: " + ", ".join(f"[{DIMENSION_TITLES[d]}](dimension_{d}.png)" for d in DIMENSIONS))
    bad = sum(r["invalid"] for r in alls)
    if bad:
        lines.append(f"\n{bad} scores were -1 (no digit 0-4 in the scorer's reply) and are left out of the means.")
    lines.append("\nRuns: " + ", ".join(f"`{r}`" for r in board["runs"]))
    return atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
