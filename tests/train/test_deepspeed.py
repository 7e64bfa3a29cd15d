"""DeepSpeed ZeRO (the optional [deepspeed] backend) equals the single-process run on CPU.

Skipped where DeepSpeed is not installed (it is an optional extra: install it with
``pip install --no-build-isolation 'modelworks[deepspeed]'``)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.train.test_distributed import COMMON, _torchrun, reference  # noqa: F401 - fixture reused

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                    reason="DeepSpeed is not installed (optional extra [deepspeed])")
def test_deepspeed_zero2_and_zero3_match_single_process(reference, tmp_path):  # noqa: F811
    runs = _torchrun(2, [
        COMMON + ["parallel=deepspeed", "zero_stage=2", "batch_size=2", f"out={tmp_path / 'z2'}"],
        COMMON + ["parallel=deepspeed", "zero_stage=3", "batch_size=2", f"out={tmp_path / 'z3'}"],
    ], tmp_path)
    for name, run in zip(("zero2", "zero3"), runs):
        diff = max(abs(a - b) for a, b in zip(reference, run["losses"]))
        assert len(run["losses"]) == 10 and diff < 1e-5, f"{name} differs from the single-process run by {diff}"
