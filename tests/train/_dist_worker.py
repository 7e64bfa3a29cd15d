"""Run under torchrun by test_distributed.py: several 10-step trainings in one process group.

Usage: torchrun ... _dist_worker.py OUT.json '[["parallel=ddp", "batch_size=2", ...], [...]]'
Rank 0 writes {"runs": [{"losses": [...], "metrics": {...}}, ...]}.
"""

from __future__ import annotations

import json
import sys

import torch

from modelworks.config import load_config
from modelworks.train import TrainConfig, fit


def main() -> None:
    out, specs = sys.argv[1], json.loads(sys.argv[2])
    torch.set_num_threads(1)
    results = []
    for overrides in specs:
        res = fit(load_config(TrainConfig, None, overrides))
        results.append({"losses": [h["loss"] for h in res.history], "metrics": res.metrics,
                        "saved": {k: str(v) for k, v in res.saved.items()}})
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank == 0:
        with open(out, "w") as fh:
            json.dump({"runs": results}, fh)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
