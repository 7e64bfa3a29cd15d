"""NLU / NLG utility hooks MEOW reports next to TOFU: multiple choice, BLEU, Rep-3, MAUVE (optional).

* :func:`multiple_choice_accuracy` scores each option by the summed log-likelihood of the option
  text given the prompt (the lm-eval-harness way; ``normalize=True`` divides by the option's token
  count) and counts the argmax against the gold index. Input is a local JSONL file with
  ``{"question": str, "choices": [str, ...], "answer": int}`` per line (PIQA / ARC converted to it).
  MEOW's own NLU eval instead generates text and looks for the label; log-likelihood is the
  deterministic, model-size-independent choice and needs no few-shot prompt.
* :func:`bleu` is corpus BLEU-4 with brevity penalty (nltk), on whitespace-tokenised text.
* :func:`rep_n` is ``1 - unique n-grams / n-grams`` over words (Rep-3 for n=3), averaged over texts.
* :func:`mauve_score` needs the optional ``mauve-text`` package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelworks.errors import UserError, require
from modelworks.jsonl import read_jsonl, shown

__all__ = ["load_mc_jsonl", "load_nlg_jsonl", "multiple_choice_accuracy", "bleu", "rep_n", "mauve_score"]


def load_mc_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Multiple-choice rows: ``question`` a string, ``choices`` non-empty strings, ``answer`` an index into them."""
    p = Path(path)
    rows = []
    for where, r in read_jsonl(p, "multiple-choice file"):
        if not all(k in r for k in ("question", "choices", "answer")):
            raise UserError(f"{where}: needs keys question, choices, answer")
        if not isinstance(r["question"], str):
            raise UserError(f"{where}: key 'question' must be a string, got {shown(r['question'])}")
        choices = r["choices"]
        if not (isinstance(choices, list) and choices and all(isinstance(c, str) and c.strip() for c in choices)):
            raise UserError(f"{where}: key 'choices' must be a non-empty list of non-empty strings, got {shown(choices)}")
        answer = r["answer"]
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise UserError(f"{where}: key 'answer' must be an integer index into 'choices' "
                            f"(0 to {len(choices) - 1}), got {shown(answer)}")
        rows.append(r)
    if not rows:
        raise UserError(f"{p}: no questions in the file")
    return rows


def load_nlg_jsonl(path: str | Path) -> list[tuple[str, str]]:
    """(reference, generation) string pairs of a JSONL file, at least one."""
    p = Path(path)
    pairs = []
    for where, r in read_jsonl(p, "NLG file"):
        if "reference" not in r or "generation" not in r:
            raise UserError(f"{where}: needs keys reference and generation")
        for key in ("reference", "generation"):
            if not isinstance(r[key], str):
                raise UserError(f"{where}: key '{key}' must be a string, got {shown(r[key])}")
        pairs.append((r["reference"], r["generation"]))
    if not pairs:
        raise UserError(f"{p}: no reference/generation pairs in the file")
    return pairs



def multiple_choice_accuracy(model, tokenizer, rows: list[dict[str, Any]], template=None, normalize: bool = False,
                             batch_size: int = 32) -> dict[str, float]:
    """Accuracy of picking the most likely option by log-likelihood."""
    from modelworks.unlearn.qa import QATemplate, answer_losses

    tmpl = template or QATemplate()
    pairs = [(r["question"], c) for r in rows for c in r["choices"]]
    # answer_losses gives mean token NLL; to get the summed log-likelihood we need the token counts
    losses = answer_losses(model, tokenizer, tmpl, pairs, batch_size)
    counts = [len(tokenizer(tmpl.completion(c), add_special_tokens=False)["input_ids"]) + 1 for _, c in pairs]
    correct, k = 0, 0
    for r in rows:
        n = len(r["choices"])
        scores = [-losses[k + j] * (1 if normalize else counts[k + j]) for j in range(n)]
        correct += int(max(range(n), key=lambda j: scores[j]) == r["answer"])
        k += n
    return {"accuracy": correct / len(rows), "n": float(len(rows))}


def bleu(references: list[str], hypotheses: list[str]) -> float:
    """Corpus BLEU-4 (0..1) of ``hypotheses`` against one reference each."""
    from nltk.translate.bleu_score import corpus_bleu

    if len(references) != len(hypotheses):
        raise UserError(f"BLEU needs as many references as hypotheses ({len(references)} vs {len(hypotheses)})")
    return float(corpus_bleu([[r.split()] for r in references], [h.split() for h in hypotheses]))


def rep_n(texts: list[str], n: int = 3) -> float:
    """Mean over texts of ``1 - |unique n-grams| / |n-grams|`` (word level); texts shorter than n are skipped."""
    vals = []
    for t in texts:
        w = t.split()
        grams = [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
        if grams:
            vals.append(1.0 - len(set(grams)) / len(grams))
    return float(sum(vals) / len(vals)) if vals else 0.0


def mauve_score(references: list[str], generations: list[str], **kwargs: Any) -> float:
    mauve = require("mauve", "unlearn", "MAUVE (pip install mauve-text)")
    return float(mauve.compute_mauve(p_text=references, q_text=generations, **kwargs).mauve)
