"""GuardRank: trainable response scorers, one 0-3 head per dimension and a binary hallucination head.

Two forms share the input text ``Dimension: {dim} Prompt: {prompt} Answer: {response}``:

- ``encoder`` (CPU default): a frozen HF encoder (MiniLM by default) embeds the text once (cached);
  a logistic-regression head per dimension is fitted on the embeddings (4 classes; 2 for
  hallucination). Seconds to train on 2 cores.
- ``lora`` (the paper's form): an HF causal LM with a sequence-classification head
  (``AutoModelForSequenceClassification``, 4 labels, pad = eos) and LoRA adapters, trained through
  the CoLLiE engine (``modelworks.train.fit``) with a classification loss (:func:`fit_lora`).

Training data is JSONL with ``dimension``, ``subtask`` (optional), ``prompt``, ``response``, ``label``.
A trained GuardRank is a folder with ``guardrank.json`` (+ ``heads.npz`` or the LoRA adapter).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.guard.taxonomy import DIMENSIONS, norm_name
from modelworks.jsonl import read_jsonl

__all__ = ["GUARDRANK_INPUT", "GuardRankConfig", "GuardRank", "read_labelled", "head_of", "guardrank_text"]

GUARDRANK_INPUT = "Dimension: {dimension} Prompt: {prompt} Answer: {response}"


def guardrank_text(dimension: str, prompt: str, response: str) -> str:
    return GUARDRANK_INPUT.format(dimension=dimension, prompt=prompt, response=response)


def head_of(dimension: str, subtask: str | None) -> str:
    """Which head scores a sample: ``hallucination`` or the dimension name."""
    return "hallucination" if norm_name(subtask or "") == "hallucination" else norm_name(dimension)


@dataclass
class GuardRankConfig:
    kind: str = "encoder"  # encoder | lora
    encoder: str | None = None  # HF encoder folder; default the packaged MiniLM
    base_model: str | None = None  # causal LM folder for kind=lora
    max_length: int = 256
    C: float = 2.0
    epochs: int = 3
    lr: float = 5e-4
    batch_size: int = 8
    lora_r: int = 8
    lora_alpha: int = 16
    seed: int = 0
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        from modelworks.errors import ConfigError

        if self.kind not in ("encoder", "lora"):
            raise ConfigError(f"key 'kind' must be encoder or lora, got '{self.kind}'")
        if self.kind == "lora" and not self.base_model:
            raise ConfigError("key 'base_model' is required when kind is lora (a local causal LM folder)")
        from modelworks.config import check_numbers

        check_numbers(self, at_least_1=("epochs", "batch_size"), positive=("lr",))


def read_labelled(path: str | Path) -> list[dict[str, Any]]:
    out = []
    for where, obj in read_jsonl(path, "labelled data"):
        for key in ("dimension", "prompt", "response", "label"):
            if obj.get(key) is None:
                raise UserError(f"{where}: missing field '{key}'")
        dim = norm_name(obj["dimension"])
        if dim not in DIMENSIONS:
            raise UserError(f"{where}: unknown dimension '{obj['dimension']}'; expected one of {', '.join(DIMENSIONS)}")
        head = head_of(dim, obj.get("subtask"))
        top = 1 if head == "hallucination" else 3
        if not isinstance(obj["label"], int) or not 0 <= obj["label"] <= top:
            raise UserError(f"{where}: field 'label' must be an integer 0..{top} for {head}, got {obj['label']!r}")
        out.append({**obj, "dimension": dim, "head": head})
    if not out:
        raise UserError(f"{path}: no labelled records")
    return out


def _fit_head(x, y, C: float, seed: int) -> dict[str, Any]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(int(v) for v in y))
    if len(classes) == 1:
        return {"classes": classes, "coef": np.zeros((0, x.shape[1])), "intercept": np.zeros(0)}
    clf = LogisticRegression(C=C, max_iter=2000, random_state=seed, class_weight="balanced")
    clf.fit(x, y)
    return {"classes": [int(c) for c in clf.classes_], "coef": clf.coef_, "intercept": clf.intercept_}


def _predict_head(head: dict[str, Any], x):
    import numpy as np

    classes = head["classes"]
    if len(classes) == 1:
        return np.full(len(x), classes[0])
    logits = x @ np.asarray(head["coef"]).T + np.asarray(head["intercept"])
    if logits.shape[1] == 1:
        return np.where(logits[:, 0] > 0, classes[1], classes[0])
    return np.asarray(classes)[logits.argmax(1)]


class GuardRank:
    def __init__(self, config: GuardRankConfig, heads: dict[str, dict[str, Any]] | None = None,
                 lora: Any = None) -> None:
        self.config = config
        self.heads = heads or {}
        self._lora = lora
        self._encoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            from modelworks.models import TextEncoder

            cache = Path(self.config.cache_dir) / "embeddings.sqlite" if self.config.cache_dir else None
            self._encoder = TextEncoder(self.config.encoder, self.config.max_length, batch_size=16, cache=cache)
        return self._encoder

    @staticmethod
    def _texts(records: list[dict[str, Any]]) -> list[str]:
        return [guardrank_text(r["dimension"], r["prompt"], r["response"]) for r in records]

    @classmethod
    def fit(cls, records: list[dict[str, Any]], config: GuardRankConfig | None = None) -> GuardRank:
        import numpy as np

        cfg = config or GuardRankConfig()
        for r in records:
            r.setdefault("head", head_of(r["dimension"], r.get("subtask")))
        if cfg.kind == "lora":
            from modelworks.guard.lora_classifier import fit_lora

            return cls(cfg, lora=fit_lora(cls._texts(records), [int(r["label"]) for r in records], cfg))
        model = cls(cfg)
        x = model.encoder.encode(cls._texts(records))
        y = np.array([int(r["label"]) for r in records])
        heads_of = np.array([r["head"] for r in records])
        for head in sorted(set(heads_of)):
            mask = heads_of == head
            model.heads[head] = _fit_head(x[mask], y[mask], cfg.C, cfg.seed)
        return model

    def predict(self, records: list[dict[str, Any]]) -> list[int]:
        import numpy as np

        if not records:
            return []
        heads = [head_of(r["dimension"], r.get("subtask")) for r in records]
        if self._lora is not None:
            preds = self._lora.predict(self._texts(records))
            return [min(int(p), 1) if h == "hallucination" else int(p) for p, h in zip(preds, heads, strict=True)]
        missing = sorted(set(heads) - set(self.heads))
        if missing:
            raise UserError(f"this GuardRank has no head for '{missing[0]}' (trained heads: {', '.join(self.heads)})")
        x = self.encoder.encode(self._texts(records))
        out = np.zeros(len(records), dtype=int)
        harr = np.array(heads)
        for head in set(heads):
            mask = harr == head
            out[mask] = _predict_head(self.heads[head], x[mask])
        return [int(v) for v in out]

    def save(self, out_dir: str | Path) -> Path:
        import numpy as np

        from modelworks.runs import atomic_write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        cfg = asdict(self.config)
        if self._lora is not None:
            self._lora.save(out / "lora")
        else:
            arrays = {}
            for h, head in self.heads.items():
                arrays[f"{h}.coef"] = np.asarray(head["coef"])
                arrays[f"{h}.intercept"] = np.asarray(head["intercept"])
            tmp = out / ".heads.tmp.npz"
            np.savez(tmp, **arrays)
            tmp.replace(out / "heads.npz")
        atomic_write_json(out / "guardrank.json", {
            "format": "modelworks.guardrank/1", "config": cfg, "input": GUARDRANK_INPUT,
            "heads": {h: {"classes": head["classes"]} for h, head in self.heads.items()},
        })
        return out

    @classmethod
    def load(cls, path: str | Path) -> GuardRank:
        import numpy as np

        p = Path(path)
        meta_path = p / "guardrank.json"
        if not meta_path.is_file():
            raise UserError(f"not a trained GuardRank folder (no guardrank.json): {p}")
        from modelworks.jsonl import read_json

        meta = read_json(meta_path, "GuardRank settings file")
        cfg = GuardRankConfig(**meta["config"])
        if cfg.kind == "lora":
            from modelworks.guard.lora_classifier import LoraClassifier

            return cls(cfg, lora=LoraClassifier.load(p / "lora", cfg))
        arrays = np.load(p / "heads.npz")
        heads = {h: {"classes": info["classes"], "coef": arrays[f"{h}.coef"], "intercept": arrays[f"{h}.intercept"]}
                 for h, info in meta["heads"].items()}
        return cls(cfg, heads=heads)
