"""Reading text / JSON / JSONL and writing JSONL, with one-line errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modelworks.errors import UserError

__all__ = ["read_text", "read_json", "read_jsonl", "line_number", "write_jsonl", "shown"]


def shown(value: Any, limit: int = 60) -> str:
    """A value as its JSON file spells it (null, NaN, "abc"), cut to ``limit`` characters, for error messages."""
    return json.dumps(value, ensure_ascii=False)[:limit]


def read_text(path: str | Path, what: str = "file", encoding: str = "utf-8") -> str:
    """A text file's content; a missing path, a folder or bytes that are not UTF-8 raise a one-line
    :class:`UserError` naming ``what`` and the file (with the line of the first bad byte)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what} is a folder, not a file: {p}")
    if not p.is_file():
        raise UserError(f"{what} not found: {p}")
    data = p.read_bytes()
    try:  # newlines as Path.read_text gives them (universal newlines: \r\n and \r become \n)
        return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{p}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """The parsed content of a JSON file; a missing or malformed file raises a one-line :class:`UserError`."""
    p = Path(path)
    text = read_text(p, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def read_jsonl(path: str | Path, what: str = "JSONL file") -> list[tuple[str, dict[str, Any]]]:
    """The objects of a JSONL file, each with its location ``"<file>:<line>"`` for error messages.

    Blank lines are skipped; a missing file, a line that is not JSON, or a line that is not an object
    raises :class:`UserError` naming ``what``, the file and the line.
    """
    p = Path(path)
    out = []
    for n, line in enumerate(read_text(p, what).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{p}:{n}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise UserError(f"{p}:{n}: expected a JSON object, got {type(obj).__name__}")
        out.append((f"{p}:{n}", obj))
    return out


def line_number(where: str) -> int:
    """The 1-based line of a location ``"<file>:<line>"`` from :func:`read_jsonl`."""
    return int(where.rsplit(":", 1)[1])


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows as JSONL atomically (temp file + rename)."""
    from modelworks.runs import atomic_write_text

    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
