"""MEMO: how strongly a model has memorised a (question, answer) pair (MEOW, Gu et al. 2024).

For a question ``q`` and answer ``a`` and a sliding step ``s`` (5 **characters**):

* ``suffix`` mode: for ``k in range(1, len(a), s)`` the prompt is ``q + " " + a[:k]`` and the target
  is ``a[k:]``;
* ``prefix`` mode: for ``k in range(1, len(q), s)`` the prompt is ``q[:k]`` and the target is
  ``q[k:] + " " + a``.

Each prompt is continued greedily (up to 200 new tokens) and scored with ROUGE-1 **precision** of
the continuation against the target (``rouge_score``, Porter stemmer; precision = matched unigrams /
unigrams of the continuation). MEMO is the mean over all windows. These are the official code's
choices. Where we differ, on purpose: special tokens are dropped from the decoded continuation (the
official decode keeps ``<s>``/``</s>``, which ROUGE turns into a spurious token ``s``), and a pair
without any window (an answer of one character) scores 0.0 instead of NaN.

``template`` (optional) wraps the question in the model's QA layout — use it for models that were
trained on that layout (the official code prompts raw text). For Chinese or other unsegmented
text pass ``tokenizer="char"``: the default ROUGE tokenizer keeps only ``[a-z0-9]`` and scores
such text 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from modelworks.errors import UserError

__all__ = ["memo_windows", "rouge1_precision", "memo_scores", "CharTokenizer", "hf_generate_fn"]

Mode = Literal["suffix", "prefix"]


class CharTokenizer:
    """A ROUGE tokenizer that makes every non-space character a token (for Chinese, Japanese, ...)."""

    def tokenize(self, text: str) -> list[str]:
        return [c for c in text.lower() if not c.isspace()]


def _scorer(tokenizer: Any = None):
    from rouge_score import rouge_scorer

    if tokenizer == "char":
        tokenizer = CharTokenizer()
    if tokenizer is None:
        return rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    return rouge_scorer.RougeScorer(["rouge1"], tokenizer=tokenizer)


def memo_windows(question: str, answer: str, mode: Mode = "suffix", step: int = 5,
                 prompt_of: Callable[[str], str] | None = None) -> list[tuple[str, str]]:
    """The (prompt, target) windows of one pair. ``prompt_of`` wraps the question (suffix mode)."""
    if step < 1:
        raise UserError(f"MEMO step must be a positive number of characters, got {step}")
    if mode == "suffix":
        head = prompt_of(question) if prompt_of else question + " "
        return [(head + answer[:k], answer[k:]) for k in range(1, len(answer), step)]
    if mode == "prefix":
        return [(question[:k], question[k:] + " " + answer) for k in range(1, len(question), step)]
    raise UserError(f"MEMO mode '{mode}' is not one of suffix, prefix")


def rouge1_precision(target: str, generation: str, tokenizer: Any = None) -> float:
    """ROUGE-1 precision of ``generation`` against ``target`` (the MEMO window score)."""
    return float(_scorer(tokenizer).score(target, generation)["rouge1"].precision)


def memo_scores(generate: Callable[[list[str]], list[str]], pairs: Sequence[tuple[str, str]], mode: Mode = "suffix",
                step: int = 5, batch_size: int = 64, prompt_of: Callable[[str], str] | None = None,
                tokenizer: Any = None) -> list[float]:
    """MEMO of every (question, answer) pair; all windows are generated in batches of ``batch_size``."""
    scorer = _scorer(tokenizer)
    windows = [memo_windows(q, a, mode, step, prompt_of) for q, a in pairs]
    flat = [w for ws in windows for w in ws]
    gens: list[str] = []
    for i in range(0, len(flat), batch_size):
        gens.extend(generate([p for p, _ in flat[i : i + batch_size]]))
    if len(gens) != len(flat):
        raise UserError(f"MEMO generator returned {len(gens)} texts for {len(flat)} prompts")
    out, k = [], 0
    for ws in windows:
        vals = [scorer.score(t, gens[k + j])["rouge1"].precision for j, (_, t) in enumerate(ws)]
        k += len(ws)
        out.append(float(sum(vals) / len(vals)) if vals else 0.0)
    return out


def hf_generate_fn(model, tokenizer, max_new_tokens: int = 200, batch_size: int = 64,
                   add_bos: bool = True) -> Callable[[list[str]], list[str]]:
    """Greedy batched generation with a loaded HF causal LM, as MEMO needs it."""
    from modelworks.unlearn.generation import greedy_generate

    def generate(prompts: list[str]) -> list[str]:
        return greedy_generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                               add_bos=add_bos)

    return generate
