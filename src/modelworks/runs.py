"""Run directories: every job writes the same five things in one folder.

``runs/<job>-<UTC timestamp>/`` (or the ``--out`` directory) holds

- ``config.yaml``   the resolved config,
- ``env.json``      package versions, git sha, seed, device,
- ``metrics.jsonl`` one JSON object per logged step, streamed,
- ``results.json``  the final numbers,
- ``report.md``     for people, with PNG plots beside it.

Whole files are written atomically (temp file + rename), so a crash never leaves half a file;
``metrics.jsonl`` is appended one complete line per write and :func:`read_metrics` skips a line
cut short by a crash.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelworks.config import dump_yaml
from modelworks.env import environment_info

__all__ = ["Run", "atomic_write_text", "atomic_write_json", "read_metrics", "new_run_dir", "is_main_process"]


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed): only it writes run files."""
    return int(os.environ.get("RANK", "0")) == 0


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _jsonable(value: Any) -> Any:
    """Numbers from numpy/torch become floats; NaN/inf become None so the JSON stays standard."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(_jsonable(data), indent=2, ensure_ascii=False) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Read ``metrics.jsonl``, skipping a last line cut short by a crash."""
    rows = []
    p = Path(path)
    if not p.exists():
        return rows
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def new_run_dir(job: str, root: str | Path = "runs") -> Path:
    """A fresh ``root/<job>-<UTC timestamp>`` folder (suffixed if that name is taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path(root) / f"{job}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@dataclass
class Run:
    """One job's output folder. Create with :meth:`Run.create`; only rank 0 writes."""

    dir: Path
    job: str
    seed: int | None = None
    writes: bool = True
    _metrics_fh: Any = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        job: str,
        config: Any = None,
        out: str | Path | None = None,
        seed: int | None = None,
        root: str | Path = "runs",
    ) -> Run:
        writes = is_main_process()
        run_dir = Path(out) if out else new_run_dir(job, root)
        run = cls(dir=run_dir, job=job, seed=seed, writes=writes)
        if writes:
            run_dir.mkdir(parents=True, exist_ok=True)
            if config is not None:
                atomic_write_text(run_dir / "config.yaml", dump_yaml(config))
            atomic_write_json(run_dir / "env.json", {"job": job, **environment_info(seed)})
        return run

    def path(self, name: str) -> Path:
        return self.dir / name

    def log(self, step: int | None = None, **values: Any) -> None:
        """Append one metrics row (a whole line per write, flushed at once)."""
        if not self.writes:
            return
        if self._metrics_fh is None:
            self._metrics_fh = open(self.dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        row = {"step": step, **values} if step is not None else values
        self._metrics_fh.write(json.dumps(_jsonable(row), ensure_ascii=False) + "\n")
        self._metrics_fh.flush()

    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.dir / "metrics.jsonl")

    def write_results(self, results: dict[str, Any]) -> Path:
        return atomic_write_json(self.dir / "results.json", results) if self.writes else self.dir

    def write_report(self, markdown: str) -> Path:
        return atomic_write_text(self.dir / "report.md", markdown) if self.writes else self.dir

    def write_json(self, name: str, data: Any) -> Path:
        return atomic_write_json(self.dir / name, data) if self.writes else self.dir

    def close(self) -> None:
        if self._metrics_fh is not None:
            self._metrics_fh.close()
            self._metrics_fh = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
