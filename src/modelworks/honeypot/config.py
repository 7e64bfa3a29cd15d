"""The typed config of ``modelworks honeypot run`` (see configs/honeypot/*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelworks.config import check_numbers
from modelworks.errors import ConfigError
from modelworks.honeypot.attacks import AttackConfig
from modelworks.honeypot.datasets import parse_ref
from modelworks.honeypot.defences import DefenceConfig
from modelworks.honeypot.honeypotnet import HoneypotConfig
from modelworks.honeypot.victims import ARCHITECTURES

__all__ = ["HoneypotRunConfig", "DataConfig", "VictimConfig", "VerifyConfig", "IndependentConfig"]


@dataclass
class DataConfig:
    image_size: int = 28
    channels: int = 1
    num_classes: int = 10
    victim_train: list[str] = field(default_factory=lambda: ["mnist[0:8000]", "mnist5k"])
    test: list[str] = field(default_factory=lambda: ["mnist[8000:10000]"])
    defender_queries: list[str] = field(default_factory=lambda: ["usps_test", "photos_a[0:3000]"])
    defender_own: int = 3000  # how many of the victim's training images the defender uses in the loop
    data_dir: str | None = None

    def __post_init__(self) -> None:
        for key in ("victim_train", "test", "defender_queries"):
            if not getattr(self, key):
                raise ConfigError(f"key '{key}' needs at least one data reference")
            for ref in getattr(self, key):
                try:
                    parse_ref(ref)
                except Exception as exc:  # noqa: BLE001 - re-raised as a config error with the key
                    raise ConfigError(f"key '{key}': {exc}") from None


@dataclass
class VictimConfig:
    arch: str = "cnn"
    width: int = 1
    epochs: int = 4
    lr: float = 2e-3
    batch_size: int = 128
    load: str | None = None  # a saved nn.Module (file or folder with model.pt) instead of training one

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"key 'arch' must be one of {', '.join(ARCHITECTURES)}, got '{self.arch}'")
        check_numbers(self, at_least_1=("batch_size", "width"), positive=("lr",))
        if self.load is None:  # a loaded victim is not trained
            check_numbers(self, at_least_1=("epochs",))


@dataclass
class IndependentConfig:
    """Clean models trained without the victim: the false-positive control and the verifier's null."""

    count: int = 2
    arch: str = "cnn"
    data: list[str] = field(default_factory=lambda: ["mnist5k"])
    epochs: int = 3
    lr: float = 2e-3

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"key 'arch' must be one of {', '.join(ARCHITECTURES)}, got '{self.arch}'")
        check_numbers(self, at_least_1=("count", "epochs"), positive=("lr",))


@dataclass
class VerifyConfig:
    queries: int = 100  # trigger queries sent to a suspect
    alpha: float = 1e-3
    min_p0: float = 0.01

    def __post_init__(self) -> None:
        if not 1 <= self.queries <= 100000:
            raise ConfigError("key 'queries' must be between 1 and 100000")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"key 'alpha' (a significance level) must be in (0, 1), got {self.alpha}")
        if not 0 < self.min_p0 < 1:
            raise ConfigError(f"key 'min_p0' must be in (0, 1), got {self.min_p0}")


@dataclass
class HoneypotRunConfig:
    seed: int = 0
    threads: int = 2
    data: DataConfig = field(default_factory=DataConfig)
    victim: VictimConfig = field(default_factory=VictimConfig)
    honeypot: HoneypotConfig = field(default_factory=HoneypotConfig)
    attacks: list[AttackConfig] = field(default_factory=lambda: [AttackConfig()])  # the first one is the main attack
    budgets: list[int] = field(default_factory=list)  # extra budgets of the main attack for the ASR curve
    defences: list[DefenceConfig] = field(default_factory=list)  # baselines, attacked with the main attack
    independent: IndependentConfig = field(default_factory=IndependentConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)

    def __post_init__(self) -> None:
        if not self.attacks:
            raise ConfigError("key 'attacks' needs at least one attack (the first is the main one)")
        names = [a.name for a in self.attacks]
        if len(set(names)) != len(names):
            raise ConfigError(f"key 'attacks': attack names must be unique, got {names}")
        if not 0 <= self.honeypot.target < self.data.num_classes:
            raise ConfigError(f"key 'honeypot.target' must be a class in 0..{self.data.num_classes - 1}")
        for i, attack in enumerate(self.attacks):
            _check_disjoint(self.data.defender_queries, attack.queries, f"attacks[{i}].queries")
        for i, b in enumerate(self.budgets):
            if b < 1:
                raise ConfigError(f"key 'budgets[{i}]' must be >= 1 (queries of the main attack), got {b}")


def _span(ref: str) -> tuple[str, int, float]:
    name, start, stop = parse_ref(ref)
    return name, start or 0, float("inf") if stop is None else stop


def _check_disjoint(defender: list[str], attacker: list[str], key: str) -> None:
    """The defender's shadow query set must not share images with the attacker's pool."""
    for a in attacker:
        an, a0, a1 = _span(a)
        for d in defender:
            dn, d0, d1 = _span(d)
            if an == dn and a0 < d1 and d0 < a1:
                raise ConfigError(
                    f"key '{key}': attacker pool '{a}' overlaps the defender's shadow set '{d}' "
                    "(keep them disjoint, e.g. usps_train vs usps_test, photos_b vs photos_a)"
                )
