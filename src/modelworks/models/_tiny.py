"""Build a tiny Llama-style causal LM and a BPE tokenizer trained on given text.

The result is an ordinary Hugging Face directory: ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load it, and so does every ``hf/<dir>`` command of modelworks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelworks.config import check_numbers
from modelworks.errors import ConfigError

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]

# Our own minimal chat template: one line per turn, then the assistant tag when a reply is wanted.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@dataclass
class TinyLMConfig:
    """Shape of a tiny Llama (defaults: 2 layers, 64 dims — seconds to train on a CPU)."""

    layers: int = 2
    hidden: int = 64
    heads: int = 4
    kv_heads: int | None = None
    intermediate: int | None = None
    vocab_size: int = 512
    max_positions: int = 512
    tie_embeddings: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("layers", "hidden", "heads", "kv_heads", "intermediate", "max_positions"),
                      at_least={2 * len(SPECIAL_TOKENS): ("vocab_size",)})
        if self.hidden % self.heads:
            raise ConfigError(f"key 'hidden' ({self.hidden}) must be divisible by 'heads' ({self.heads})")
        kv = self.kv_heads or self.heads
        if self.heads % kv:
            raise ConfigError(f"key 'heads' ({self.heads}) must be divisible by 'kv_heads' ({kv})")


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512, extra_tokens: Iterable[str] = ()):
    """A byte-level BPE tokenizer trained on ``texts``, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = SPECIAL_TOKENS + ["<|system|>", "<|user|>", "<|assistant|>"] + list(extra_tokens)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_lm(
    config: TinyLMConfig, texts: Iterable[str] | None = None, out_dir: str | Path | None = None, tokenizer=None
):
    """A randomly initialised tiny Llama and its tokenizer; saved to ``out_dir`` when given.

    Give either ``texts`` (a tokenizer is trained on them) or a ready ``tokenizer``.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from modelworks.models._loading import quiet_transformers

    quiet_transformers()

    if tokenizer is None:
        if texts is None:
            raise ConfigError("build_tiny_lm needs texts to train a tokenizer on, or a tokenizer")
        tokenizer = train_tokenizer(texts, vocab_size=config.vocab_size)
    hf_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden,
        intermediate_size=config.intermediate or 4 * config.hidden,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.kv_heads or config.heads,
        max_position_embeddings=config.max_positions,
        tie_word_embeddings=config.tie_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(hf_config)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return model, tokenizer
