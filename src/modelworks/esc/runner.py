"""``modelworks esc run``: role-play every card against the ESC model, resumably, and export.

Recipe: load + filter cards -> register one sample per card in the run's SQLite store -> run the
protocol on every card not done yet (bounded concurrency; provider errors retried with backoff,
then recorded as the card's error; a later run of the same ``--out`` retries them) -> export
``dialogues.json`` (ESC-Eval's ``{index: [11 strings]}``) and ``dialogues.jsonl`` (one record per
card with metadata) -> results.json + report.md.

A run killed at any moment (even SIGKILL) resumes with the same command: finished dialogues are
rows in ``samples.sqlite`` and are neither redone nor duplicated.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelworks.config import check_numbers
from modelworks.errors import UserError

__all__ = ["EscRunConfig", "run_esc", "read_dialogues", "DialogueRecord"]

TASK = "dialogues"


@dataclass
class EscRunConfig:
    """One ESC-Eval dialogue run (``configs/esc/*.yaml``)."""

    cards: str = "esc/role_cards/test_en.json"  # a file, or a path inside the data root
    agent: str = "mock"                 # role agent: mock | hf/<dir> | openai/<model>
    model: str = "mock"                 # ESC model under test
    model_label: str | None = None      # name in reports (default: the model spec)
    agent_options: dict[str, Any] = field(default_factory=dict)  # e.g. base_url, max_concurrency
    model_options: dict[str, Any] = field(default_factory=dict)
    agent_max_tokens: int = 512
    agent_temperature: float = 0.7      # the official code samples with the model's defaults
    model_max_tokens: int = 512
    model_temperature: float = 0.0
    model_system: str | None = None     # the ESC model's own system prompt; None: templates' default
    rounds: int = 5
    concurrency: int = 4                # cards in flight at once
    max_retries: int = 2                # extra attempts per dialogue after a provider error
    retry_wait: float = 1.0             # base seconds of the exponential backoff
    source: list[str] = field(default_factory=list)
    category: list[str] = field(default_factory=list)
    language: str | None = None
    n: int | None = None
    seed: int = 0
    templates: dict[str, str] = field(default_factory=dict)  # template name -> file (used verbatim)
    data_dir: str | None = None

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("rounds", "concurrency", "n", "agent_max_tokens", "model_max_tokens"),
                      at_least_0=("max_retries", "retry_wait", "agent_temperature", "model_temperature"))


# settings a resumed run may change: how it connects and how hard it retries, not what it asks
_RESUME_IGNORE = ("concurrency", "max_retries", "retry_wait", "data_dir",
                  *(f"{side}_options.{key}" for side in ("agent", "model")
                    for key in ("base_url", "api_key", "max_concurrency", "max_retries", "timeout", "cache")))


@dataclass
class DialogueRecord:
    index: str
    card_id: int
    language: str
    source: str
    category: str
    agent: str
    model: str
    utterances: list[str]


def resolve_cards_path(spec: str, data_dir: str | None = None) -> Path:
    p = Path(spec)
    if p.is_file():
        return p
    from modelworks.paths import find_data_root

    root = find_data_root(data_dir)
    if root is not None and (root / spec).is_file():
        return root / spec
    raise UserError(f"role-card file not found: {spec} (as a path or inside the data folder)")


def _with_retries(fn, max_retries: int, wait: float):
    def call(inp):
        attempt = 0
        while True:
            try:
                return fn(inp)
            except UserError as exc:
                # A provider's own retries are exhausted or the input is bad: one more try is
                # still cheap for flaky servers, so it goes through the same loop.
                last: Exception = exc
            except Exception as exc:  # noqa: BLE001 - provider errors of any kind are retried
                last = exc
            if attempt >= max_retries:
                raise last
            time.sleep(random.uniform(0, wait * 2**attempt))
            attempt += 1

    return call


def run_esc(cfg: EscRunConfig, out: str | Path | None = None, progress: bool = False,
            agent: Any = None, model: Any = None) -> Path:
    """Run (or resume) the dialogues of ``cfg`` into ``out``; returns the run folder.

    ``agent`` / ``model`` may be ChatModel objects (tests, notebooks); by default they are built
    from ``cfg.agent`` / ``cfg.model`` with :func:`modelworks.chat.get_model`."""
    from modelworks.chat import GenerateConfig
    from modelworks.esc.cards import filter_cards, load_cards
    from modelworks.esc.dialogue import role_play
    from modelworks.esc.templates import load_templates
    from modelworks.runs import Run
    from modelworks.store import SampleStore, process

    cards_path = resolve_cards_path(cfg.cards, cfg.data_dir)
    cards = filter_cards(load_cards(cards_path), source=cfg.source, category=cfg.category,
                         language=cfg.language, n=cfg.n, seed=cfg.seed)
    if not cards:
        raise UserError(f"{cards_path}: no role card matches the filters (source/category/language)")
    templates = {lang: load_templates(lang, cfg.templates) for lang in sorted({c.lang for c in cards})}
    agent = agent if agent is not None else _provider(cfg.agent, cfg.agent_options, "agent_options")
    model = model if model is not None else _provider(cfg.model, cfg.model_options, "model_options")
    label = cfg.model_label or cfg.model
    agent_gen = GenerateConfig(max_tokens=cfg.agent_max_tokens, temperature=cfg.agent_temperature)
    model_gen = GenerateConfig(max_tokens=cfg.model_max_tokens, temperature=cfg.model_temperature)

    run = Run.create("esc-run", config=cfg, out=out, seed=cfg.seed, resume=True,
                     resume_ignore=_RESUME_IGNORE)
    store = SampleStore(run.path("samples.sqlite"))
    store.add("esc", TASK, [(str(i), {"card": c.to_record()}) for i, c in enumerate(cards)], check_inputs=True)
    by_id = {c.id: c for c in cards}

    def one(inp: dict) -> dict:
        card = by_id[int(inp["card"]["id"])]
        dlg = role_play(card.text, agent, model, templates[card.lang], rounds=cfg.rounds,
                        agent_config=agent_gen, model_config=model_gen, model_system=cfg.model_system)
        return {"utterances": dlg.utterances}

    t0 = time.perf_counter()
    done_now = [0]

    def on_done(sid: str, _: Any) -> None:
        done_now[0] += 1
        run.log(done_now[0], card=sid, elapsed_s=round(time.perf_counter() - t0, 3))
        if progress:
            print(f"dialogue {sid} done ({done_now[0]} this session)", flush=True)

    counts = process(store, "esc", TASK, _with_retries(one, cfg.max_retries, cfg.retry_wait),
                     concurrency=cfg.concurrency, on_done=on_done)
    records, errors = export_dialogues(store, run.dir, cfg.agent, label)
    results = {"cards": len(cards), "done": counts["done"], "error": counts["error"],
               "dialogues_this_session": done_now[0], "seconds": round(time.perf_counter() - t0, 3),
               "agent": cfg.agent, "model": label, "rounds": cfg.rounds,
               "templates": {lang: t.sources for lang, t in templates.items()}}
    run.write_results(results)
    lines = [f"# ESC-Eval dialogues: {label}", "",
             f"- role agent: `{cfg.agent}`; cards: `{cards_path}` ({len(cards)} after filters)",
             f"- done: {counts['done']}, failed: {counts['error']} (rerun the same command to retry)",
             "- files: `dialogues.json` (ESC-Eval format), `dialogues.jsonl` (with metadata), `samples.sqlite`"]
    for sid, err in errors:
        lines.append(f"- card {sid} failed: {err}")
    run.write_report("\n".join(lines) + "\n")
    run.close()
    store.close()
    return run.dir


def export_dialogues(store, out_dir: Path, agent: str, label: str) -> tuple[list[DialogueRecord], list[tuple[str, str]]]:
    """Write dialogues.json / dialogues.jsonl from the finished rows (atomic writes)."""
    from modelworks.runs import atomic_write_json, atomic_write_text

    records, errors = [], []
    for row in store.rows("esc", TASK):
        if row.status != "done":
            if row.status == "error":
                errors.append((row.sample_id, row.error or ""))
            continue
        card = row.input["card"]
        records.append(DialogueRecord(
            index=row.sample_id, card_id=int(card["id"]),
            language="en" if card["language"] == "english" else "zh",
            source=card["source"], category=card["res"], agent=agent, model=label,
            utterances=row.output["utterances"]))
    records.sort(key=lambda r: int(r.index))
    atomic_write_json(out_dir / "dialogues.json", {r.index: r.utterances for r in records})
    atomic_write_text(out_dir / "dialogues.jsonl",
                      "".join(json.dumps(r.__dict__, ensure_ascii=False) + "\n" for r in records))
    return records, errors


def _provider(spec: str, options: dict[str, Any], key: str) -> Any:
    """The provider of ``spec`` with its options (``key``: where they come from, for the error message)."""
    from modelworks.chat import get_model

    try:
        return get_model(spec, **options)
    except UserError as exc:
        raise UserError(f"{key.removesuffix('_options')} '{spec}' (with key '{key}'): {exc}") from None


def read_dialogues(run_dir: str | Path) -> list[DialogueRecord]:
    """The dialogues of a run folder (``dialogues.jsonl``), validated; one-line errors."""
    from modelworks.esc.dialogue import validate_dialogue
    from modelworks.jsonl import read_text

    path = Path(run_dir) / "dialogues.jsonl"
    if not path.is_file():
        raise UserError(f"{path} not found: point at the --out folder of 'modelworks esc run'")
    out = []
    for n, line in enumerate(read_text(path, "dialogues file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} line {n}: not valid JSON ({exc.msg})") from None
        missing = [k for k in DialogueRecord.__dataclass_fields__ if k not in obj]
        if missing:
            raise UserError(f"{path} line {n}: missing field '{missing[0]}'")
        validate_dialogue(obj["utterances"], f"{path} line {n}")
        out.append(DialogueRecord(**{k: obj[k] for k in DialogueRecord.__dataclass_fields__}))
    return out
