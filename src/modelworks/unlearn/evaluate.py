"""Run a model over the four TOFU eval sets and write an eval log in TOFU's own format.

For each row: ``avg_gt_loss`` (answer), ``avg_paraphrased_loss`` (paraphrased answer on forget /
retain, the answer itself on real authors / world facts, as in TOFU), ``average_perturb_loss`` (one
per perturbed answer), and ROUGE-1 / ROUGE-L **recall** of the greedy generation against the answer
(``rouge_score`` with the Porter stemmer). The log feeds :func:`modelworks.unlearn.metrics.tofu_metrics`
exactly like the official ``eval_log_aggregated.json``. Only the first ``ds_size`` rows (300 in TOFU)
of each set are used.
"""

from __future__ import annotations

from typing import Any

from modelworks.unlearn.qa import QATemplate, answer_losses

__all__ = ["EVAL_SETS", "eval_section", "eval_log", "rouge_recall"]

# eval-log section -> TOFU split file (the forget one is filled in from the forget split)
EVAL_SETS = {
    "eval_log.json": "retain_perturbed",
    "eval_real_author_wo_options.json": "real_authors_perturbed",
    "eval_real_world_wo_options.json": "world_facts_perturbed",
}


def rouge_recall(answers: list[str], generations: list[str]) -> tuple[list[float], list[float]]:
    """Per-sample ROUGE-1 and ROUGE-L recall of each generation against its answer."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    r1, rl = [], []
    for ref, gen in zip(answers, generations):
        s = scorer.score(ref, gen)
        r1.append(s["rouge1"].recall)
        rl.append(s["rougeL"].recall)
    return r1, rl


def eval_section(model, tokenizer, rows: list[dict[str, Any]], template: QATemplate, paraphrased: bool,
                 batch_size: int = 32, max_length: int = 200, generate: bool = True) -> dict[str, dict[str, Any]]:
    """One section of a TOFU eval log (per-index dicts keyed by the row index as a string)."""
    from modelworks.unlearn.generation import greedy_generate

    qs = [r["question"] for r in rows]
    gt = answer_losses(model, tokenizer, template, [(r["question"], r["answer"]) for r in rows], batch_size, max_length)
    if paraphrased:
        para = answer_losses(model, tokenizer, template, [(r["question"], r["paraphrased_answer"]) for r in rows],
                             batch_size, max_length)
    else:
        para = gt
    flat = [(r["question"], p) for r in rows for p in r["perturbed_answer"]]
    flat_losses = answer_losses(model, tokenizer, template, flat, batch_size, max_length)
    pert, k = [], 0
    for r in rows:
        n = len(r["perturbed_answer"])
        pert.append(flat_losses[k : k + n])
        k += n
    if generate:
        gens = greedy_generate(model, tokenizer, [template.prompt(q) for q in qs], max_length=max_length,
                               batch_size=batch_size)
        r1, rl = rouge_recall([r["answer"] for r in rows], gens)
    else:
        gens, r1, rl = [""] * len(rows), [float("nan")] * len(rows), [float("nan")] * len(rows)
    idx = [str(i) for i in range(len(rows))]
    return {
        "avg_gt_loss": dict(zip(idx, gt)),
        "avg_paraphrased_loss": dict(zip(idx, para)),
        "average_perturb_loss": dict(zip(idx, pert)),
        "rougeL_recall": dict(zip(idx, rl)),
        "rouge1_recall": dict(zip(idx, r1)),
        "generated_text": dict(zip(idx, gens)),
    }


def eval_log(model, tokenizer, sets: dict[str, list[dict[str, Any]]], template: QATemplate, ds_size: int = 300,
             batch_size: int = 32, max_length: int = 200) -> dict[str, Any]:
    """A full TOFU eval log. ``sets`` maps section names (``eval_log.json``, ...) to their rows."""
    out = {}
    for section, rows in sets.items():
        rows = rows[:ds_size]
        paraphrased = section in ("eval_log.json", "eval_log_forget.json")
        out[section] = eval_section(model, tokenizer, rows, template, paraphrased, batch_size, max_length)
    return out
