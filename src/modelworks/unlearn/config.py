"""Typed config of ``modelworks unlearn run|compare`` (YAML + ``key=value`` overrides)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from modelworks.config import check_numbers
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
        check_numbers(self, at_least_1=("eval_size", "max_retain_authors", "author_size", "retain_eval_size"))
        if self.source == "generated":
            self._check_generated(name)

    def _check_generated(self, name: str) -> None:
        from modelworks.unlearn.tofu_generator import _TEMPLATES, forget_percentages

        check_numbers(self, at_least_1=("questions_per_author",), at_least={2: ("n_authors",)})
        if self.questions_per_author > len(_TEMPLATES):
            raise ConfigError(f"key 'questions_per_author' must be at most {len(_TEMPLATES)} with source 'generated', "
                              f"got {self.questions_per_author}")
        pct = int(name[6:])
        if pct not in (1, 5, 10):
            raise ConfigError(f"key 'forget_split' must be forget01, forget05 or forget10 with source 'generated', "
                              f"got {name!r}")
        have = forget_percentages(self.n_authors)
        if pct not in have:
            splits = ", ".join(f"forget{p:02d}" for p in have) or "none"
            raise ConfigError(f"key 'n_authors' ({self.n_authors}) must be a multiple of {100 // math.gcd(pct, 100)} "
                              f"for data.forget_split {name} ({pct}% of the authors must be a whole number; "
                              f"{self.n_authors} authors allow: {splits})")


@dataclass
class ModelConfig:
    target: str | None = None  # an already fine-tuned model directory (skip fine-tuning)
    retain: str | None = None  # an already trained retain model directory
    base: str | None = None  # a pretrained HF causal LM to fine-tune into target and retain model (else a tiny LM
    # trained here from scratch with the sizes below)
    layers: int = 2
    hidden: int = 64
    heads: int = 4
    vocab_size: int = 512
    seed: int = 0

    def __post_init__(self) -> None:  # the same checks as models.TinyLMConfig, at load time
        check_numbers(self, at_least_1=("layers", "hidden", "heads"), at_least={8: ("vocab_size",)})
        if self.hidden % self.heads:
            raise ConfigError(f"key 'hidden' ({self.hidden}) must be divisible by 'heads' ({self.heads})")


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

    def __post_init__(self) -> None:
        # max_length: a prompt token and an answer token at least
        check_numbers(self, at_least_1=("epochs", "batch_size", "check_every"),
                      at_least_0=("pretrain_epochs", "target_rouge"), positive=("lr",), at_least={2: ("max_length",)})


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
        check_numbers(self, at_least_1=("n", "k"))


@dataclass
class MemoConfig:
    mode: Literal["suffix", "prefix"] = "suffix"
    step: int = 5
    max_new_tokens: int = 200
    batch_size: int = 64
    use_template: bool = True  # prompt with the QA template (our models know only that layout)

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("step", "max_new_tokens", "batch_size"))


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
        from modelworks.train.config import OPTIMIZERS
        from modelworks.unlearn.methods import method_names

        known = method_names()
        for key, names in (("method", [self.method]), ("methods", self.methods)):
            bad = [m for m in names if m not in known]
            if bad:
                raise ConfigError(f"key '{key}': unknown unlearning method '{bad[0]}'; choose from {', '.join(known)}")
        if not self.methods:
            raise ConfigError("key 'methods' needs at least one method (for 'modelworks unlearn compare')")

        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"key 'optimizer' must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        check_numbers(self, at_least_1=("batch_size",), positive=("epochs", "lr", "beta"),
                      at_least_0=("weight_decay", "warmup_epochs", "forget_weight", "retain_weight", "eval_every",
                                  "probe_every"))


@dataclass
class TemplateConfig:
    question_start: str = "Question: "
    question_end: str = "\nAnswer:"
    answer_start: str = " "


@dataclass
class UnlearnConfig:
    seed: int = 0
    device: str = "cpu"
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast mixed precision for training (eval stays fp32)
    threads: int = 0  # torch threads (0 = leave as is)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    invert: InvertConfig = field(default_factory=InvertConfig)
    memo: MemoConfig = field(default_factory=MemoConfig)
    unlearn: UnlearnStageConfig = field(default_factory=UnlearnStageConfig)
    template: TemplateConfig = field(default_factory=TemplateConfig)

    def __post_init__(self) -> None:
        check_numbers(self, at_least_0=("threads",))
        if self.precision == "bf16" and self.unlearn.engine == "train":
            # the train engine's bf16 casts the weights themselves; this recipe's bf16 is autocast only
            raise ConfigError("key 'precision': bf16 (autocast) applies to unlearn.engine loop; with engine train "
                              "keep precision fp32")
        if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", self.device):
            raise ConfigError(f"key 'device' must be cpu, cuda, cuda:N or mps, got {self.device!r}")
