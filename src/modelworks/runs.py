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

An ``--out`` folder that already holds files is refused (nothing in it is touched), except a folder
left by a run of the same job that stopped before writing anything but ``config.yaml`` / ``env.json``,
and except ``resume=True`` (the resumable jobs: esc/guard runs, training from a checkpoint), which
continue a run of the same job in place.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelworks.config import dump_yaml
from modelworks.env import environment_info
from modelworks.errors import UserError

__all__ = ["Run", "atomic_write_text", "atomic_write_json", "read_metrics", "new_run_dir", "is_main_process",
           "check_out_path", "check_out_dir", "check_report_dir", "check_not_run_dir"]


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed): only it writes run files."""
    return int(os.environ.get("RANK", "0")) == 0


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file in the same folder and an atomic rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot write {path}: a file stands where a folder of its path must be") from None
    except PermissionError:
        raise UserError(f"cannot write {path}: no permission to create or write its folder") from None
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


_START_FILES = {"config.yaml", "env.json"}


def _folder_job(path: Path) -> str | None:
    try:
        job = json.loads((path / "env.json").read_text(encoding="utf-8")).get("job")
        return None if job is None else str(job)
    except (OSError, ValueError, AttributeError):
        return None


def check_out_path(path: str | Path, kind: str = "folder", flag: str = "--out") -> Path:
    """``path`` can be written as a ``kind`` ("folder" or "file"): not blocked by a file where a folder must
    be (the path itself or a parent), nor a folder where a file must be; raises :class:`UserError`."""
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give the path of a file")
    folders = path.parents if kind == "file" else (path, *path.parents)
    blocker = next((p for p in folders if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UserError(f"{flag} {path}: {blocker} is a file, not a folder")
    return path


def check_out_dir(path: str | Path, job: str, resume: bool = False) -> None:
    """Refuse an output folder whose files a new ``job`` run would overwrite or mix with (see the module
    docstring); raises :class:`UserError` before anything is written."""
    path = check_out_path(path)
    if not path.is_dir():
        return
    names = sorted(p.name for p in path.iterdir())
    if not names:
        return
    there = _folder_job(path)
    if there == job and (resume or set(names) <= _START_FILES):
        return
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    what = f"a run ({there})" if there else "files"
    raise UserError(f"--out {path}: the folder already holds {what} ({shown}); give a new folder or remove it "
                    "(nothing was written)")


def check_not_run_dir(path: str | Path, what: str) -> Path:
    """A folder for outputs that are not a run of their own (exported prompts, a trained scorer, quickstart
    runs): any folder but another job's run folder, whose files ``what`` would mix with or replace;
    raises :class:`UserError` before anything is written."""
    path = check_out_path(path)
    job = _folder_job(path) if path.is_dir() else None
    if job is not None:
        raise UserError(f"--out {path} is a run folder ({job}), whose files {what} would mix with or replace; give "
                        "another folder (nothing was written)")
    return path


def check_report_dir(path: str | Path) -> Path:
    """A folder for a derived report (leaderboard, comparison): any folder but a run folder, whose own
    report.md / results.json it would replace; raises :class:`UserError` before anything is written."""
    return check_not_run_dir(path, "a report")


_SECRET_KEYS = ("api_key", "apikey", "token", "password", "secret")


def _is_secret(key: Any) -> bool:
    """``api_key``, ``hf_token``, ``password`` ...: the whole key or its last ``_`` part (not ``tokenizer``)."""
    k = str(key).lower()
    return k in _SECRET_KEYS or any(k.endswith("_" + s) for s in _SECRET_KEYS)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<redacted>" if isinstance(v, str) and v and _is_secret(k) else _redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _redacted_yaml(config: Any) -> str:
    """The config as YAML with secrets (API keys, tokens, passwords) replaced, so run folders can be shared."""
    import yaml

    return yaml.safe_dump(_redact(yaml.safe_load(dump_yaml(config))), sort_keys=False, allow_unicode=True)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; other values as they are."""
    if not isinstance(d, dict) or not d:
        return {prefix.rstrip("."): d} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def _check_same_config(path: Path, text: str, ignore: tuple[str, ...]) -> None:
    import yaml

    stored_file = path / "config.yaml"
    if not stored_file.is_file():
        return
    try:
        stored = yaml.safe_load(stored_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"{stored_file}: cannot read the stored config to resume ({e.__class__.__name__})") from None
    new = _flat(yaml.safe_load(text) or {})
    stored = _flat(_redact(stored))  # a folder written before redaction compares like a new one

    def ignored(key: str) -> bool:
        return any(key == i or key.startswith(i + ".") for i in ignore)

    changed = sorted(k for k in set(stored) | set(new) if not ignored(k) and stored.get(k) != new.get(k))
    if changed:
        raise UserError(f"--out {path}: resuming needs the settings the run started with, but {', '.join(changed)} "
                        "changed (see its config.yaml); give a new folder for new settings (nothing was written)")


@dataclass
class Run:
    """One job's output folder. Create with :meth:`Run.create`; only rank 0 writes."""

    dir: Path
    job: str
    seed: int | None = None
    writes: bool = True
    _metrics_fh: Any = field(default=None, repr=False)
    started: float = field(default_factory=time.monotonic, repr=False)

    def elapsed(self) -> float:
        """Seconds since this Run object was made (for wall-clock fields in metrics rows)."""
        return round(time.monotonic() - self.started, 2)

    @classmethod
    def create(
        cls,
        job: str,
        config: Any = None,
        out: str | Path | None = None,
        seed: int | None = None,
        root: str | Path = "runs",
        resume: bool = False,
        resume_ignore: tuple[str, ...] | None = None,
    ) -> Run:
        """``resume_ignore``: with ``resume``, the stored config must equal ``config`` in every key but these
        (dotted keys and their sub-keys, e.g. ``concurrency``, ``model_options.base_url``), or the run is
        refused; ``None`` compares nothing."""
        writes = is_main_process()
        run_dir = Path(out) if out else new_run_dir(job, root)
        run = cls(dir=run_dir, job=job, seed=seed, writes=writes)
        text = _redacted_yaml(config) if config is not None else None
        if writes and out:
            check_out_dir(run_dir, job, resume)
            if resume and text is not None and resume_ignore is not None:
                _check_same_config(run_dir, text, resume_ignore)
        if writes:
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except PermissionError:
                raise UserError(f"{run_dir}: no permission to create the run folder") from None
            if text is not None:
                atomic_write_text(run_dir / "config.yaml", text)
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

    def drop_metrics_after(self, step: int) -> int:
        """Remove the metrics rows of steps after ``step`` (a resumed run logs them again); rows without a
        step stay. Returns how many rows were removed."""
        path = self.dir / "metrics.jsonl"
        if not self.writes or not path.is_file():
            return 0
        if self._metrics_fh is not None:
            self._metrics_fh.close()
            self._metrics_fh = None
        rows = read_metrics(path)
        keep = [r for r in rows if not isinstance(r.get("step"), int) or r["step"] <= step]
        if len(keep) < len(rows):
            atomic_write_text(path, "".join(json.dumps(_jsonable(r), ensure_ascii=False) + "\n" for r in keep))
        return len(rows) - len(keep)

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
