"""Prompts from history chains (text and text+index), and instruction JSONL for `modelworks train`.

A history line is ``{time}: [{subject}, {relation}, {object}]`` and the query line
``{time}: [{subject}, {relation}, `` (the same slots as CoH, App. A.1; the wording around them is
ours). The text+index variant prefixes each answer-slot entity with a per-prompt label given in order
of first appearance (``0.Romania``); the expected output is then ``0.Romania``, or the bare name when the
answer is not in the history.

Inverse facts follow the reverse-knowledge style: ``ordinary`` writes ``[o, r, s]``, ``text-aware``
``[o, reverse r, s]``, ``position-aware`` keeps ``[s, r, o]`` and asks ``[ , r, o]``.

A user can pass their own template (e.g. the paper's official text) as a file with the slots
``{history}`` and ``{query}``; it is used verbatim.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from modelworks.config import check_numbers
from modelworks.errors import ConfigError, UserError
from modelworks.tkg.datasets import TKGDataset
from modelworks.tkg.history import REVERSE_STYLES, FactTable, chain, walk
from modelworks.tkg.metrics import Query

__all__ = ["PromptConfig", "Prompt", "build_prompt", "iter_prompts", "export_jsonl", "DEFAULT_TEMPLATE"]

STYLES = ("text", "text+index")
SPLITS = ("train", "valid", "test")

DEFAULT_TEMPLATE = (
    "Each line below is an event that happened before the query, oldest first, written as "
    "time: [subject, relation, object]. Fill in the entity missing from the query event.\n"
    "{history}\n"
    "Query:\n"
    "{query}"
)


@dataclass
class PromptConfig:
    history: int = 30
    style: str = "text"
    reverse: str = "ordinary"
    augment: bool = True
    time_format: str = "index"  # index = time // time_step (day number for ICEWS14); raw = the file's value
    template_file: str | None = None

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ConfigError(f"key 'style' must be one of {', '.join(STYLES)}, got {self.style!r}")
        if self.reverse not in REVERSE_STYLES:
            raise ConfigError(f"key 'reverse' must be one of {', '.join(REVERSE_STYLES)}, got {self.reverse!r}")
        if self.time_format not in ("index", "raw"):
            raise ConfigError(f"key 'time_format' must be 'index' or 'raw', got {self.time_format!r}")
        check_numbers(self, at_least_1=("history",))

    def template(self) -> str:
        if not self.template_file:
            return DEFAULT_TEMPLATE
        from modelworks.jsonl import read_text

        p = Path(self.template_file)
        text = read_text(p, "prompt template")
        for slot in ("{history}", "{query}"):
            if slot not in text:
                raise UserError(f"{p}: the template needs the slot {slot}")
        return text


@dataclass
class Prompt:
    query: Query
    text: str
    answer: str
    labels: dict[int, str]  # entity id -> "k.Name" (text+index style; empty for text)
    chain: list[int]


def _time(t: int, ds: TKGDataset, cfg: PromptConfig, step: int) -> int:
    return t // step if cfg.time_format == "index" else t


def build_prompt(ds: TKGDataset, table: FactTable, q: Query, ids: list[int], cfg: PromptConfig,
                 template: str | None = None, step: int | None = None) -> Prompt:
    """The prompt text and expected answer for ``q`` with history chain ``ids`` (fact ids, ascending)."""
    step = step or ds.time_step
    nr = table.num_relations
    ents, rels = ds.entities, ds.relations
    labels: dict[int, str] = {}

    def obj(e: int) -> str:
        if cfg.style == "text+index":
            if e not in labels:
                labels[e] = f"{len(labels)}.{ents[e]}"
            return labels[e]
        return ents[e]

    lines = []
    for i in ids:
        h, r, o, t = int(table.head[i]), int(table.rel[i]), int(table.tail[i]), int(table.time[i])
        tt = _time(t, ds, cfg, step)
        if r < nr:
            lines.append(f"{tt}: [{ents[h]}, {rels[r]}, {obj(o)}]")
        elif cfg.reverse == "text-aware":
            lines.append(f"{tt}: [{ents[h]}, reverse {rels[r - nr]}, {obj(o)}]")
        elif cfg.reverse == "position-aware":
            lines.append(f"{tt}: [{obj(o)}, {rels[r - nr]}, {ents[h]}]")
        else:
            lines.append(f"{tt}: [{ents[h]}, {rels[r - nr]}, {obj(o)}]")
    tq = _time(q.time, ds, cfg, step)
    rel = rels[q.relation]
    if q.inverse and cfg.reverse == "text-aware":
        query = f"{tq}: [{ents[q.entity]}, reverse {rel}, "
    elif q.inverse and cfg.reverse == "position-aware":
        query = f"{tq}: [ , {rel}, {ents[q.entity]}]"
    else:
        query = f"{tq}: [{ents[q.entity]}, {rel}, "
    text = (template or cfg.template()).replace("{history}", "\n".join(lines)).replace("{query}", query)
    answer = labels.get(q.target, ents[q.target])
    return Prompt(q, text, answer, dict(labels), list(ids))


def check_split(split: str) -> None:
    """A :class:`UserError` unless ``split`` is one of the dataset's splits."""
    if split not in SPLITS:
        raise UserError(f"unknown --split '{split}'; choose from {', '.join(SPLITS)}")


def iter_prompts(ds: TKGDataset, split: str, cfg: PromptConfig, limit: int = 0):
    """Prompts for the queries of ``split`` in time order (both directions), at most ``limit`` (0 = all)."""
    check_split(split)
    if limit < 0:
        raise UserError(f"--limit must be >= 0 (0 = all), got {limit}")
    table = FactTable.from_dataset(ds)
    template, step = cfg.template(), ds.time_step
    n = 0
    for _t, qs, index in walk(ds, split, table):
        for q in qs:
            ids = chain(index, q, cfg.history, augment=cfg.augment, reverse=cfg.reverse != "none")
            yield build_prompt(ds, table, q, ids, cfg, template, step)
            n += 1
            if limit and n >= limit:
                return


def export_jsonl(ds: TKGDataset, split: str, path: str | Path, cfg: PromptConfig, limit: int = 0) -> int:
    """Write instruction JSONL atomically; returns the number of rows.

    Each row is ``{"prompt", "response", "query"}``: the format of ``modelworks train`` with
    ``data_format=instruction`` (loss on the response and EOS only), e.g.
    ``modelworks train CONFIG data=[out/valid.jsonl] data_format=instruction model=DIR peft.method=lora``.
    The response is the bare answer string, the same sequence the constrained decoder scores.
    """
    from modelworks.runs import atomic_write_text

    rows = []
    for p in iter_prompts(ds, split, cfg, limit):
        q = p.query
        rows.append(json.dumps({
            "prompt": p.text, "response": p.answer,
            "query": {"entity": q.entity, "relation": q.relation, "time": q.time, "inverse": q.inverse,
                      "target": q.target},
        }, ensure_ascii=False))
    atomic_write_text(path, "\n".join(rows) + ("\n" if rows else ""))
    return len(rows)
