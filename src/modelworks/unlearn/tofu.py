"""TOFU data: a local directory in TOFU's format, the ``locuslab/TOFU`` hub dataset, or our generator.

TOFU (Maini et al. 2024) is 200 fictitious authors x 20 QA pairs (``full``), forget sets made of the
last 1/5/10 % of the authors (``forget01/05/10``), their complements (``retain99/95/90``), eval files
with paraphrased and perturbed answers (``forgetXX_perturbed``, ``retain_perturbed``), and two
real-knowledge sets (``real_authors_perturbed``, ``world_facts_perturbed``). A split is a list of
dicts; files are JSON arrays (or JSON lines), exactly as ``datasets`` exports them.

``source`` is one of: a directory path; ``locuslab/TOFU`` (needs ``datasets`` and a network);
``generated`` (see :mod:`modelworks.unlearn.tofu_generator`, written to a directory first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.jsonl import shown

__all__ = [
    "HUB_ID",
    "split_keys",
    "load_split",
    "load_idk",
    "forget_eval_split",
    "retain_split_for",
    "check_forget_split",
]

HUB_ID = "locuslab/TOFU"

_PERTURBED_KEYS = ("question", "answer", "paraphrased_answer", "perturbed_answer")
_REAL_KEYS = ("question", "answer", "perturbed_answer")


def split_keys(split: str) -> tuple[str, ...]:
    """The keys every row of ``split`` must have."""
    if split in ("real_authors_perturbed", "world_facts_perturbed"):
        return _REAL_KEYS
    if split.endswith("_perturbed"):
        return _PERTURBED_KEYS
    if split in ("real_authors", "world_facts"):
        return ("question", "option1", "option2", "option3", "option4", "answer")
    return ("question", "answer")


def forget_eval_split(forget_split: str) -> str:
    """``forget10`` -> ``forget10_perturbed``."""
    return forget_split if forget_split.endswith("_perturbed") else f"{forget_split}_perturbed"


def retain_split_for(forget_split: str) -> str:
    """``forget10`` -> ``retain90`` (the training set of the matching retain model)."""
    name = forget_split.removesuffix("_perturbed")
    if not name.startswith("forget") or not name[6:].isdigit():
        raise UserError(f"forget split '{forget_split}' must look like forgetNN (e.g. forget10)")
    return f"retain{100 - int(name[6:]):02d}"


def _read_rows(path: Path) -> list[dict[str, Any]]:
    from modelworks.jsonl import read_text

    text = read_text(path, "TOFU split")
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON / JSON lines (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(rows, list):
        raise UserError(f"{path}: expected a JSON array of rows")
    return rows


def _check(rows: list[Any], split: str, where: str) -> list[dict[str, Any]]:
    keys = split_keys(split)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"{where}: row {i} is not an object")
        missing = [k for k in keys if k not in row]
        if missing:
            raise UserError(f"{where}: row {i} lacks key '{missing[0]}' (a {split} row needs {', '.join(keys)})")
        for key in (*keys, "paraphrased_answer", "paraphrased_question"):
            if key in row and key != "perturbed_answer" and not isinstance(row[key], str):
                raise UserError(f"{where}: row {i} key '{key}' must be a string, got {shown(row[key])}")
        pert = row.get("perturbed_answer")
        if "perturbed_answer" in keys and not (isinstance(pert, list) and pert and all(isinstance(a, str) for a in pert)):
            raise UserError(f"{where}: row {i} key 'perturbed_answer' must be a non-empty list of strings")
    return rows


def load_split(source: str | Path, split: str) -> list[dict[str, Any]]:
    """Rows of one TOFU split from a local directory (``<dir>/<split>.json``) or ``locuslab/TOFU``."""
    if str(source) == HUB_ID:
        return _check(_load_hub(split), split, f"{HUB_ID}:{split}")
    root = Path(source)
    if not root.is_dir():
        raise UserError(f"TOFU data directory not found: {root}")
    for name in (f"{split}.json", f"{split}.jsonl"):
        if (root / name).is_file():
            return _check(_read_rows(root / name), split, str(root / name))
    raise UserError(f"TOFU split file not found: {root / (split + '.json')}")


def _load_hub(split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a base dependency
        raise UserError("loading locuslab/TOFU needs the package 'datasets' (pip install datasets)") from None
    try:
        ds = datasets.load_dataset(HUB_ID, split)["train"]
    except Exception as exc:  # network, offline mode, unknown config: all one line for the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(
            f"could not load {HUB_ID}/{split} from the Hugging Face hub ({first}); "
            "download it on a connected machine and pass the local directory instead"
        ) from None
    return [dict(r) for r in ds]


def load_idk(source: str | Path) -> list[str]:
    """The refusal strings of ``idontknow.jsonl`` (one plain-text line each)."""
    p = Path(source) / "idontknow.jsonl" if Path(source).is_dir() else Path(source)
    from modelworks.jsonl import read_text

    lines = [ln.strip() for ln in read_text(p, "'I don't know' answers").splitlines() if ln.strip()]
    if not lines:
        raise UserError(f"{p}: no 'I don't know' answers in the file")
    return lines


def check_forget_split(rows: list[dict[str, Any]], where: str) -> None:
    if not rows:
        raise UserError(f"{where}: the forget set is empty; nothing to unlearn")
