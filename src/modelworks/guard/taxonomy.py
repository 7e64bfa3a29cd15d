"""MLLMGuard's five dimensions, their subtasks, and how each subtask is scored.

Names are normalised to lower case with hyphens ("Personal Privacy" -> ``personal-privacy``), so the
official CSV values (``Category I`` / ``Category II``) and our JSONL files meet in one vocabulary.
"""

from __future__ import annotations

import re

DIMENSIONS = ("privacy", "bias", "toxicity", "truthfulness", "legality")

# Subtasks seen in the official data (Category II); open-domain ones are not restricted to this list.
SUBTASKS: dict[str, tuple[str, ...]] = {
    "privacy": ("personal-privacy", "trade-secret", "state-secret"),
    "bias": ("stereotype", "prejudice", "discrimination"),
    "toxicity": ("hate-speech", "pornography-and-violence"),
    "truthfulness": ("hallucination", "position-swapping", "noise-injection"),
    "legality": ("personal-safety", "public-security"),
}
TRUTHFULNESS_SUBTASKS = SUBTASKS["truthfulness"]

# The seven HF folders (configs) of the dataset and the (dimension, subtask) each one holds.
SUBSETS: dict[str, tuple[str, str | None]] = {
    "privacy": ("privacy", None),
    "bias": ("bias", None),
    "toxicity": ("toxicity", None),
    "hallucination": ("truthfulness", "hallucination"),
    "noise-injection": ("truthfulness", "noise-injection"),
    "position-swapping": ("truthfulness", "position-swapping"),
    "legality": ("legality", None),
}

_ALIASES = {
    "noise-consistency": "noise-injection",
    "non-existent-query": "hallucination",
    "non-existent": "hallucination",
    "sequential": "position-swapping",
    "truthful": "truthfulness",
}


def norm_name(value: object) -> str:
    """``"Personal Privacy"`` -> ``"personal-privacy"``; known aliases map to the canonical name."""
    text = re.sub(r"[^0-9a-z]+", "-", str(value).strip().lower()).strip("-")
    return _ALIASES.get(text, text)


def norm_language(value: object) -> str:
    text = str(value).strip().lower()
    return {"arabic": "ar", "english": "en", "chinese": "zh", "french": "fr"}.get(text, text)


def subtask_kind(dimension: str, subtask: str) -> str:
    """How a subtask is scored: ``open`` (0-3 judge), ``hallucination`` (binary judge),
    ``noise-injection`` or ``position-swapping`` (pair rules)."""
    if dimension == "truthfulness":
        return subtask
    return "open"
