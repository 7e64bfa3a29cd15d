"""Role cards: the troubled persona the role agent plays (ESC-Eval ``card_high_{en,zh}.json``).

A card file is a JSON list of objects with the keys ``base`` (the card text: Age / Gender /
Occupation / Problem lines), ``base_biaozhu`` (its Chinese text), ``res`` (category), ``source``,
``language`` ("english" | "chinese") and ``id`` (int, unique). A JSONL file with the same objects
works too. Every problem is reported as one line naming the file, the record and the field.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelworks.errors import UserError

__all__ = ["RoleCard", "load_cards", "filter_cards", "CATEGORIES", "LANGUAGES", "language_code"]

REQUIRED = ("base", "res", "source", "language", "id")
LANGUAGES = {"english": "en", "chinese": "zh"}
CATEGORIES = {"家庭生活": "family & life", "工作学习": "work & study", "社会与其他": "society & other"}


@dataclass(frozen=True)
class RoleCard:
    id: int
    text: str          # ``base``: the card the role agent is given
    text_zh: str       # ``base_biaozhu``
    category: str      # ``res``
    source: str
    language: str      # "english" | "chinese"

    @property
    def lang(self) -> str:
        """Two-letter code: en | zh."""
        return LANGUAGES[self.language]

    def to_record(self) -> dict:
        return {"base": self.text, "res": self.category, "source": self.source,
                "base_biaozhu": self.text_zh, "language": self.language, "id": self.id}


def language_code(value: str) -> str:
    """'en' / 'english' -> 'en'; 'zh' / 'chinese' -> 'zh'."""
    v = value.strip().lower()
    for full, code in LANGUAGES.items():
        if v in (full, code):
            return code
    raise UserError(f"unknown language '{value}'; use en/english or zh/chinese")


def _card(record: object, where: str) -> RoleCard:
    if not isinstance(record, dict):
        raise UserError(f"{where}: a role card must be a JSON object, got {type(record).__name__}")
    for key in REQUIRED:
        if key not in record:
            raise UserError(f"{where}: missing field '{key}' (a role card needs {', '.join(REQUIRED)})")
    for key in ("base", "res", "source", "language"):
        if not isinstance(record[key], str) or not record[key].strip():
            raise UserError(f"{where}: field '{key}' must be a non-empty string")
    if record["language"] not in LANGUAGES:
        raise UserError(f"{where}: field 'language' is {record['language']!r}; expected 'english' or 'chinese'")
    cid = record["id"]
    if isinstance(cid, bool) or not isinstance(cid, int):
        if isinstance(cid, str) and cid.strip().isdigit():
            cid = int(cid)
        else:
            raise UserError(f"{where}: field 'id' must be an integer, got {cid!r}")
    zh = record.get("base_biaozhu", record["base"])
    if not isinstance(zh, str):
        raise UserError(f"{where}: field 'base_biaozhu' must be a string")
    return RoleCard(id=cid, text=record["base"], text_zh=zh, category=record["res"],
                    source=record["source"], language=record["language"])


def load_cards(path: str | Path) -> list[RoleCard]:
    """Read and validate a role-card file (JSON list or JSONL); ids must be unique."""
    from modelworks.jsonl import read_text

    p = Path(path)
    text = read_text(p, "role-card file")
    records: list[tuple[object, str]] = []
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        records = [(r, f"{p} card {i}") for i, r in enumerate(data)]
    elif p.suffix.lower() == ".json":  # a .json file is one JSON document: the role cards as a list
        raise UserError(f"{p}: a .json role-card file must hold a JSON list of cards (one card per line: use .jsonl)")
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append((json.loads(line), f"{p} line {n}"))
                except json.JSONDecodeError as exc:
                    raise UserError(f"{p} line {n}: not valid JSON ({exc.msg})") from None
    if not records:
        raise UserError(f"{p}: no role cards (expected a JSON list of card objects)")
    cards, seen = [], {}
    for record, where in records:
        card = _card(record, where)
        if card.id in seen:
            raise UserError(f"{where}: duplicate card id {card.id} (first at {seen[card.id]})")
        seen[card.id] = where
        cards.append(card)
    return cards


def filter_cards(
    cards: Sequence[RoleCard],
    source: Sequence[str] | None = None,
    category: Sequence[str] | None = None,
    language: str | None = None,
    n: int | None = None,
    seed: int = 0,
) -> list[RoleCard]:
    """Keep cards matching every given filter; then a seeded sample of ``n`` (order kept).

    ``category`` accepts the Chinese ``res`` value or its English gloss ("work & study").
    Sources are compared case-insensitively.
    """
    out = list(cards)
    if source:
        wanted = {s.lower() for s in source}
        out = [c for c in out if c.source.lower() in wanted]
    if category:
        gloss = {v: k for k, v in CATEGORIES.items()}
        wanted_cat = {gloss.get(c, c) for c in category}
        unknown = wanted_cat - set(CATEGORIES)
        if unknown:
            raise UserError(f"unknown card category '{sorted(unknown)[0]}'; choose from "
                            + ", ".join(f"{k} ({v})" for k, v in CATEGORIES.items()))
        out = [c for c in out if c.category in wanted_cat]
    if language:
        code = language_code(language)
        out = [c for c in out if c.lang == code]
    if n is not None:
        if n < 1:
            raise UserError(f"sample size must be >= 1, got {n}")
        if n < len(out):
            keep = set(random.Random(seed).sample(range(len(out)), n))
            out = [c for i, c in enumerate(out) if i in keep]
    return out
