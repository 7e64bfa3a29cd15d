"""ESC-RANK in the paper's form: one LoRA adapter per dimension (and language) on a causal LM.

Each adapter learns to answer the ESC-RANK prompt (:func:`modelworks.esc.judge.rank_prompt`)
with the human score as a single digit; scoring is greedy decoding + the ESC-Eval parse rule.
The paper used InternLM2-chat-7B with r=8, alpha=16, dropout 0 on the attention projection; here
any local HF causal LM directory works (a tiny one in tests).

Training goes through :func:`fit_adapter`, which hands the tokenized examples (loss on the answer
tokens only) to the CoLLiE engine :func:`modelworks.train.fit` with a LoRA ``PeftSpec``; a plain
AdamW loop is kept as the fallback for an install without the engine.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelworks.errors import UserError

__all__ = ["train_lora", "train_lora_esconv", "LoraScorer", "fit_adapter", "encode_example", "prompt_text",
           "esconv_prompt", "rating_template", "parse_rating", "ESCONV_QUESTIONS"]

# ESConv: what the seeker rated after the chat (1-5), as the question in the rating prompt (our wording).
# intensity_drop (a difference of two ratings, -4..4) is not a single rating and has no adapter.
ESCONV_QUESTIONS = {
    "empathy": "how well the supporter understood and shared the seeker's feelings",
    "relevance": "how relevant the supporter's replies were to what the seeker talked about",
}
_ESCONV_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "esconv_rating.txt"
_SPEAKERS = {"seeker": "Seeker", "supporter": "Supporter"}


def rating_template(path: str | Path | None = None) -> str:
    """The text of the ESConv rating prompt: ours (``esc/templates/esconv_rating.txt``) or the file ``path``,
    decoded verbatim; it must hold the {dialogue} slot ({question} is optional)."""
    from modelworks.esc.templates import read_template

    text = read_template(Path(path) if path is not None else _ESCONV_TEMPLATE, "esconv_rating")
    if "{dialogue}" not in text:
        raise UserError(f"template file for 'esconv_rating' has no {{dialogue}} slot: {path}")
    return text


def esconv_prompt(turns: Sequence[tuple[str, str]], target: str, template: str | None = None) -> str:
    """The rating prompt for an ESConv conversation: ``template`` (a text from :func:`rating_template`; ours
    when None) with the slots {question} and {dialogue} filled."""
    from modelworks.esc.templates import fill

    if target not in ESCONV_QUESTIONS:
        raise UserError(f"the LoRA form rates {', '.join(ESCONV_QUESTIONS)} (1-5 seeker ratings), not '{target}'")
    text = rating_template() if template is None else template
    dialogue = "\n\n".join(f"{_SPEAKERS.get(role, role)}: {t}" for role, t in turns)
    return fill(text, question=ESCONV_QUESTIONS[target], dialogue=dialogue)  # the dialogue last: its text stays as is


def parse_rating(reply: str | None, low: int = 1, high: int = 5) -> int:
    """The first whole number in ``reply`` that lies in [low, high], else -1; digits inside a longer number, a
    decimal or a negative number do not count: "4" -> 4, "I'd say 5." -> 5, "0 then 3" -> 3, "10" -> -1,
    "-3" -> -1, "4.5" -> -1, "" -> -1."""
    for m in re.finditer(r"(?<![\d.-])\d+(?![\d.]*\d)", reply or ""):
        if low <= int(m.group()) <= high:
            return int(m.group())
    return -1


def prompt_text(tokenizer, prompt: str) -> str:
    """The user message in the model's chat format (plain text + newline without a template)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return prompt + "\n"


