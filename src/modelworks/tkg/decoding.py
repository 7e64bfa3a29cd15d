"""Beam search over entity names, constrained by a trie so that every beam is a real entity.

Each candidate string (an entity name, or ``k.Name`` in the text+index style) is tokenized on its own
and closed with the tokenizer's end-of-sequence token; the token sequences form a trie. At every step
a beam may only continue with a child of its trie node, so a finished beam is always a whole candidate.
Beams are ranked by their sequence log-probability (the sum of token log-probs, i.e. the product of
probabilities as in CoH). All queries' beams of a step go through the model together, in batches.

Works with any local Hugging Face causal LM (``load_causal_lm``); the from-scratch event generator
scores its whole entity vocabulary at once, so its exact top-k is the same ranked list (see
:func:`modelworks.tkg.model.predict_topk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from modelworks.errors import UserError

__all__ = ["EntityTrie", "constrained_beam_search", "evaluate_llm"]

_END = -1


@dataclass
class EntityTrie:
    """Token-id trie over candidate strings; a leaf under ``_END`` holds the candidate indices."""

    root: dict = field(default_factory=dict)
    depth: int = 0

    @classmethod
    def build(cls, sequences: Sequence[Sequence[int]]) -> EntityTrie:
        trie = cls()
        for idx, seq in enumerate(sequences):
            node = trie.root
            for tok in seq:
                node = node.setdefault(int(tok), {})
            node.setdefault(_END, []).append(idx)
            trie.depth = max(trie.depth, len(seq))
        return trie

    @classmethod
    def from_strings(cls, tokenizer, strings: Sequence[str]) -> EntityTrie:
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("the tokenizer has no eos token to close entity names")
        seqs = [list(tokenizer(s, add_special_tokens=False)["input_ids"]) + [eos] for s in strings]
        return cls.build(seqs)

    def contains(self, seq: Sequence[int]) -> bool:
        node = self.root
        for tok in seq:
            if tok not in node:
                return False
            node = node[tok]
        return _END in node


def _forced(node: dict) -> tuple[list[int], dict]:
    """Follow single-child links below ``node`` (tokens with no alternative): ``(tokens, last node)``."""
    toks = []
    while len(node) == 1 and _END not in node:
        (tok, node), = node.items()
        toks.append(tok)
    return toks, node


def constrained_beam_search(model, tokenizer, prompts: Sequence[str], tries: EntityTrie | Sequence[EntityTrie],
                            beams: int = 10, batch_size: int = 16) -> list[list[tuple[int, float]]]:
    """For each prompt, up to ``beams`` ``(candidate index, log-prob)`` pairs, best first.

    Each step runs the model once per alive beam. Tokens that the trie forces (a node with one child)
    are appended without a choice and scored in the same forward pass as the next choice, so a name
    costs about as many passes as it has branching points. Pruning to ``beams`` uses the scores of the
    chosen tokens; every returned score is the full sequence log-probability.
    """
    import torch

    device = next(model.parameters()).device
    per_prompt = isinstance(tries, (list, tuple))
    prompt_ids = [list(tokenizer(p, add_special_tokens=True)["input_ids"]) for p in prompts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    # beam: (prompt index, scored tokens, log-prob, pending forced tokens, trie node after them)
    alive = []
    for i in range(len(prompts)):
        pending, node = _forced((tries[i] if per_prompt else tries).root)
        alive.append((i, [], 0.0, pending, node))
    finished: list[list[tuple[int, float]]] = [[] for _ in prompts]
    while alive:
        rows = []  # per beam: (log-probs of its pending tokens summed, next-token log-probs)
        for b in range(0, len(alive), batch_size):
            chunk = alive[b:b + batch_size]
            seqs = [prompt_ids[i] + toks + pending for i, toks, _, pending, _ in chunk]
            width = max(len(x) for x in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for k, x in enumerate(seqs):  # left padding: the last column is every row's next-token slot
                ids[k, width - len(x):] = torch.tensor(x)
                mask[k, width - len(x):] = 1
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            with torch.inference_mode():
                out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device))
            logp = torch.log_softmax(out.logits.float(), dim=-1).cpu()
            for k, (_, _, _, pending, _) in enumerate(chunk):
                forced = 0.0
                for j, tok in enumerate(pending):  # token at column width-len(pending)+j, predicted one earlier
                    forced += float(logp[k, width - len(pending) + j - 1, tok])
                rows.append((forced, logp[k, -1]))
        expansions: dict[int, list[tuple[float, list[int], list[int], dict]]] = {}
        for (i, toks, score, pending, node), (forced, nxt) in zip(alive, rows):
            score += forced
            toks = toks + pending
            if _END in node:  # a whole candidate: its pending tokens are now scored
                finished[i].extend((idx, score) for idx in node[_END])
                continue
            children = list(node)
            for tok, v in zip(children, nxt[children].tolist()):
                more, child = _forced(node[tok])
                expansions.setdefault(i, []).append((score + v, toks + [tok], more, child))
        alive = []
        for i, cands in expansions.items():
            cands.sort(key=lambda c: -c[0])
            for score, toks, more, child in cands[:beams]:
                if _END in child and not more:
                    finished[i].extend((idx, score) for idx in child[_END])
                else:
                    alive.append((i, toks, score, more, child))
        # stop early: a prompt whose k-th finished score beats its best alive beam cannot improve
        best_alive: dict[int, float] = {}
        for i, _, score, _, _ in alive:
            best_alive[i] = max(best_alive.get(i, float("-inf")), score)
        alive = [a for a in alive if not (len(finished[a[0]]) >= beams
                                          and sorted(s for _, s in finished[a[0]])[-beams] >= best_alive[a[0]])]
    return [sorted(f, key=lambda x: -x[1])[:beams] for f in finished]


def evaluate_llm(ds, model_dir: str, cfg, split: str = "test", beams: int = 10, limit: int = 200,
                 batch_size: int = 16, device: str = "auto") -> dict:
    """Prompts -> constrained beam search with a local HF causal LM -> raw and time-aware filtered metrics."""
    from modelworks.env import check_device, default_device
    from modelworks.models import load_causal_lm, load_tokenizer
    from modelworks.tkg.metrics import evaluate_rankings, time_aware_filters
    from modelworks.tkg.prompts import check_split, iter_prompts

    check_split(split)  # every argument is checked before the model is loaded
    for flag, value in (("--beams", beams), ("--batch-size", batch_size)):
        if value < 1:
            raise UserError(f"{flag} must be >= 1, got {value}")
    if limit < 0:
        raise UserError(f"--limit must be >= 0 (0 = all), got {limit}")
    dev = default_device(check_device(device, "--device", allowed=("auto", "cpu", "cuda")))
    tok = load_tokenizer(model_dir, padding_side="left")
    model = load_causal_lm(model_dir, device=str(dev))
    prompts = list(iter_prompts(ds, split, cfg, limit))
    names = ds.entities
    if tok.eos_token_id is None:
        raise UserError(f"{model_dir}: the tokenizer has no eos token to close entity names")
    name_seqs = [list(tok(n, add_special_tokens=False)["input_ids"]) + [tok.eos_token_id] for n in names]
    shared = EntityTrie.build(name_seqs) if cfg.style == "text" else None
    ranked: list[list[int]] = []
    for b in range(0, len(prompts), batch_size):
        chunk = prompts[b:b + batch_size]
        if shared is not None:
            tries: EntityTrie | list[EntityTrie] = shared
            cand_ids = [list(range(len(names)))] * len(chunk)
        else:  # per prompt: its labels "k.Name" plus every bare name
            tries, cand_ids = [], []
            for p in chunk:
                ids = list(p.labels) + list(range(len(names)))
                labels = [list(tok(x, add_special_tokens=False)["input_ids"]) + [tok.eos_token_id]
                          for x in p.labels.values()]
                tries.append(EntityTrie.build(labels + name_seqs))
                cand_ids.append(ids)
        out = constrained_beam_search(model, tok, [p.text for p in chunk], tries, beams=beams, batch_size=batch_size)
        for p_ids, res in zip(cand_ids, out):
            seen: list[int] = []
            for idx, _ in res:
                e = p_ids[idx]
                if e not in seen:
                    seen.append(e)
            ranked.append(seen)
    queries = [p.query for p in prompts]
    res = evaluate_rankings(ranked, [q.target for q in queries], time_aware_filters(queries, ds.all_facts()))
    res["model"] = str(model_dir)
    res["beams"] = beams
    return res
