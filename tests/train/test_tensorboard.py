"""TensorBoard logging (optional extra [tensorboard]) mirrors metrics.jsonl."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from modelworks.config import load_config
from modelworks.train import TrainConfig, fit

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="tensorboard is not installed (optional extra [tensorboard])")
def test_tensorboard_scalars_match_metrics_jsonl(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = load_config(TrainConfig, REPO / "configs/train/tiny.yaml", ["max_steps=3", "tensorboard=true", f"out={tmp_path}"])
    fit(cfg)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    tb = [e.value for e in acc.Scalars("train/loss")]
    jsonl = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert len(tb) == 3 and tb == pytest.approx(jsonl[:3], rel=1e-6)
