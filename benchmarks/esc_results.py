"""Compose the "esc" section of docs/RESULTS.md from the JSON the esc benchmarks leave in runs/bench/.

Each esc benchmark saves ``runs/bench/esc_<name>.json`` (its numbers + a markdown block) and calls
:func:`write_section`, so the section always shows the latest measurement of every benchmark.

    .venv/bin/python benchmarks/esc_results.py     # rewrite the section from the saved JSON
"""

from __future__ import annotations

import json
from pathlib import Path

BENCH = Path("runs/bench")
ORDER = ["esc_rank_esconv", "esc_run_throughput"]


def save(name: str, numbers: dict, markdown: str) -> Path:
    BENCH.mkdir(parents=True, exist_ok=True)
    path = BENCH / f"{name}.json"
    path.write_text(json.dumps({"numbers": numbers, "markdown": markdown}, indent=1, default=float), encoding="utf-8")
    return path


def write_section() -> None:
    from modelworks.report import update_results_section

    blocks = []
    for name in ORDER:
        p = BENCH / f"{name}.json"
        if p.is_file():
            blocks.append(json.loads(p.read_text(encoding="utf-8"))["markdown"])
    if blocks:
        update_results_section("esc", "\n\n".join(blocks))


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0]).parse_args()
    write_section()
