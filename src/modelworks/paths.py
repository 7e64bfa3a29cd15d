"""Where benchmark data is read from: ``--data-dir``, ``MODELWORKS_DATA``, or ``../shared/data``; and how a
command argument that may name a file or the run folder holding it is resolved (:func:`file_or_folder`).

Data is always read by path and never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelworks.errors import UserError

__all__ = ["data_root", "find_data_root", "data_path", "file_or_folder"]


def find_data_root(override: str | Path | None = None) -> Path | None:
    """The data folder: the override, else ``$MODELWORKS_DATA``, else the first ``shared/data`` beside the
    working directory or the checkout; None when there is none. An override or a ``MODELWORKS_DATA`` that
    names a missing folder is a :class:`UserError` (never silently replaced by another folder)."""
    if override:
        if not Path(override).is_dir():
            raise UserError(f"data directory not found: {override}")
        return Path(override).resolve()
    env = os.environ.get("MODELWORKS_DATA")
    if env:
        if not Path(env).is_dir():
            raise UserError(f"MODELWORKS_DATA={env}: no such folder")
        return Path(env).resolve()
    candidates: list[Path] = []
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *Path.cwd().parents[:2], *here.parents[2:5]):
        candidates.append(base / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def data_root(override: str | Path | None = None) -> Path:
    """Like :func:`find_data_root` but a clear error when no data folder exists."""
    root = find_data_root(override)
    if root is None:
        raise UserError(
            "no benchmark data folder found: pass --data-dir DIR or set MODELWORKS_DATA "
            "(expected ../shared/data beside the checkout)"
        )
    return root


def data_path(*parts: str, override: str | Path | None = None) -> Path:
    """A path inside the data root that must exist, e.g. ``data_path("tkg", "ICEWS14")``."""
    p = data_root(override).joinpath(*parts)
    if not p.exists():
        raise UserError(f"data not found: {p}")
    return p


def file_or_folder(path: str | Path, name: str, what: str) -> Path:
    """``path`` itself, or ``path / name`` when ``path`` is a folder (a run folder holding ``name``);
    a missing file is a :class:`UserError` that says ``what`` was looked for and where."""
    p = Path(path)
    if p.is_dir():
        p = p / name
    if not p.is_file():
        raise UserError(f"{what} not found: {p}")
    return p
