"""``modelworks guard run``: send every sample (images + prompt) to a model; resumable and concurrent.

Recipe: load and validate the samples -> open ``<out>/samples.sqlite`` and register every sample
(existing rows are kept) -> answer the ones not done yet with bounded concurrency, each committed as
it finishes (a killed run loses only the samples in flight) -> retry failed samples up to
``retries`` more passes -> export ``responses.jsonl`` and ``results.json``.

Providers: ``mock`` (echo), ``sim`` (a deterministic stand-in MLLM, see ``simulated.py``),
``openai/<model>`` (base64 image parts, semaphore, retries, on-disk cache), ``hf/<dir>`` (image-text-
to-text through the processor when the folder has one; a text-only causal LM otherwise, images dropped).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelworks.chat import ChatModel, GenerateConfig, get_model
from modelworks.config import check_numbers
from modelworks.errors import ConfigError, UserError
from modelworks.jsonl import read_jsonl

__all__ = ["RunConfig", "resolve_model", "sample_messages", "run_guard", "read_responses", "STORE_RUN"]

STORE_RUN = "guard"


@dataclass
class RunConfig:
    data: str = ""
    model: str = "mock"
    concurrency: int = 4
    max_tokens: int = 128
    temperature: float = 0.0
    retries: int = 1
    language: str = "all"
    check_images: bool = True
    base_url: str | None = None
    api_key: str | None = None
    cache: bool | str | None = None  # None/true: the provider default cache; false or "off": none; or a folder
    system_prompt: str | None = None
    limit: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("concurrency", "max_tokens"), at_least_0=("retries", "temperature"))
        if self.language not in ("all", "en", "zh"):
            raise ConfigError(f"key 'language' must be one of all, en, zh, got '{self.language}'")


def resolve_model(spec: str, base_url: str | None = None, api_key: str | None = None,
                  cache: bool | str | None = None, concurrency: int = 4) -> tuple[ChatModel, list[str]]:
    """The chat model for ``spec`` and notes for the report (e.g. images dropped)."""
    notes: list[str] = []
    if spec == "sim":
        from modelworks.guard.simulated import simulated_mllm

        return simulated_mllm(), ["'sim' is a deterministic stand-in model, not a real MLLM"]
    if spec.startswith("openai/"):
        opts: dict[str, Any] = {"max_concurrency": concurrency}
        if base_url:
            opts["base_url"] = base_url
        if api_key:
            opts["api_key"] = api_key
        if cache is False or cache == "off":
            opts["cache"] = False
        elif isinstance(cache, str) and cache:
            opts["cache"] = cache
        return get_model(spec, **opts), notes
    if spec.startswith("hf/"):
        from modelworks.chat.vision import is_vision_model_dir

        if not is_vision_model_dir(spec[3:]):
            notes.append(f"{spec} has no image processor: it was run as a text-only model and images were dropped")
        return get_model(spec), notes
    return get_model(spec), notes


def sample_messages(sample: dict[str, Any], system_prompt: str | None = None) -> list[dict[str, Any]]:
    """The chat messages for one sample: the images first, then the prompt text."""
    parts: list[dict[str, Any]] = [{"type": "image", "image": p} for p in sample.get("images") or []]
    parts.append({"type": "text", "text": sample["prompt"]})
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": parts if len(parts) > 1 else sample["prompt"]})
    return messages


def _export(store: Any, task: str, out: Path) -> tuple[Path, dict[str, int]]:
    from modelworks.runs import atomic_write_text

    lines = []
    for row in store.rows(STORE_RUN, task):
        rec = dict(row.input)
        rec.update(model=task, status=row.status, attempts=row.attempts,
                   response=(row.output or {}).get("response") if row.status == "done" else None,
                   error=row.error if row.status == "error" else None)
        lines.append(json.dumps(rec, ensure_ascii=False))
    path = atomic_write_text(out / "responses.jsonl", "\n".join(lines) + ("\n" if lines else ""))
    return path, store.counts(STORE_RUN, task)


def run_guard(cfg: RunConfig, out: str | Path | None = None, model: ChatModel | None = None) -> Path:
    """Run (or resume) one model on one sample set; returns the run folder."""
    from modelworks.guard.dataset import load_samples
    from modelworks.runs import Run
    from modelworks.store import SampleStore, process

    if not cfg.data:
        raise UserError("no samples given: pass --data FILE.jsonl or an MLLMGuard folder")
    samples = load_samples(cfg.data, check_images=cfg.check_images, language=cfg.language)
    if cfg.limit is not None:
        samples = samples[: cfg.limit]
    notes: list[str] = []
    if model is None:
        model, notes = resolve_model(cfg.model, cfg.base_url, cfg.api_key, cfg.cache, cfg.concurrency)
    task = cfg.model if isinstance(cfg.model, str) and cfg.model else model.name
    run = Run.create("guard-run", config=cfg, out=out, seed=cfg.seed, resume=True,
                     resume_ignore=("concurrency", "retries", "base_url", "api_key", "cache"))
    gen = GenerateConfig(max_tokens=cfg.max_tokens, temperature=cfg.temperature, seed=cfg.seed)

    def answer(inp: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        text = model.generate(sample_messages(inp, cfg.system_prompt), gen)
        return {"response": text, "seconds": round(time.perf_counter() - t0, 4)}

    t0 = time.perf_counter()
    with SampleStore(run.path("samples.sqlite")) as store:
        added = store.add(STORE_RUN, task, [(s.id, s.to_dict()) for s in samples], check_inputs=True)
        counts = process(store, STORE_RUN, task, answer, concurrency=cfg.concurrency)
        passes = 0
        while counts["error"] and passes < cfg.retries:
            passes += 1
            counts = process(store, STORE_RUN, task, answer, concurrency=cfg.concurrency)
        path, counts = _export(store, task, run.dir)
        errors = [(r.sample_id, r.error) for r in store.rows(STORE_RUN, task) if r.status == "error"]
    run.log(step=None, model=task, added=added, **counts, seconds=round(time.perf_counter() - t0, 3))
    run.write_results({"model": task, "samples": len(samples), "counts": counts, "responses": path.name,
                       "retry_passes": passes, "notes": notes, "first_errors": errors[:5]})
    run.close()
    return run.dir


def read_responses(path: str | Path) -> list[dict[str, Any]]:
    """``responses.jsonl`` of a run (or the run folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / "responses.jsonl"
    rows = read_jsonl(p, "responses file")
    first: dict[str, str] = {}
    for where, obj in rows:
        if "id" in obj and str(obj["id"]) in first:
            raise UserError(f"{where}: id '{obj['id']}' already appears at {first[str(obj['id'])]}")
        first.setdefault(str(obj.get("id")), where)
        for key in ("id", "dimension", "subtask", "prompt", "response"):  # response: null when generation failed
            if key not in obj:
                raise UserError(f"{where}: missing field '{key}' (a responses.jsonl row of 'modelworks guard run')")
    return [obj for _, obj in rows]
