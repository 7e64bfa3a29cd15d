"""Batched greedy generation from raw prompts (left padding), as TOFU's ROUGE eval and MEMO need."""

from __future__ import annotations

__all__ = ["greedy_generate"]


def greedy_generate(model, tokenizer, prompts: list[str], max_length: int = 200, max_new_tokens: int | None = None,
                    batch_size: int = 32, add_bos: bool = True) -> list[str]:
    """Greedy continuations of ``prompts`` (special tokens dropped, cut at EOS).

    ``max_length`` bounds prompt + continuation (TOFU's ``max_length=200``); ``max_new_tokens``,
    when given, bounds the continuation instead (MEMO generates up to 200 new tokens).
    """
    import torch

    device = next(model.parameters()).device
    bos = [tokenizer.bos_token_id] if add_bos and tokenizer.bos_token_id is not None else []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outs: list[str] = []
    was_training = model.training
    model.eval()
    for i in range(0, len(prompts), batch_size):
        enc = [bos + tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts[i : i + batch_size]]
        n = max(len(e) for e in enc)
        ids = torch.full((len(enc), n), pad, dtype=torch.long)
        mask = torch.zeros((len(enc), n), dtype=torch.long)
        for j, e in enumerate(enc):
            ids[j, n - len(e):] = torch.tensor(e)
            mask[j, n - len(e):] = 1
        new = max_new_tokens if max_new_tokens is not None else max(1, max_length - n)
        with torch.no_grad():
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=new,
                                 do_sample=False, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        outs.extend(t.strip() for t in tokenizer.batch_decode(gen[:, n:], skip_special_tokens=True))
    model.train(was_training)
    return outs
