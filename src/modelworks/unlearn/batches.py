"""Unlearning examples and batches: each forget item paired with a method target and a retain item.

An example is ``{"forget": (q, a), "target": (q, t) | None, "retain": (q, a)}``. MEOW gets one
example per selected inverted answer; IdK/DPO one per forget row with a random "I don't know"
answer; the retain item is a random retain row (open-unlearning's ForgetRetainDataset pairing).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from modelworks.errors import UserError
from modelworks.unlearn.qa import QATemplate, collate, encode_qa

__all__ = ["build_examples", "batch_stream"]


def build_examples(forget: Sequence[dict[str, Any]], retain: Sequence[dict[str, Any]], target: str | None,
                   inverted: Sequence[Sequence[str]] | None = None, idk: Sequence[str] | None = None,
                   seed: int = 0) -> list[dict[str, Any]]:
    if not forget:
        raise UserError("the forget set is empty; nothing to unlearn")
    rng = random.Random(seed)
    out = []
    for i, row in enumerate(forget):
        pair = (row["question"], row["answer"])
        if target == "inverted":
            if inverted is None or i >= len(inverted):
                raise UserError("MEOW needs inverted answers for every forget row (see invert.source)")
            targets = [(row["question"], t) for t in inverted[i]] or [None]
        elif target == "idk":
            if not idk:
                raise UserError("this method needs 'I don't know' answers (idontknow.jsonl)")
            targets = [(row["question"], rng.choice(idk))]
        else:
            targets = [None]
        for t in targets:
            r = rng.choice(retain) if retain else row
            out.append({"forget": pair, "target": t, "retain": (r["question"], r["answer"])})
    return out


def batch_stream(examples: list[dict[str, Any]], tokenizer, template: QATemplate, batch_size: int,
                 max_length: int = 200, seed: int = 0, device: str = "cpu") -> Iterator[dict[str, Any]]:
    """Endless shuffled batches of collated ``forget``/``target``/``retain`` parts."""
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        if len(order) < batch_size:
            more = list(range(len(examples)))
            rng.shuffle(more)
            order.extend(more)
        take, order = order[:batch_size], order[batch_size:]
        batch: dict[str, Any] = {}
        for part in ("forget", "target", "retain"):
            pairs = [examples[i][part] for i in take]
            if any(p is None for p in pairs):
                batch[part] = None
                continue
            items = [encode_qa(tokenizer, template, q, a, max_length) for q, a in pairs]
            batch[part] = {k: v.to(device) for k, v in collate(items, tokenizer.pad_token_id).items()}
        yield batch
