"""torchrun on CPU (gloo): DDP / FSDP2 / TP equal the single-process run (and resume exactly); PP and the
dp x tp mesh train."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelworks.config import load_config
from modelworks.train import TrainConfig, fit

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

WORKER = Path(__file__).with_name("_dist_worker.py")
COMMON = ["model=tiny:layers=2,hidden=64,heads=4,vocab_size=256", "data=[builtin:text]", "max_len=32",
          "packing=true", "max_steps=10", "lr=3e-3", "seed=0", "progress=false", "tensorboard=false",
          "max_grad_norm=1.0"]


def _torchrun(nproc: int, runs: list[list[str]], tmp_path: Path) -> list[dict]:
    out = tmp_path / f"dist-{nproc}.json"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", str(nproc), str(WORKER), str(out),
                           json.dumps(runs)], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())["runs"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[float]:
    """Single process, global batch 4 (= 2 ranks x 2)."""
    out = tmp_path_factory.mktemp("ref")
    res = fit(load_config(TrainConfig, None, COMMON + ["batch_size=4", f"out={out}"]))
    return [h["loss"] for h in res.history]


def test_two_process_modes_match_single_process(reference, tmp_path):
    ddp_ckpt, fsdp_ckpt, tp_ckpt = (tmp_path / m / "checkpoints" / "step-00000005" for m in ("ddp", "fsdp", "tp"))
    runs = _torchrun(2, [
        COMMON + ["parallel=ddp", "batch_size=2", "save_every=5", f"out={tmp_path / 'ddp'}"],
        COMMON + ["parallel=fsdp", "batch_size=2", "save_every=5", f"out={tmp_path / 'fsdp'}"],
        COMMON + ["parallel=tp", "batch_size=4", "save_every=5", f"out={tmp_path / 'tp'}"],
        COMMON + ["parallel=pp", "batch_size=4", "pp_microbatches=2", f"out={tmp_path / 'pp'}"],
        # resume the sharded runs from their step-5 checkpoints (full state gathered / scattered)
        COMMON + ["parallel=fsdp", "batch_size=2", f"resume={fsdp_ckpt}", f"out={tmp_path / 'fsdp-resumed'}"],
        COMMON + ["parallel=tp", "batch_size=4", f"resume={tp_ckpt}", f"out={tmp_path / 'tp-resumed'}"],
        COMMON + ["parallel=ddp", "batch_size=2", f"resume={ddp_ckpt}", f"out={tmp_path / 'ddp-resumed'}"],
    ], tmp_path)
    ddp, fsdp, tp, pp, fsdp_resumed, tp_resumed, ddp_resumed = (r["losses"] for r in runs)
    assert max(abs(a - b) for a, b in zip(ddp[5:], ddp_resumed)) <= 1e-6 and len(ddp_resumed) == 5
    assert max(abs(a - b) for a, b in zip(fsdp[5:], fsdp_resumed)) <= 1e-6 and len(fsdp_resumed) == 5
    assert max(abs(a - b) for a, b in zip(tp[5:], tp_resumed)) <= 1e-6 and len(tp_resumed) == 5
    assert len(reference) == len(ddp) == len(fsdp) == len(tp) == len(pp) == 10
    for name, losses in (("ddp", ddp), ("fsdp", fsdp), ("tp", tp)):
        diff = max(abs(a - b) for a, b in zip(reference, losses))
        assert diff < 1e-5, f"{name} differs from the single-process run by {diff}"
    assert pp[-1] < pp[0] - 0.5, pp  # pipeline parallel runs and its loss falls
    for r in runs[:4]:  # every layout saves an ordinary HF directory with the full model
        assert (Path(r["saved"]["model"]) / "model.safetensors").is_file()
    assert runs[2]["metrics"]["total_params"] == runs[0]["metrics"]["total_params"]


def test_dp_by_tp_mesh_runs_on_four_processes(reference, tmp_path):
    (mesh,) = _torchrun(4, [COMMON + ["parallel=dp=2,tp=2", "batch_size=2", f"out={tmp_path / 'mesh'}"]], tmp_path)
    assert len(mesh["losses"]) == 10 and mesh["losses"][-1] < mesh["losses"][0]
    assert max(abs(a - b) for a, b in zip(reference, mesh["losses"])) < 1e-5
