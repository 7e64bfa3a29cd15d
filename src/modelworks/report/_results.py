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
