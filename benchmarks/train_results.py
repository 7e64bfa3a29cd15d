"""Compose the "train" section of docs/RESULTS.md from the JSON the train benchmarks save.

Each train benchmark saves ``benchmarks/results/train_<name>.json`` (numbers + a markdown block, tracked in
git so the section can always be rebuilt) and calls :func:`write_section`.

    .venv/bin/python benchmarks/train_results.py     # rewrite the section from the saved JSON
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ["train_memory", "train_throughput", "train_gpu"]


def save(name: str, numbers: dict, markdown: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"numbers": numbers, "markdown": markdown}, indent=1, default=float) + "\n",
                    encoding="utf-8")
    return path


def write_section() -> None:
    from modelworks.report import update_results_section

    blocks = ["## train (CoLLiE engine)"]
    for name in ORDER:
        p = RESULTS / f"{name}.json"
        if p.is_file():
            blocks.append(json.loads(p.read_text(encoding="utf-8"))["markdown"])
    update_results_section("train", "\n\n".join(blocks), path=RESULTS.parents[1] / "docs" / "RESULTS.md")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0]).parse_args()
    write_section()
