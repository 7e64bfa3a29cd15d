"""GuardRank in the paper's form: a causal LM with a classification head, trained with LoRA.

``AutoModelForSequenceClassification`` over a local causal LM folder (pad = eos, as in the
reference), LoRA on the attention projections, the score head trained in full. Training goes through
the CoLLiE engine (``modelworks.train.fit``) with a cross-entropy loss over the 4 classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelworks.errors import UserError

__all__ = ["LoraClassifier", "fit_lora"]


def _target_modules(model: Any) -> list[str]:
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    for pair in (["q_proj", "v_proj"], ["query", "value"], ["c_attn"], ["qkv_proj"], ["wqkv"]):
        if all(p in names for p in pair):
            return pair
    raise UserError("cannot find attention projections (q_proj/v_proj, query/value, c_attn) for LoRA in this model")


def _load_base(base_model: str, num_labels: int):
    from transformers import AutoModelForSequenceClassification

    from modelworks.models import load_tokenizer, resolve_model_path

    local = resolve_model_path(base_model)
    tok = load_tokenizer(local, padding_side="right")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(local, num_labels=num_labels)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load '{base_model}' as a sequence classifier: {first[:200]}") from None
    model.config.pad_token_id = tok.pad_token_id
    return model, tok


class LoraClassifier:
    def __init__(self, model: Any, tokenizer: Any, max_length: int = 256, num_labels: int = 4) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.num_labels = num_labels
        self.history: list[dict[str, Any]] = []

    def logits(self, texts: list[str], batch_size: int = 8):
        import torch

        self.model.eval()
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
            with torch.no_grad():
                out.append(self.model(**enc).logits.float())
        return torch.cat(out) if out else torch.zeros(0, self.num_labels)

    def predict(self, texts: list[str]) -> list[int]:
        return [int(v) for v in self.logits(texts).argmax(-1).tolist()]

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        (out / "classifier.json").write_text(json.dumps({"max_length": self.max_length,
                                                          "num_labels": self.num_labels}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, cfg: Any) -> LoraClassifier:
        from peft import PeftModel

        from modelworks.jsonl import read_json

        meta = read_json(path / "classifier.json", "classifier settings file")
        base, tok = _load_base(cfg.base_model, meta["num_labels"])
        model = PeftModel.from_pretrained(base, path)
        return cls(model, tok, meta["max_length"], meta["num_labels"])


def fit_lora(texts: list[str], labels: list[int], cfg: Any, num_labels: int = 4) -> LoraClassifier:
    """Train LoRA adapters + the score head for ``cfg.epochs`` epochs through the CoLLiE engine's ``fit``."""
    import tempfile

    import torch
    from peft import LoraConfig, get_peft_model

    from modelworks.train import TrainConfig, fit

    torch.manual_seed(cfg.seed)
    base, tok = _load_base(cfg.base_model, num_labels)
    peft_cfg = LoraConfig(task_type="SEQ_CLS", r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                          target_modules=_target_modules(base))
    model = get_peft_model(base, peft_cfg)
    items = [{"input_ids": tok(t, truncation=True, max_length=cfg.max_length)["input_ids"], "cls": int(y)}
             for t, y in zip(texts, labels, strict=True)]

    def classification_loss(m: Any, batch: dict[str, Any]):
        logits = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return torch.nn.functional.cross_entropy(logits.float(), batch["cls"].long())

    with tempfile.TemporaryDirectory(prefix="guardrank-lora-") as tmp:
        train_cfg = TrainConfig(model=str(cfg.base_model), optimizer="adamw", lr=cfg.lr, batch_size=cfg.batch_size,
                                epochs=float(cfg.epochs), max_len=cfg.max_length, seed=cfg.seed, device="cpu",
                                out=tmp, save_model=False, progress=False, tensorboard=False)
        result = fit(train_cfg, model=model, tokenizer=tok, train_dataset=items, loss_fn=classification_loss)
    trained = result.model
    trained.eval()
    clf = LoraClassifier(trained, tok, cfg.max_length, num_labels)
    clf.history = result.history
    return clf
