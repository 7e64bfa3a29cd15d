"""``modelworks quickstart``: every capability's smallest default config, one summary table.

Each capability that is ready exposes ``quickstart(out_dir: Path) -> QuickstartResult`` in its
package's ``_quickstart`` module; the list below is the order they run in. A capability without it
is listed as not implemented yet, never faked.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelworks.runs import new_run_dir

CAPABILITIES = ["chat", "train", "unlearn", "tkg", "honeypot", "esc", "guard"]


@dataclass
class QuickstartResult:
    headline: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None


def _load(name: str):
    try:
        module = importlib.import_module(f"modelworks.{name}._quickstart")
    except ModuleNotFoundError as exc:
        if exc.name == f"modelworks.{name}._quickstart":
            return None
        raise
    return getattr(module, "quickstart", None)


def run_quickstart(
    out: Path | None = None, only: list[str] | None = None
) -> list[tuple[str, QuickstartResult | None, float]]:
    from rich.console import Console

    from modelworks.errors import UserError
    from modelworks.report import fmt, rich_table
    from modelworks.runs import check_not_run_dir

    console = Console()
    root = Path(out) if out else new_run_dir("quickstart")
    names = only or CAPABILITIES
    unknown = [n for n in names if n not in CAPABILITIES]
    if unknown:
        raise UserError(f"unknown capability '{unknown[0]}' for --only; choose from {', '.join(CAPABILITIES)}")
    check_not_run_dir(root, "quickstart runs")
    taken = [n for n in names if (root / n).is_dir() and any((root / n).iterdir())]
    if taken:  # one clear refusal instead of a failure per capability (run folders are never overwritten)
        raise UserError(f"--out {root} already holds quickstart runs of {', '.join(taken)}; give a new folder "
                        "(nothing was written)")
    results = []
    failed: list[str] = []
    for name in names:
        fn = _load(name)
        if fn is None:
            results.append((name, None, 0.0))
            continue
        console.print(f"[bold]quickstart[/bold] {name} ...")
        t0 = time.perf_counter()
        try:
            res = fn(root / name)
        except Exception as exc:  # noqa: BLE001 - one capability failing must not hide the others
            failed.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            res = QuickstartResult({"FAILED": failed[-1].split(": ", 1)[1]})
        results.append((name, res, time.perf_counter() - t0))
    rows = []
    for name, res, secs in results:
        if res is None:
            rows.append((name, "not implemented yet", "—"))
        else:
            nums = ", ".join(f"{k}={fmt(v, 3)}" for k, v in res.headline.items())
            rows.append((name, nums, f"{secs:.1f}s"))
    console.print(rich_table("modelworks quickstart", ["capability", "headline", "time"], rows))
    for name, res, _ in results:
        if res is not None and res.report is not None:
            console.print(f"{name:>9} report: {res.report}", soft_wrap=True)
    console.print(f"runs in {root}", soft_wrap=True)
    if failed:
        raise UserError(f"quickstart: {len(failed)} capability(ies) failed — {'; '.join(failed)}")
    return results
