"""Training data: JSONL records -> token ids with prompt-masked labels -> padded batches.

Record formats (``data_format``):

- ``text``: ``{"text": "..."}`` -> every token is a target;
- ``chat``: ``{"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}`` -> only the
  assistant turns are targets (the tokenizer's chat template renders the conversation);
- ``instruction``: ``{"prompt": "...", "response": "..."}`` -> only the response (and EOS) are targets.

The field names are configurable. A tokenized example is ``{"input_ids": [...], "labels": [...]}`` with
``-100`` on tokens that carry no loss. :func:`collate` pads a list of examples (right padding) into the
batch every model sees::

    {"input_ids": LongTensor[B, T], "attention_mask": LongTensor[B, T], "labels": LongTensor[B, T]}

``labels`` is ``-100`` on prompt and padding tokens and is *not* shifted (the loss shifts). Examples may
also be dicts of tokenized examples (``{"forget": {...}, "retain": {...}}``); they are collated part by
part, so a custom loss receives ``batch["forget"]["input_ids"]`` etc.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.jsonl import read_jsonl

__all__ = [
    "IGNORE_INDEX",
    "read_records",
    "check_record",
    "builtin_records",
    "write_jsonl",
    "tokenize_record",
    "tokenize_records",
    "pack_examples",
    "collate",
    "record_texts",
    "BatchPlan",
]

IGNORE_INDEX = -100
BUILTINS = ("text", "chat", "instruction")
_NAMES = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo"]
_THINGS = ["apples", "books", "coins", "drums", "eggs", "figs", "gems", "hats"]


def builtin_records(kind: str, n: int = 256, seed: int = 0) -> list[dict[str, Any]]:
    """Small seeded synthetic sets: arithmetic sentences (text), Q&A chats (chat), instructions."""
    if kind not in BUILTINS:
        raise UserError(f"unknown builtin data 'builtin:{kind}'; choose from {', '.join(BUILTINS)}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(1, 49), rng.randint(1, 49)
        who, what = rng.choice(_NAMES), rng.choice(_THINGS)
        if kind == "text":
            out.append({"text": f"{who} has {a} {what} and finds {b} more, so {who} has {a + b} {what}."})
        elif kind == "chat":
            out.append({"messages": [
                {"role": "system", "content": "You are a careful counting assistant."},
                {"role": "user", "content": f"{who} has {a} {what} and gets {b} more. How many now?"},
                {"role": "assistant", "content": f"{who} has {a + b} {what}."},
            ]})
        else:
            out.append({"prompt": f"Add {a} and {b}.\nAnswer: ", "response": f"{a + b}"})
    return out


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    from modelworks.runs import atomic_write_text

    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return atomic_write_text(path, text)


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    repo = Path(__file__).resolve().parents[3]  # a repo-relative path such as configs/train/data/x.jsonl
    return repo / p if (repo / p).exists() else p


def read_records(paths: Sequence[str], cfg=None) -> list[dict[str, Any]]:
    """Records from JSONL files (or ``builtin:<kind>``), with one-line errors naming file and line.

    With ``cfg`` (a :class:`~modelworks.train.TrainConfig`) each record must also hold the fields of
    ``cfg.data_format`` with the right types (:func:`check_record`), reported as ``<file>:<line>``.
    """
    records: list[dict[str, Any]] = []
    for spec in paths:
        if spec.startswith("builtin:"):
            records.extend(builtin_records(spec.split(":", 1)[1]))
            continue
        for where, rec in read_jsonl(_resolve(spec), "training data file"):
            if cfg is not None and not _is_tokenized(rec):  # tokenized examples pass through as before
                check_record(rec, cfg, where)
            records.append(rec)
    return records


def _field(rec: dict[str, Any], name: str, where: str) -> Any:
    if name not in rec:
        raise UserError(f"{where}: record has no field '{name}' (fields: {', '.join(rec) or 'none'})")
    return rec[name]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _text(rec: dict[str, Any], name: str, where: str) -> str:
    """Field ``name`` of ``rec``, which must be a string (not null, a number or a list)."""
    value = _field(rec, name, where)
    if not isinstance(value, str):
        raise UserError(f"{where}: field '{name}' must be a string, got {_json_type(value)}")
    return value


def _messages(rec: dict[str, Any], name: str, where: str) -> list[dict[str, Any]]:
    """Field ``name`` of ``rec``: a non-empty list of ``{role, content}`` objects with string values."""
    messages = _field(rec, name, where)
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{where}: field '{name}' must be a non-empty list of {{role, content}} objects, "
                        f"got {_json_type(messages) if messages != [] else 'an empty list'}")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise UserError(f"{where}: field '{name}[{i}]' must be a {{role, content}} object, got {_json_type(msg)}")
        if not isinstance(msg.get("role"), str):
            got = _json_type(msg["role"]) if "role" in msg else "nothing"
            raise UserError(f"{where}: field '{name}[{i}].role' must be a string, got {got}")
        if not isinstance(msg.get("content"), (str, list)):  # a list: HF's content parts, for the chat template
            got = _json_type(msg["content"]) if "content" in msg else "nothing"
            raise UserError(f"{where}: field '{name}[{i}].content' must be a string or a list of parts, got {got}")
    return messages


def check_record(rec: dict[str, Any], cfg, where: str) -> None:
    """A :class:`UserError` naming ``where`` and the field unless ``rec`` fits ``cfg.data_format``."""
    if cfg.data_format == "text":
        _text(rec, cfg.text_field, where)
    elif cfg.data_format == "instruction":
        _text(rec, cfg.prompt_field, where)
        _text(rec, cfg.response_field, where)
    else:
        _messages(rec, cfg.messages_field, where)


def record_texts(records: Iterable[dict[str, Any]], cfg) -> list[str]:
    """Plain text of each record (used to train a tiny model's tokenizer)."""
    texts = []
    for rec in records:
        if cfg.data_format == "text":
            texts.append(str(rec.get(cfg.text_field, "")))
        elif cfg.data_format == "chat":
            texts.extend(_text_of(m.get("content", "")) for m in rec.get(cfg.messages_field, []))
        else:
            texts.append(f"{rec.get(cfg.prompt_field, '')}{rec.get(cfg.response_field, '')}")
    return texts


def _text_of(content: str | list) -> str:
    """A message's text: the string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")


def _render_chat(tokenizer, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    eos = tokenizer.eos_token or ""
    text = "".join(f"<|{m['role']}|>{_text_of(m['content'])}{eos}\n" for m in messages)
    return text + ("<|assistant|>" if add_generation_prompt else "")


def _tokenize_chat(tokenizer, messages: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
    spans = []  # character spans of assistant replies in the rendered conversation
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        start = len(_render_chat(tokenizer, messages[:i], add_generation_prompt=True))
        end = len(_render_chat(tokenizer, messages[: i + 1], add_generation_prompt=False))
        spans.append((start, end))
    text = _render_chat(tokenizer, messages, add_generation_prompt=False)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [
        tok if any(s <= a < e for s, e in spans) else IGNORE_INDEX
        for tok, (a, _b) in zip(ids, enc["offset_mapping"])
    ]
    return ids, labels


def tokenize_record(rec: dict[str, Any], tokenizer, cfg, where: str = "data") -> dict[str, list[int]]:
    """One record -> ``{"input_ids", "labels"}`` (labels -100 on prompt tokens), truncated to max_len."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    if cfg.data_format == "text":
        ids = bos + tokenizer(_text(rec, cfg.text_field, where), add_special_tokens=False)["input_ids"] + eos
        labels = list(ids)
    elif cfg.data_format == "instruction":
        prompt = bos + tokenizer(_text(rec, cfg.prompt_field, where), add_special_tokens=False)["input_ids"]
        reply = tokenizer(_text(rec, cfg.response_field, where), add_special_tokens=False)["input_ids"] + eos
        ids = prompt + reply
        labels = [IGNORE_INDEX] * len(prompt) + reply
    else:
        ids, labels = _tokenize_chat(tokenizer, _messages(rec, cfg.messages_field, where))
    if not cfg.packing:
        ids, labels = ids[: cfg.max_len], labels[: cfg.max_len]
    return {"input_ids": ids, "labels": labels}


def pack_examples(examples: list[dict[str, list[int]]], max_len: int) -> list[dict[str, list[int]]]:
    """Concatenate examples (each already ends with EOS) and cut into rows of exactly ``max_len`` tokens."""
    ids: list[int] = []
    labels: list[int] = []
    for ex in examples:
        ids.extend(ex["input_ids"])
        labels.extend(ex["labels"])
    n = len(ids) // max_len
    return [{"input_ids": ids[i * max_len:(i + 1) * max_len], "labels": labels[i * max_len:(i + 1) * max_len]}
            for i in range(n)]


def _is_tokenized(item: Any) -> bool:
    return isinstance(item, dict) and "input_ids" in item


def tokenize_records(items: Sequence[Any], tokenizer, cfg, where: str = "data") -> list[Any]:
    """Raw records are tokenized (and packed); already-tokenized examples (or dicts of them) pass through."""
    if not items:
        return []
    first = items[0]
    nested = isinstance(first, dict) and first and all(_is_tokenized(v) for v in first.values())
    if _is_tokenized(first) or nested:
        return list(items)
    examples = [tokenize_record(r, tokenizer, cfg, f"{where} record {i + 1}") for i, r in enumerate(items)]
    if cfg.packing:
        examples = pack_examples(examples, cfg.max_len)
        if not examples:
            raise UserError(f"{where}: fewer than max_len={cfg.max_len} tokens in all; nothing to pack")
    return examples


def collate(examples: Sequence[Any], pad_token_id: int = 0):
    """Pad a list of tokenized examples (right padding) into tensors; nested dicts are collated per key."""
    import torch

    first = examples[0]
    if _is_tokenized(first):
        width = max(len(e["input_ids"]) for e in examples)
        n = len(examples)
        ids = torch.full((n, width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        for i, e in enumerate(examples):
            k = len(e["input_ids"])
            ids[i, :k] = torch.as_tensor(e["input_ids"], dtype=torch.long)
            mask[i, :k] = 1 if "attention_mask" not in e else torch.as_tensor(e["attention_mask"], dtype=torch.long)
            lab = e.get("labels", e["input_ids"])
            labels[i, :k] = torch.as_tensor(lab, dtype=torch.long)
        batch: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        for key in first:
            if key not in batch:
                batch[key] = _stack([e[key] for e in examples])
        return batch
    if isinstance(first, dict):
        return {k: collate([e[k] for e in examples], pad_token_id) if isinstance(first[k], dict)
                else _stack([e[k] for e in examples]) for k in first}
    raise UserError("a training example must be a dict with input_ids (or a dict of such dicts)")


def _stack(values: list[Any]):
    import torch

    try:
        return torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError):
        return values


class BatchPlan:
    """Which examples each rank gets at (epoch, batch): seeded shuffle per epoch, global batch split by rank.

    A global batch is ``batch_size * dp_size`` examples; rank ``r`` takes the ``r``-th contiguous slice, so
    a single process with ``batch_size * dp_size`` sees exactly the same examples per step. The position
    (epoch, batch) is all a checkpoint needs to resume the data stream.
    """

    def __init__(self, n: int, batch_size: int, dp_size: int = 1, dp_rank: int = 0, seed: int = 0,
                 shuffle: bool = True) -> None:
        self.n, self.batch_size, self.dp_size, self.dp_rank = n, batch_size, dp_size, dp_rank
        self.seed, self.shuffle = seed, shuffle
        self.global_batch = batch_size * dp_size
        if n < self.global_batch:
            raise UserError(f"only {n} training examples for a global batch of {self.global_batch} "
                            f"(batch_size={batch_size} x {dp_size} data-parallel ranks); add data or lower batch_size")
        self.batches_per_epoch = n // self.global_batch
        self._order: tuple[int, list[int]] | None = None

    def order(self, epoch: int) -> list[int]:
        if self._order is None or self._order[0] != epoch:
            import torch

            if self.shuffle:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                perm = torch.randperm(self.n, generator=g).tolist()
            else:
                perm = list(range(self.n))
            self._order = (epoch, perm)
        return self._order[1]

    def indices(self, epoch: int, batch: int) -> list[int]:
        start = batch * self.global_batch + self.dp_rank * self.batch_size
        return self.order(epoch)[start:start + self.batch_size]
