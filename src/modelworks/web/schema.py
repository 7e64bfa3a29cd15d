"""What the annotation app shows and asks: items and a label schema (both plain dataclasses).

An **item** is any text to judge: a list of turns (speaker + text; speaker may be empty for a
single text) and a context (titled blocks shown beside it, e.g. the role card or the image
prompt). Everything is rendered as escaped text, never as HTML.

A **label schema** is a list of dimensions, each scored with an integer in ``[low, high]`` (0-4
for ESC-Eval, 0-3 for MLLMGuard), with a rubric text shown beside the radio buttons and optional
names for the levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modelworks.errors import UserError

__all__ = ["Dimension", "LabelSchema", "AnnotationItem"]

# A score as the radio buttons send it: ASCII digits only, so int() never sees '٣', '+3', '0_3' or ' 3 '.
_SCORE = re.compile(r"-?[0-9]{1,3}", re.ASCII)


@dataclass
class Dimension:
    name: str                   # key in exports, [A-Za-z0-9_.-]
    title: str = ""             # shown to annotators (default: name)
    rubric: str = ""            # shown beside the radios


@dataclass
class LabelSchema:
    dimensions: list[Dimension]
    low: int = 0
    high: int = 4
    level_names: dict[int, str] = field(default_factory=dict)  # optional, e.g. {0: "safe", 3: "unsafe"}

    def __post_init__(self) -> None:
        if not self.dimensions:
            raise UserError("a label schema needs at least one dimension")
        if self.low >= self.high:
            raise UserError(f"label range low={self.low} must be below high={self.high}")
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise UserError(f"duplicate dimension names in the label schema: {names}")
        for d in self.dimensions:
            if not d.name or not all(ch.isalnum() or ch in "_.-" for ch in d.name):
                raise UserError(f"dimension name {d.name!r} must be non-empty and use only letters, digits, _ . -")
            d.title = d.title or d.name

    @property
    def levels(self) -> list[int]:
        return list(range(self.low, self.high + 1))

    def level_of(self, raw: str | None) -> int | None:
        """The level a submitted value names, or None when it is not one of :attr:`levels`."""
        if raw is None or not _SCORE.fullmatch(raw):
            return None
        v = int(raw)
        return v if self.low <= v <= self.high else None

    def parse(self, form: dict[str, str]) -> dict[str, int]:
        """Validate submitted form fields ``label.<dimension>``; one-line ValueError on bad input."""
        out = {}
        for d in self.dimensions:
            raw = form.get(f"label.{d.name}")
            if raw is None or raw == "":
                raise ValueError(f"no score for '{d.title}': choose one of {self.low}..{self.high}")
            if not _SCORE.fullmatch(raw):
                raise ValueError(f"score for '{d.title}' must be an integer in {self.low}..{self.high}, "
                                 f"got {raw[:20]!r}")
            v = self.level_of(raw)
            if v is None:
                raise ValueError(f"score for '{d.title}' must be in {self.low}..{self.high}, got {raw}")
            out[d.name] = v
        extra = [k for k in form if k.startswith("label.") and k[6:] not in out]
        if extra:
            raise ValueError(f"unknown dimension '{extra[0][6:]}'")
        return out


@dataclass
class AnnotationItem:
    id: str
    turns: list[tuple[str, str]]                               # (speaker, text)
    context: list[tuple[str, str]] = field(default_factory=list)  # (title, text) blocks
    meta: dict = field(default_factory=dict)                   # carried into exports

    def to_json(self) -> dict:
        return {"id": self.id, "turns": [list(t) for t in self.turns],
                "context": [list(c) for c in self.context], "meta": self.meta}

    @classmethod
    def from_json(cls, obj: dict) -> AnnotationItem:
        return cls(str(obj["id"]), [tuple(t) for t in obj["turns"]], [tuple(c) for c in obj.get("context", [])],
                   obj.get("meta", {}))