def encode_example(tokenizer, prompt: str, answer: str, max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): labels are -100 on the prompt, so the loss is on the answer only.
    Long prompts lose tokens from the left (the question and the answer stay)."""
    p_ids = tokenizer(prompt_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        a_ids = a_ids + [tokenizer.eos_token_id]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    room = max_length - len(a_ids) - len(bos)
    if room < 8:
        raise UserError(f"max_length {max_length} is too small for the answer")
    p_ids = bos + p_ids[-room:]
    return p_ids + a_ids, [-100] * len(p_ids) + a_ids


def _lora_targets(model) -> list[str] | str:
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    for group in (["wqkv"], ["q_proj", "k_proj", "v_proj"], ["c_attn"], ["query_key_value"]):
        if all(g in names for g in group):
            return group
    return "all-linear"


def fit_adapter(base, tokenizer, examples: Sequence[tuple[str, str]], out: Path, r: int = 8, alpha: int = 16,
                epochs: int = 2, lr: float = 2e-4, batch_size: int = 4, max_length: int = 1024,
                seed: int = 0) -> tuple[object, list[float]]:
    """Train a fresh LoRA adapter on ``base`` for (prompt, answer) pairs; returns (peft model, losses).

    Runs through the CoLLiE engine (``modelworks.train.fit``; its run folder is ``out``)."""
    data = [encode_example(tokenizer, p, a, max_length) for p, a in examples]
    targets = _lora_targets(base)
    try:
        from modelworks.train import PeftSpec, TrainConfig, fit
    except ImportError:  # pragma: no cover - the engine ships with modelworks; kept for partial installs
        return _plain_loop(base, data, targets, r, alpha, epochs, lr, batch_size, seed, tokenizer)
    cfg = TrainConfig(
        model=str(getattr(base.config, "_name_or_path", "local")), lr=lr, batch_size=min(batch_size, len(data)),
        epochs=float(epochs),
        max_len=max_length, peft=PeftSpec(method="lora", r=r, alpha=alpha, dropout=0.0,
                                          target_modules=list(targets) if isinstance(targets, list) else []),
        out=str(out), seed=seed, device="cpu", progress=False, tensorboard=False, save_model=False)
    res = fit(cfg, model=base, tokenizer=tokenizer,
              train_dataset=[{"input_ids": ids, "labels": lab} for ids, lab in data])
    res.model.eval()
    return res.model, [float(h["loss"]) for h in res.history]


def _plain_loop(base, data, targets, r, alpha, epochs, lr, batch_size, seed, tokenizer):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(base, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets,
                                            task_type="CAUSAL_LM"))
    rng = np.random.default_rng(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    losses = []
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(data))
        for s in range(0, len(order), batch_size):
            batch = [data[i] for i in order[s:s + batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (i, lab) in enumerate(batch):
                ids[row, :len(i)] = torch.tensor(i)
                labels[row, :len(lab)] = torch.tensor(lab)
                mask[row, :len(i)] = 1
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
    model.eval()
    return model, losses


def train_lora(items, out: str | Path, dims: Sequence[str], base_model: str | None = None, epochs: int = 2,
               lr: float = 2e-4, batch_size: int = 4, max_length: int = 1024, r: int = 8, alpha: int = 16,
               templates: dict[str, str] | None = None, per_language: bool = True, seed: int = 0) -> dict[str, Any]:
    """One adapter per dimension (x language when ``per_language``); saved under ``out/adapters``."""
    if not base_model:
        raise UserError("the LoRA form needs --base-model DIR (a local HF causal LM)")

    from modelworks.esc.judge import rank_prompt
    from modelworks.esc.templates import load_templates
    from modelworks.models import load_causal_lm, load_tokenizer
    from modelworks.runs import atomic_write_json

    out = Path(out)
    langs = sorted({it.language for it in items}) if per_language else ["all"]
    tmpl = {lang: load_templates(lang, templates) for lang in {it.language for it in items}}
    tok = load_tokenizer(base_model)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    adapters, history = {}, {}
    for dim in dims:
        for lang in langs:
            chosen = [it for it in items if dim in it.scores and (lang == "all" or it.language == lang)]
            if not chosen:
                continue
            name = dim if lang == "all" else f"{dim}_{lang}"
            examples = [(rank_prompt(it.utterances, dim, tmpl[it.language]), str(int(round(it.scores[dim]))))
                        for it in chosen]
            base = load_causal_lm(base_model)
            t0 = time.perf_counter()
            model, losses = fit_adapter(base, tok, examples, out / "train" / name, r=r, alpha=alpha, epochs=epochs,
                                        lr=lr, batch_size=batch_size, max_length=max_length, seed=seed)
            model.save_pretrained(out / "adapters" / name)
            adapters[name] = {"dimension": dim, "language": lang, "examples": len(examples)}
            history[name] = {"first_loss": losses[0], "last_loss": losses[-1], "steps": len(losses),
                             "seconds": round(time.perf_counter() - t0, 2)}
    atomic_write_json(out / "scorer.json", {
        "form": "lora", "base_model": str(Path(base_model).resolve()), "targets": list(dims), "adapters": adapters,
        "templates": templates or {}, "max_length": max_length, "per_language": per_language, "history": history})
    return {"adapters": sorted(adapters), "history": history}


def train_lora_esconv(convs, targets: Sequence[str], out: str | Path, base_model: str | None = None,
                      epochs: int = 2, lr: float = 2e-4, batch_size: int = 4, max_length: int = 1024, r: int = 8,
                      alpha: int = 16, template: str | None = None, seed: int = 0) -> dict[str, Any]:
    """One adapter per ESConv target on the conversations with a survey: the prompt
    (:func:`esconv_prompt`) is answered with the seeker's rating as one digit."""
    if not base_model:
        raise UserError("the LoRA form needs --base-model DIR (a local HF causal LM)")
    from modelworks.esc.rank.esconv import target_value
    from modelworks.models import load_causal_lm, load_tokenizer
    from modelworks.runs import atomic_write_json

    text = rating_template(template)  # before training: an unreadable template or unknown target fails here
    rated = {}
    for t in targets:
        esconv_prompt([], t, text)
        rated[t] = [(c, v) for c in convs if (v := target_value(c, t)) is not None]
        if not rated[t]:
            raise UserError(f"no conversation has a post-chat survey for '{t}'")
    out = Path(out)
    tok = load_tokenizer(base_model)
    adapters, history = {}, {}
    for target in targets:
        examples = [(esconv_prompt(c.turns, target, text), str(int(round(v)))) for c, v in rated[target]]
        t0 = time.perf_counter()
        model, losses = fit_adapter(load_causal_lm(base_model), tok, examples, out / "train" / target, r=r,
                                    alpha=alpha, epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
                                    seed=seed)
        model.save_pretrained(out / "adapters" / target)
        adapters[target] = {"dimension": target, "language": "en", "examples": len(examples)}
        history[target] = {"first_loss": losses[0], "last_loss": losses[-1], "steps": len(losses),
                           "seconds": round(time.perf_counter() - t0, 2)}
    atomic_write_json(out / "scorer.json", {
        "form": "lora", "kind": "esconv", "base_model": str(Path(base_model).resolve()), "targets": list(targets),
        "adapters": adapters, "template_file": str(Path(template).resolve()) if template else None,
        "template_text": text,  # the prompt the adapters learned, kept with them
        "max_length": max_length, "history": history})
    return {"adapters": sorted(adapters), "history": history}


