from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file + rename) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def line_plot(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    logy: bool = False,
) -> Path:
    """One line per named (x, y) series."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def bar_plot(
    groups: Mapping[str, Mapping[str, float]],
    path: str | Path,
    title: str = "",
    ylabel: str = "",
) -> Path:
    """Grouped bars: ``groups[series][category] = value``."""
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(groups)
    cats = list(dict.fromkeys(c for g in groups.values() for c in g))
    x = np.arange(len(cats))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, len(cats) * 0.9), 4))
    for i, name in enumerate(names):
        ax.bar(x + i * width, [groups[name].get(c, 0.0) for c in cats], width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, cats, rotation=30, ha="right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if len(names) > 1:
        ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)
