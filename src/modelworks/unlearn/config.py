"""Typed config of ``modelworks unlearn run|compare`` (YAML + ``key=value`` overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from modelworks.errors import ConfigError

__all__ = ["DataConfig", "ModelConfig", "FinetuneConfig", "InvertConfig", "MemoConfig", "UnlearnStageConfig",
           "TemplateConfig", "UnlearnConfig"]


@dataclass
class DataConfig:
    source: str = "generated"  # a TOFU-format directory, 'locuslab/TOFU', or 'generated'
    n_authors: int = 10  # generated only
    questions_per_author: int = 20  # generated only
    forget_split: str = "forget10"
    eval_size: int = 300  # TOFU ds_size: rows per eval set
    max_retain_authors: int | None = None  # CPU scale-down: train on the first N retain authors + the forget authors
    author_size: int = 20  # rows per author block (TOFU: 20)
    retain_eval_size: int | None = None  # rows of retain_perturbed to evaluate (default: eval_size)

    def __post_init__(self) -> None:
        name = self.forget_split
        if not (name.startswith("forget") and name[6:].isdigit()):
            raise ConfigError(f"key 'forget_split' must look like forgetNN (forget01, forget05, forget10), got {name!r}")
        if self.eval_size < 1:
            raise ConfigError("key 'eval_size' must be positive")


@dataclass
class ModelConfig:
    target: str | None = None  # an already fine-tuned model directory (skip fine-tuning)
    retain: str | None = None  # an already trained retain model directory
    layers: int = 2
    hidden: int = 64
    heads: int = 4
    vocab_size: int = 512
    seed: int = 0


@dataclass
class FinetuneConfig:
    pretrain_epochs: int = 0  # on real_authors + world_facts QA first ("pretraining knowledge")
    replay_pretrain: bool = False  # keep those QA in the fine-tuning mix (tiny models forget them otherwise)
    epochs: int = 20  # at most, on `full` (and the same number for the retain model)
    lr: float = 3e-3
    batch_size: int = 16
    target_rouge: float = 0.9  # stop once forget ROUGE-L recall reaches this
    check_every: int = 5
    max_length: int = 160


@dataclass
class InvertConfig:
    source: Literal["offline", "meow_file", "chat"] = "offline"
    n: int = 4
    k: int = 3
    select: Literal["largest", "smallest", "random"] = "largest"
    file: str | None = None  # MEOW released JSON (source=meow_file)
    chat_model: str = "mock"  # any modelworks.chat spec (source=chat)
    template_file: str | None = None  # used verbatim; slots {question} {answer} {n}
    use_memo: bool = True  # False: keep the first k candidates (skips MEMO)

    def __post_init__(self) -> None:
        if self.source == "meow_file" and not self.file:
            raise ConfigError("key 'file' is required when invert.source is meow_file")
        if self.k < 1 or self.n < 1:
            raise ConfigError("keys 'n' and 'k' must be at least 1")


@dataclass
class MemoConfig:
    mode: Literal["suffix", "prefix"] = "suffix"
    step: int = 5
    max_new_tokens: int = 200
    batch_size: int = 64
    use_template: bool = True  # prompt with the QA template (our models know only that layout)


@dataclass
class UnlearnStageConfig:
    method: str = "meow"
    engine: Literal["loop", "train"] = "loop"  # loop: this package's loop (per-step probes); train: modelworks.train.fit
    optimizer: str = "adamw"  # engine=train: any optimizer of the train registry
    methods: list[str] = field(default_factory=lambda: ["meow", "ga", "gd", "kl", "idk", "dpo", "npo"])  # compare
    epochs: float = 10.0  # passes over the forget questions
    lr: float = 1e-5
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    beta: float = 0.1
    forget_weight: float = 1.0
    retain_weight: float = 1.0
    retain_loss: str | None = None  # none | nll | kl ; null = the method's default
    eval_every: int = 0  # full TOFU eval every N steps (0 = only at the end)
    probe_every: int = 1  # forget / retain NLL on a fixed probe batch every N steps

    def __post_init__(self) -> None:
        if self.retain_loss not in (None, "none", "nll", "kl"):
            raise ConfigError(f"key 'retain_loss' must be one of none, nll, kl, got {self.retain_loss!r}")
        if self.epochs <= 0 or self.batch_size < 1:
            raise ConfigError("keys 'epochs' and 'batch_size' must be positive")


@dataclass
class TemplateConfig:
    question_start: str = "Question: "
    question_end: str = "\nAnswer:"
    answer_start: str = " "


@dataclass
class UnlearnConfig:
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch threads (0 = leave as is)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    invert: InvertConfig = field(default_factory=InvertConfig)
    memo: MemoConfig = field(default_factory=MemoConfig)
    unlearn: UnlearnStageConfig = field(default_factory=UnlearnStageConfig)
    template: TemplateConfig = field(default_factory=TemplateConfig)
