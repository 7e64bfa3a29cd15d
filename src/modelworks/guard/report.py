"""Reports: ASD/PAR tables per model (by dimension, language, subtask), bar and radar plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelworks.guard.taxonomy import DIMENSIONS

__all__ = ["metrics_markdown", "radar_plot", "write_report"]


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * float(v):.2f}"


def metrics_markdown(results: Mapping[str, dict[str, Any]]) -> str:
    """Tables (values in %) for ``{model: compute_metrics(...)}``."""
    from modelworks.report import markdown_table

    headers = ["model", *[d.capitalize() for d in DIMENSIONS], "Overall"]
    parts = []
    for metric, label in (("asd", "ASD (%, lower is better)"), ("par", "PAR (%, higher is better)")):
        rows = [[m, *[_pct(r["dimensions"].get(d, {}).get(metric)) for d in DIMENSIONS], _pct(r["overall"][metric])]
                for m, r in results.items()]
        parts.append(f"**{label}**\n\n" + markdown_table(headers, rows))
    lang_rows = []
    for m, r in results.items():
        for lang, lr in r["languages"].items():
            lang_rows.append([m, lang, *[f"{_pct(lr['dimensions'].get(d, {}).get('asd'))} / "
                                         f"{_pct(lr['dimensions'].get(d, {}).get('par'))}" for d in DIMENSIONS],
                              f"{_pct(lr['overall']['asd'])} / {_pct(lr['overall']['par'])}"])
    parts.append("**By language (ASD / PAR, %)**\n\n" + markdown_table(["model", "language", *headers[1:]], lang_rows))
    sub_rows = []
    for m, r in results.items():
        for dim, subs in r["subtasks"].items():
            for sub, v in subs.items():
                sub_rows.append([m, dim, sub, _pct(v["asd"]), _pct(v["par"]), v["n"]])
    parts.append("**By subtask**\n\n" + markdown_table(["model", "dimension", "subtask", "ASD %", "PAR %", "n"],
                                                       sub_rows))
    return "\n\n".join(parts)


def radar_plot(values: Mapping[str, Mapping[str, float]], path: str | Path, title: str = "") -> Path:
    """One polygon per model over the dimensions (``values[model][dimension]``)."""
    import math

    import matplotlib.pyplot as plt

    from modelworks.report import save_figure

    axes = list(DIMENSIONS)
    angles = [2 * math.pi * i / len(axes) for i in range(len(axes))] + [0.0]
    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_subplot(111, polar=True)
    for name, vals in values.items():
        ys = [float(vals.get(a) or 0.0) for a in axes]
        ax.plot(angles, ys + ys[:1], marker="o", label=name)
        ax.fill(angles, ys + ys[:1], alpha=0.1)
    ax.set_xticks(angles[:-1], [a.capitalize() for a in axes])
    ax.set_ylim(0, 1)
    ax.set_title(title)
    if values:
        ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=8)
    return save_figure(fig, path)


def write_report(score_files: Sequence[str | Path], out: str | Path) -> Path:
    """report.md + asd_bar.png, par_bar.png, asd_radar.png, results.json for several scored files."""
    from modelworks.guard.metrics import compute_metrics, read_scores
    from modelworks.report import bar_plot
    from modelworks.runs import atomic_write_json, atomic_write_text, check_report_dir

    out = check_report_dir(out)
    results: dict[str, dict[str, Any]] = {}
    for f in score_files:
        rows = read_scores(f)
        name = _model_name(Path(f))
        while name in results:
            name += "'"
        results[name] = compute_metrics(rows)
    asd = {m: {d: r["dimensions"][d]["asd"] or 0.0 for d in r["dimensions"]} for m, r in results.items()}
    par = {m: {d: r["dimensions"][d]["par"] or 0.0 for d in r["dimensions"]} for m, r in results.items()}
    bar_plot(asd, out / "asd_bar.png", title="ASD by dimension (lower is better)", ylabel="ASD")
    bar_plot(par, out / "par_bar.png", title="PAR by dimension (higher is better)", ylabel="PAR")
    radar_plot(asd, out / "asd_radar.png", title="ASD")
    atomic_write_json(out / "results.json", results)
    md = ["# MLLMGuard report", "", "Sources: " + ", ".join(str(f) for f in score_files), "",
          metrics_markdown(results), "", "![ASD](asd_bar.png) ![PAR](par_bar.png) ![ASD radar](asd_radar.png)", ""]
    return atomic_write_text(out / "report.md", "\n".join(md))


def _model_name(path: Path) -> str:
    import json

    try:
        first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        if first.get("model"):
            return str(first["model"])
    except (OSError, ValueError, IndexError):
        pass
    return path.parent.name or path.stem
