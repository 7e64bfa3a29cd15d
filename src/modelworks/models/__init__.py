"""Tiny Llama-style models and tokenizers built here, and loading of local HF checkpoints."""

from modelworks.models._encoder import TextEncoder, default_encoder_path, embedding_cache_root
from modelworks.models._loading import load_causal_lm, load_tokenizer, resolve_model_path
from modelworks.models._tiny import TinyLMConfig, build_tiny_lm, train_tokenizer

__all__ = [
    "TextEncoder",
    "default_encoder_path",
    "embedding_cache_root",
    "TinyLMConfig",
    "build_tiny_lm",
    "train_tokenizer",
    "load_causal_lm",
    "load_tokenizer",
    "resolve_model_path",
]
