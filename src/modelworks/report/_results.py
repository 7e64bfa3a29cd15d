from __future__ import annotations

import fcntl
import re
from pathlib import Path

from modelworks.runs import atomic_write_text

_HEADER = (
    "# Results\n\nEvery number here was measured by the command shown beside it; the run folders hold the raw output.\n"
)


def update_results_section(section: str, markdown: str, path: str | Path = "docs/RESULTS.md") -> Path:
    """Replace (or append) the section ``section`` of docs/RESULTS.md, leaving the others as they are.

    A section is delimited by ``<!-- section:begin -->`` / ``<!-- section:end -->`` markers, so
    each benchmark owns its own part of the file. A lock file keeps concurrent writers apart.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        atomic_write_text(path, text)
    return path


def read_notes(path: str | Path) -> list[str]:
    """The notes of a results section from a markdown file: each ``- `` bullet is one note, and indented lines
    continue it (joined with a space). Text before the first bullet is the file's own header and is skipped; any
    other unindented text, or a file with text but no bullet, is an error, so a note is never merged or dropped
    without notice.

    Benchmarks take ``--notes FILE`` so that the measured results written in prose beside a table (each
    with its own command) are part of the section's one reproducible command line."""
    from modelworks.errors import UserError

    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read notes ({type(e).__name__})") from None
    notes: list[str] = []
    for n, line in enumerate(lines, 1):
        if line.startswith("- "):
            notes.append(line[2:].strip())
        elif not line.strip() or not notes:
            continue
        elif line[0] in " \t":
            notes[-1] += " " + line.strip()
        else:
            raise UserError(f"{path}:{n}: text after the notes that is neither a '- ' bullet nor indented under one")
    if not notes and any(line.strip() for line in lines):
        raise UserError(f"{path}: no '- ' bullet, so no notes")
    return notes
