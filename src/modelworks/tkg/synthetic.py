"""A seeded synthetic temporal KG with periodic and recency patterns, written in the standard format.

Each stream is one ``(subject, relation)`` pair:

- **periodic** streams fire every ``p`` steps (2 <= p <= 7) and cycle through 1–3 objects;
- **recency** streams fire with probability ``fire`` per step and repeat their current object, which
  switches to a random entity with probability ``switch`` per step;
- a share ``noise`` of all facts gets a random object instead.

Timestamps are multiples of ``time_step``; the last ``valid_fraction`` / ``test_fraction`` of the
timestamps form the valid and test splits (extrapolation). The same seed gives the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelworks.config import check_numbers
from modelworks.errors import ConfigError
from modelworks.runs import atomic_write_text

__all__ = ["SyntheticConfig", "generate_synthetic", "write_synthetic"]


@dataclass
class SyntheticConfig:
    entities: int = 60
    relations: int = 6
    timestamps: int = 100
    streams: int = 120
    periodic_share: float = 0.5
    fire: float = 0.35
    switch: float = 0.05
    noise: float = 0.05
    time_step: int = 24
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("relations", "timestamps", "streams", "time_step"), at_least={4: ("entities",)})
        for key in ("periodic_share", "fire", "switch", "noise", "valid_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"key '{key}' must be in [0, 1], got {getattr(self, key)}")
        if self.valid_fraction + self.test_fraction >= 0.9:
            raise ConfigError("keys 'valid_fraction' + 'test_fraction' must leave some timestamps for training")
        if int(self.timestamps * min(self.valid_fraction, self.test_fraction)) < 1:
            raise ConfigError("key 'timestamps' is too small for the valid/test fractions (each needs >= 1 step)")


def generate_synthetic(cfg: SyntheticConfig) -> dict[str, np.ndarray]:
    """``{"train","valid","test"}`` -> (N, 4) facts ``[s, r, o, t]`` (time in units of ``time_step``)."""
    rng = np.random.default_rng(cfg.seed)
    facts: list[tuple[int, int, int, int]] = []
    used: set[tuple[int, int]] = set()
    for k in range(cfg.streams):
        s, r = int(rng.integers(cfg.entities)), int(rng.integers(cfg.relations))
        if (s, r) in used:
            continue
        used.add((s, r))
        others = [e for e in range(cfg.entities) if e != s]
        if k < cfg.periodic_share * cfg.streams:
            period, phase = int(rng.integers(2, 8)), int(rng.integers(0, 7))
            cycle = [int(x) for x in rng.choice(others, size=int(rng.integers(1, 4)), replace=False)]
            for t in range(phase, cfg.timestamps, period):
                facts.append((s, r, cycle[(t // period) % len(cycle)], t))
        else:
            current = int(rng.choice(others))
            for t in range(cfg.timestamps):
                if rng.random() < cfg.switch:
                    current = int(rng.choice(others))
                if rng.random() < cfg.fire:
                    facts.append((s, r, current, t))
    arr = np.asarray(facts, dtype=np.int64).reshape(-1, 4)
    noisy = rng.random(len(arr)) < cfg.noise
    arr[noisy, 2] = rng.integers(cfg.entities, size=int(noisy.sum()))
    arr = arr[np.argsort(arr[:, 3], kind="stable")]
    n_test = int(cfg.timestamps * cfg.test_fraction)
    n_valid = int(cfg.timestamps * cfg.valid_fraction)
    t_valid, t_test = cfg.timestamps - n_test - n_valid, cfg.timestamps - n_test
    arr[:, 3] *= cfg.time_step
    ts = arr[:, 3] // cfg.time_step
    return {"train": arr[ts < t_valid], "valid": arr[(ts >= t_valid) & (ts < t_test)], "test": arr[ts >= t_test]}


def write_synthetic(cfg: SyntheticConfig, out_dir: str | Path) -> Path:
    """Write the dataset folder (train/valid/test.txt, entity2id.txt, relation2id.txt); returns it."""
    out = Path(out_dir)
    splits = generate_synthetic(cfg)
    for name, arr in splits.items():
        atomic_write_text(out / f"{name}.txt", "".join(f"{s}\t{r}\t{o}\t{t}\t0\n" for s, r, o, t in arr.tolist()))
    atomic_write_text(out / "entity2id.txt", "".join(f"Entity_{i}\t{i}\n" for i in range(cfg.entities)))
    atomic_write_text(out / "relation2id.txt", "".join(f"relation_{i}\t{i}\n" for i in range(cfg.relations)))
    return out
