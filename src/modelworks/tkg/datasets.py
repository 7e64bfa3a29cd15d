"""Temporal KG datasets in the standard extrapolation format (ICEWS14/18/05-15, GDELT, YAGO, WIKI).

A dataset folder holds ``train.txt``, ``valid.txt``, ``test.txt`` (one fact per line:
``subject relation object time [extra columns ignored]``) and the id maps ``entity2id.txt`` /
``relation2id.txt`` (``name <tab> id [extra columns]``). The loader accepts CRLF line ends, blank
lines, zero-padded ids, names with spaces (when the map is tab-separated, or when the id is the last
integer on the line) and split files without the ``.txt`` extension. Every problem is one line that
names the file and the line number.

Facts are kept as an ``(N, 4)`` int64 array ``[subject, relation, object, time]`` per split, in file
order; ``time`` is the dataset's own integer timestamp (hours for ICEWS14, years for YAGO).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from modelworks.errors import UserError

__all__ = ["TKGDataset", "load_tkg", "find_tkg_folder", "read_id_map", "read_facts", "SPLITS"]

SPLITS = ("train", "valid", "test")


def _find(root: Path, stem: str, required: bool = True) -> Path | None:
    for name in (f"{stem}.txt", stem, f"{stem}.tsv"):
        p = root / name
        if p.is_file():
            return p
    if required:
        raise UserError(f"{root}: missing file '{stem}.txt' (a TKG folder needs train/valid/test.txt, "
                        "entity2id.txt and relation2id.txt)")
    return None


def _lines(path: Path):
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for i, raw in enumerate(text.splitlines(), start=1):  # splitlines handles \n, \r\n and \r
        line = raw.strip()
        if line:
            yield i, line


def _as_int(token: str) -> int | None:
    token = token.strip()
    if not token:
        return None
    sign = token[0] in "+-"
    digits = token[1:] if sign else token
    if not digits.isdigit():
        return None
    return int(token)


def read_id_map(path: Path) -> dict[int, str]:
    """``id -> name`` from ``name <tab> id [...]`` (or space-separated with the id last / first integer)."""
    out: dict[int, str] = {}
    for lineno, line in _lines(path):
        if "\t" in line:
            cols = [c.strip() for c in line.split("\t")]
            name, idx = cols[0], _as_int(cols[1]) if len(cols) > 1 else None
            if idx is None and _as_int(cols[0]) is not None and len(cols) > 1:  # "id <tab> name" layout
                name, idx = cols[1], _as_int(cols[0])
        else:
            tokens = line.split()
            idx = _as_int(tokens[-1]) if len(tokens) > 1 else None
            name = " ".join(tokens[:-1])
            if idx is None:  # e.g. "name id start end": the id is the last integer after the name
                ints = [k for k, t in enumerate(tokens) if k > 0 and _as_int(t) is not None]
                if ints:
                    k = ints[0]
                    idx, name = _as_int(tokens[k]), " ".join(tokens[:k])
        if idx is None or not name:
            raise UserError(f"{path}:{lineno}: expected 'name<TAB>id', got {line[:80]!r}")
        if idx < 0:
            raise UserError(f"{path}:{lineno}: negative id {idx}")
        if idx in out:
            raise UserError(f"{path}:{lineno}: id {idx} is listed twice ({out[idx]!r} and {name!r})")
        out[idx] = name
    if not out:
        raise UserError(f"{path}: no entries")
    return out


def read_facts(path: Path, entities: dict[int, str] | None = None, relations: dict[int, str] | None = None) -> np.ndarray:
    """``(N, 4)`` int64 ``[s, r, o, t]`` from a split file; ids are checked against the maps when given."""
    rows: list[tuple[int, int, int, int]] = []
    for lineno, line in _lines(path):
        tokens = line.split()
        if len(tokens) < 4:
            raise UserError(f"{path}:{lineno}: expected 'subject relation object time', got {line[:80]!r}")
        vals = [_as_int(t) for t in tokens[:4]]
        if any(v is None for v in vals):
            bad = next(t for t, v in zip(tokens, vals) if v is None)
            raise UserError(f"{path}:{lineno}: {bad!r} is not an integer id/time")
        s, r, o, t = vals  # type: ignore[misc]
        if entities is not None:
            for what, e in (("subject", s), ("object", o)):
                if e not in entities:
                    raise UserError(f"{path}:{lineno}: {what} id {e} has no name in entity2id.txt")
        if relations is not None and r not in relations:
            raise UserError(f"{path}:{lineno}: relation id {r} has no name in relation2id.txt")
        if s < 0 or o < 0 or r < 0:
            raise UserError(f"{path}:{lineno}: negative id in {line[:80]!r}")
        rows.append((s, r, o, t))
    if not rows:
        raise UserError(f"{path}: no facts")
    return np.asarray(rows, dtype=np.int64)


def _names(idmap: dict[int, str], kind: str) -> list[str]:
    n = max(idmap) + 1
    return [idmap.get(i, f"<{kind} {i}>") for i in range(n)]


@dataclass
class TKGDataset:
    """Entities, relations and the three splits of one temporal KG."""

    name: str
    entities: list[str]
    relations: list[str]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    root: Path | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise UserError(f"unknown split '{name}'; choose from {', '.join(SPLITS)}")
        return getattr(self, name)

    def all_facts(self) -> np.ndarray:
        """train + valid + test in file order (the history source in the single-step setting)."""
        if "all" not in self._cache:
            self._cache["all"] = np.concatenate([self.train, self.valid, self.test])
        return self._cache["all"]

    @property
    def time_step(self) -> int:
        """The granularity of time: the gcd of the gaps between distinct timestamps (24 for ICEWS14)."""
        times = np.unique(self.all_facts()[:, 3])
        if len(times) < 2:
            return 1
        return int(reduce(math.gcd, np.diff(times).tolist())) or 1

    def version(self) -> str:
        """A short description that pins the dataset version in reports."""
        where = f" from {self.root}" if self.root else ""
        return (f"{self.name}{where}: {self.num_entities} entities, {self.num_relations} relations, "
                f"{len(self.train)}/{len(self.valid)}/{len(self.test)} facts")

    def statistics(self) -> dict[str, Any]:
        allf = self.all_facts()
        stats: dict[str, Any] = {
            "name": self.name,
            "entities": self.num_entities,
            "entities_used": int(len(np.unique(np.concatenate([allf[:, 0], allf[:, 2]])))),
            "relations": self.num_relations,
            "time_step": self.time_step,
        }
        for split in SPLITS:
            f = self.split(split)
            times = np.unique(f[:, 3])
            stats[split] = {
                "facts": int(len(f)),
                "timestamps": int(len(times)),
                "time_min": int(times.min()),
                "time_max": int(times.max()),
                "queries_both_directions": int(2 * len(f)),
            }
        return stats


def find_tkg_folder(spec: str | Path, data_dir: str | Path | None = None, what: str = "TKG data folder") -> Path:
    """``spec`` itself when it is a folder, else ``<data root>/tkg/<spec>``; a missing ``data_dir`` (or
    ``MODELWORKS_DATA``) or dataset is a one-line :class:`UserError` starting with ``what``."""
    from modelworks.paths import find_data_root

    root = find_data_root(data_dir)
    if Path(spec).is_dir():
        return Path(spec)
    cand = root / "tkg" / str(spec) if root else None
    if cand is None or not cand.is_dir():
        raise UserError(f"{what} not found: {spec} (a folder with train/valid/test.txt, or a dataset name under "
                        "<data root>/tkg/; set --data-dir or MODELWORKS_DATA)")
    return cand


def load_tkg(path: str | Path, name: str | None = None) -> TKGDataset:
    """Load a dataset folder; errors name the file and line."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"TKG data folder not found: {root}")
    ent_path, rel_path = _find(root, "entity2id"), _find(root, "relation2id")
    assert ent_path is not None and rel_path is not None
    entities, relations = read_id_map(ent_path), read_id_map(rel_path)
    splits = {}
    for split in SPLITS:
        p = _find(root, split)
        assert p is not None
        splits[split] = read_facts(p, entities, relations)
    return TKGDataset(
        name=name or root.name,
        entities=_names(entities, "entity"),
        relations=_names(relations, "relation"),
        root=root,
        **splits,
    )
