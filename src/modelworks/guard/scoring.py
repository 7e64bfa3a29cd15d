"""Turn a run's responses into a scored JSONL: judges for open-ended answers, rules for the pairs.

``score_responses(records, scorer)`` returns one record per response with ``score`` set:

- privacy / bias / toxicity / legality: the scorer's 0-3 score;
- hallucination: the scorer's 0/1;
- noise injection and position swapping: the rule scorers (``rules.py``).

The sample's gold answer is kept as ``gold`` and the parsed option as ``answer``. A response that is
missing (its generation failed) or that the judge could not score keeps ``score: null`` and a
``score_error``; metrics leave such rows out and report how many there were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.guard.rules import score_noise_injection, score_position_swapping
from modelworks.guard.taxonomy import subtask_kind

__all__ = ["score_responses", "make_scorer", "check_scorer", "write_scores"]

JudgeFn = Callable[[list[dict[str, Any]]], list[int | None | Exception]]


def check_scorer(spec: str | None, need_files: bool = True) -> None:
    """A one-line :class:`UserError` for a scorer spec that cannot work, before any sample is run
    (``need_files=False``: the spelling only, for a config whose GuardRank folder is made later)."""
    if spec in (None, "", "rules"):
        return
    kind, _, arg = spec.partition(":")
    if kind == "guardrank":
        if not arg or (need_files and not (Path(arg) / "guardrank.json").is_file()):
            raise UserError(f"scorer '{spec}': no trained GuardRank folder at '{arg}' (no guardrank.json; train one "
                            "with 'modelworks guard guardrank train')")
    elif kind == "llm":
        if arg not in ("", "sim"):
            from modelworks.chat._registry import check_spec

            check_spec(arg)
    else:
        raise UserError(f"unknown scorer '{spec}'; use guardrank:DIR, llm:PROVIDER or rules")


def make_scorer(spec: str | None, template: str | None = None, concurrency: int = 4, **opts: Any) -> JudgeFn | None:
    """``guardrank:DIR`` | ``llm:PROVIDER`` (e.g. ``llm:openai/gpt-4o``) | ``rules``/None (pairs only)."""
    if spec in (None, "", "rules"):
        return None
    kind, _, arg = spec.partition(":")
    if kind == "guardrank":
        from modelworks.guard.guardrank import GuardRank

        model = GuardRank.load(arg)

        def by_guardrank(records: list[dict[str, Any]]) -> list[int | None | Exception]:
            return list(model.predict(records))

        return by_guardrank
    if kind == "llm":
        from modelworks.guard.llm_judge import LLMJudge

        if arg == "sim":
            from modelworks.guard.simulated import simulated_judge

            judge = LLMJudge(simulated_judge(), template=template)
        else:
            judge = LLMJudge(arg or "mock", template=template, **opts)

        def one(r: dict[str, Any]) -> int | Exception:
            try:
                return judge.score(r["dimension"], r["subtask"], r["prompt"], r["response"])
            except Exception as exc:  # noqa: BLE001 - kept per record as score_error
                return exc

        def by_llm(records: list[dict[str, Any]]) -> list[int | None | Exception]:
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                return list(pool.map(one, records))

        return by_llm
    raise UserError(f"unknown scorer '{spec}'; use guardrank:DIR, llm:PROVIDER or rules")


def score_responses(records: list[dict[str, Any]], scorer: JudgeFn | None,
                    require_scores: bool = False) -> list[dict[str, Any]]:
    """``require_scores``: a judge that scores none of the responses that need it is an error (the CLI uses
    this so that a judge server that is down never replaces an earlier scores file)."""
    out = []
    for r in records:
        rec = {k: v for k, v in r.items() if k not in ("answer", "score", "score_error")}
        rec["gold"] = r.get("gold", r.get("answer"))
        rec["score"] = None
        out.append(rec)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for rec in out:
        by_kind.setdefault(subtask_kind(rec["dimension"], rec["subtask"]), []).append(rec)
    score_noise_injection(by_kind.get("noise-injection", []))
    score_position_swapping(by_kind.get("position-swapping", []))
    judged = [rec for k in ("open", "hallucination") for rec in by_kind.get(k, []) if rec.get("response") is not None]
    if judged and scorer is None:
        raise UserError(
            f"{len(judged)} responses need a judge (privacy, bias, toxicity, legality, hallucination): "
            "pass --scorer guardrank:DIR or --scorer llm:PROVIDER"
        )
    if judged:
        for rec, value in zip(judged, scorer(judged), strict=True):  # type: ignore[misc]
            if isinstance(value, Exception):
                rec["score_error"] = f"{type(value).__name__}: {value}".splitlines()[0]
            else:
                rec["score"] = value
        if require_scores and all(rec["score"] is None for rec in judged):
            raise UserError(f"the judge scored none of the {len(judged)} responses that need one (first error: "
                            f"{judged[0].get('score_error', 'no score')}); nothing was written")
    for rec in out:
        if rec.get("response") is None and "score_error" not in rec:
            rec["score_error"] = "no response (generation failed)"
    return out


def write_scores(records: list[dict[str, Any]], path: str | Path) -> Path:
    from modelworks.runs import atomic_write_text

    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
