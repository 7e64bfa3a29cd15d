"""The utterance encoder of the light ESC-RANK scorer: the shared MiniLM :class:`TextEncoder`.

Utterances are short, so 128 tokens suffice; embeddings are cached per utterance in
``<cache root>/esc/minilm_embeddings.sqlite`` so a scorer trained on thousands of conversations
embeds each utterance once and light heads are refit in seconds afterwards.
"""

from __future__ import annotations

from pathlib import Path

from modelworks.models import TextEncoder, embedding_cache_root

__all__ = ["utterance_encoder", "default_cache_path"]


def default_cache_path() -> Path:
    return embedding_cache_root() / "esc" / "minilm_embeddings.sqlite"


def utterance_encoder(model_dir: str | Path | None = None, cache: bool = True) -> TextEncoder:
    """MiniLM (or the encoder in ``model_dir``) with the ESC-RANK settings and cache."""
    return TextEncoder(model_dir, max_length=128, batch_size=64, cache=default_cache_path() if cache else None)
