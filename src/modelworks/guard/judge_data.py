"""The safety judge's data: HarmBench-style items, the human-majority label, the only fields a judge
may read, and the split that keeps each behaviour on one side."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.jsonl import line_number, read_jsonl

__all__ = ["human_label", "read_harm_items", "judge_parts", "judge_inputs", "behaviour_key", "split_by_behaviour"]


def _binary(value: Any, field: str) -> int:
    if isinstance(value, bool) or value not in (0, 1, "0", "1"):
        raise UserError(f"field '{field}' must be 0 or 1, got {value!r}")
    return int(value)


def human_label(item: dict[str, Any]) -> int | None:
    """The human majority (0 = not harmful, 1 = harmful): ``human_majority``, else the vote of
    ``human_0..2``, else ``label``; raises :class:`UserError` for a value that is not 0/1."""
    if item.get("human_majority") is not None:
        return _binary(item["human_majority"], "human_majority")
    votes = [item.get(f"human_{k}") for k in range(3)]
    if all(v is not None for v in votes):
        return int(sum(_binary(v, f"human_{k}") for k, v in enumerate(votes)) >= 2)
    if item.get("label") is not None:
        return _binary(item["label"], "label")
    return None


def read_harm_items(path: str | Path, need_labels: bool = True) -> list[dict[str, Any]]:
    out = []
    for where, obj in read_jsonl(path, "judge data"):
        n = line_number(where)
        if obj.get("generation") is None:
            raise UserError(f"{where}: missing field 'generation'")
        if not (obj.get("behavior") or obj.get("test_case")):
            raise UserError(f"{where}: needs 'behavior' or 'test_case'")
        try:
            label = human_label(obj)
        except UserError as e:
            raise UserError(f"{where}: {e}") from None
        if need_labels and label is None:
            raise UserError(f"{where}: no human label (human_majority, human_0..2 or label)")
        out.append({**obj, "_label": label, "_line": n})
    if not out:
        raise UserError(f"{path}: no items")
    return out


def judge_parts(item: dict[str, Any]) -> tuple[str, str, str]:
    """(behaviour, context, generation): the only fields a judge may read (plus the attack prompt when
    there is no behaviour text)."""
    behaviour = item.get("behavior")
    if not behaviour:
        tc = item.get("test_case")
        behaviour = tc[-1] if isinstance(tc, list) else str(tc)
    context = item.get("context_string") or item.get("behavior_image_description") or ""
    return str(behaviour), str(context), str(item.get("generation") or "")


def judge_inputs(item: dict[str, Any]) -> tuple[str, str]:
    """(behaviour side, generation side): only behaviour, context, attack prompt and generation."""
    behaviour, context, generation = judge_parts(item)
    first = f"{behaviour} Context: {context}" if context else behaviour
    return first, generation


def behaviour_key(it: dict[str, Any]) -> str:
    """The behaviour an item belongs to (its ``behavior_id``, else its behaviour text, else its id)."""
    return str(it.get("behavior_id") or it.get("behavior") or it.get("id"))


def split_by_behaviour(items: list[dict[str, Any]], holdout: float, seed: int = 0):
    """(train, held-out): whole behaviours on one side, ``random.Random(seed)`` over sorted ids."""
    ids = sorted({behaviour_key(it) for it in items})
    random.Random(seed).shuffle(ids)
    train_ids = set(ids[:round((1 - holdout) * len(ids))])
    return [it for it in items if behaviour_key(it) in train_ids], [it for it in items if behaviour_key(it) not in train_ids]
