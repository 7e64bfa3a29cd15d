"""Question-answer prompts, tokenization with the question masked, and per-sample answer losses.

A :class:`QATemplate` turns a question into a prompt (``"Question: {q}\\nAnswer:"`` by default, the
Phi-1.5 layout TOFU uses) and an answer into its completion (``" " + answer``). The prompt and the
completion are tokenized separately and concatenated, so the boundary is exact; the EOS token ends
every answer and counts in its loss, as in TOFU's data collator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["QATemplate", "encode_qa", "collate", "answer_nll", "answer_losses"]


@dataclass
class QATemplate:
    """How a question/answer pair is laid out (e.g. Llama-2: question_start='[INST] ', question_end=' [/INST]')."""

    question_start: str = "Question: "
    question_end: str = "\nAnswer:"
    answer_start: str = " "

    def prompt(self, question: str) -> str:
        return f"{self.question_start}{question}{self.question_end}"

    def completion(self, answer: str) -> str:
        return f"{self.answer_start}{answer}"


def encode_qa(tokenizer, template: QATemplate, question: str, answer: str, max_length: int = 200) -> dict[str, list[int]]:
    """Token ids and labels (-100 on the prompt) of one pair, cut to ``max_length`` tokens."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    p = bos + tokenizer(template.prompt(question), add_special_tokens=False)["input_ids"]
    a = tokenizer(template.completion(answer), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (p + a)[:max_length]
    labels = ([-100] * len(p) + a)[:max_length]
    return {"input_ids": ids, "labels": labels}


def collate(items: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors ``input_ids``, ``attention_mask``, ``labels``."""
    import torch

    n = max(len(it["input_ids"]) for it in items)
    ids = torch.full((len(items), n), pad_id, dtype=torch.long)
    labels = torch.full((len(items), n), -100, dtype=torch.long)
    mask = torch.zeros((len(items), n), dtype=torch.long)
    for i, it in enumerate(items):
        k = len(it["input_ids"])
        ids[i, :k] = torch.tensor(it["input_ids"])
        labels[i, :k] = torch.tensor(it["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def answer_nll(model, batch: dict[str, Any]):
    """Per-sequence (summed NLL, number of answer tokens) of a collated batch, with gradients."""
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    shift_logits = logits[:, :-1, :]
    shift_labels = batch["labels"][:, 1:]
    tok = F.cross_entropy(shift_logits.transpose(1, 2).float(), shift_labels, ignore_index=-100, reduction="none")
    count = (shift_labels != -100).sum(-1)
    return tok.sum(-1), count


def answer_losses(model, tokenizer, template: QATemplate, pairs: list[tuple[str, str]], batch_size: int = 32,
                  max_length: int = 200) -> list[float]:
    """Mean token NLL of each answer given its question (TOFU's ``avg_gt_loss``)."""
    import torch

    device = next(model.parameters()).device
    out: list[float] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            items = [encode_qa(tokenizer, template, q, a, max_length) for q, a in pairs[i : i + batch_size]]
            batch = {k: v.to(device) for k, v in collate(items, tokenizer.pad_token_id).items()}
            total, count = answer_nll(model, batch)
            out.extend((total / count.clamp(min=1)).tolist())
    model.train(was_training)
    return out