class LoraScorer:
    """Loads the base model once and switches adapters with PEFT ``set_adapter`` (as ESC-RANK does)."""

    def __init__(self, path: Path, spec: dict) -> None:
        self.path = path
        self.spec = spec
        self.targets = spec["targets"]
        self._model = None
        self._tok = None

    @classmethod
    def load(cls, path: str | Path) -> LoraScorer:
        p = Path(path)
        return cls(p, json.loads((p / "scorer.json").read_text(encoding="utf-8")))

    def _load(self):
        if self._model is None:
            from peft import PeftModel

            from modelworks.models import load_causal_lm, load_tokenizer

            self._tok = load_tokenizer(self.spec["base_model"])
            names = sorted(self.spec["adapters"])
            model = PeftModel.from_pretrained(load_causal_lm(self.spec["base_model"]),
                                              str(self.path / "adapters" / names[0]), adapter_name=names[0])
            for n in names[1:]:
                model.load_adapter(str(self.path / "adapters" / n), adapter_name=n)
            self._model = model.eval()
        return self._model, self._tok

    def adapter_for(self, dim: str, lang: str) -> str:
        for name in (f"{dim}_{lang}", dim):
            if name in self.spec["adapters"]:
                return name
        return next(n for n, a in sorted(self.spec["adapters"].items()) if a["dimension"] == dim)

    def reply(self, prompt: str, adapter: str) -> str:
        import torch

        model, tok = self._load()
        model.set_adapter(adapter)
        ids, _ = encode_example(tok, prompt, "", self.spec["max_length"])
        ids = ids[:-1] if tok.eos_token_id is not None and ids and ids[-1] == tok.eos_token_id else ids
        x = torch.tensor([ids])
        with torch.inference_mode():
            gen = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=4, do_sample=False,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        return tok.decode(gen[0, len(ids):], skip_special_tokens=True)

    def score(self, conversations: Sequence[Sequence[tuple[str, str]]], target: str) -> np.ndarray:
        """ESConv scorer: the parsed 1-5 rating per conversation (NaN where the reply held none)."""
        if self.spec.get("kind") != "esconv":
            raise UserError(f"{self.path} scores ESC-Eval dimensions: evaluate it on annotation data")
        text = self.spec["template_text"]
        vals = [parse_rating(self.reply(esconv_prompt(turns, target, text), target)) for turns in conversations]
        return np.array([np.nan if v < 0 else float(v) for v in vals])

    def score_dialogues(self, dialogues: Sequence[Sequence[str]], dims: Sequence[str],
                        languages: Sequence[str]) -> dict[str, np.ndarray]:
        """Per dimension, the parsed scores (NaN where the reply held no digit 0-4, i.e. -1)."""
        from modelworks.esc.judge import parse_score, rank_prompt
        from modelworks.esc.templates import load_templates

        tmpl = {lang: load_templates(lang, self.spec.get("templates") or None) for lang in set(languages)}
        out = {}
        for d in dims:
            vals = []
            for utts, lang in zip(dialogues, languages, strict=True):
                s = parse_score(self.reply(rank_prompt(utts, d, tmpl[lang]), self.adapter_for(d, lang)))
                vals.append(np.nan if s < 0 else float(s))
            out[d] = np.array(vals)
        return out
