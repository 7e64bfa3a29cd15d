"""Monitors: one metrics row per logged step (metrics.jsonl, TensorBoard when installed) and a rich
progress bar, all on rank 0 only.

Each row has ``step``, ``loss``, ``lr``, ``grad_norm``, ``tokens_per_s`` (non-padding tokens of this
rank's micro-batches times the data-parallel size, per second of step wall time; None for custom batches
that carry no ``attention_mask``), ``samples_per_s`` (examples, counted the same way), ``peak_mem_mb``
(CUDA max allocated, or the process's peak RSS on CPU) and ``step_time``.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

__all__ = ["peak_memory_mb", "StepTimer", "Monitor"]


def peak_memory_mb(device=None) -> float:
    """CUDA: ``torch.cuda.max_memory_allocated``; CPU: the process's peak resident set size."""
    import torch

    if device is not None and getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / (2**20 if sys.platform == "darwin" else 2**10)


class StepTimer:
    def __init__(self, device=None) -> None:
        self.device = device
        self.t0 = 0.0

    def start(self) -> None:
        self._sync()
        self.t0 = time.perf_counter()

    def stop(self) -> float:
        self._sync()
        return time.perf_counter() - self.t0

    def _sync(self) -> None:
        if self.device is not None and getattr(self.device, "type", "") == "cuda":
            import torch

            torch.cuda.synchronize(self.device)


class Monitor:
    """Streams metrics to the run (rank 0), to TensorBoard when installed, and drives a progress bar."""

    def __init__(self, run, total_steps: int, is_main: bool, tensorboard: bool = True, progress: bool = True,
                 start_step: int = 0) -> None:
        self.run, self.is_main, self.total = run, is_main, total_steps
        self.tb = None
        self.bar = None
        if not is_main:
            return
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                # a resumed run trains the steps after its checkpoint again: drop their old events
                self.tb = SummaryWriter(log_dir=str(run.path("tensorboard")),
                                        purge_step=start_step + 1 if start_step else None)
            except ImportError:  # tensorboard is optional
                self.tb = None
        if progress and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                                TimeRemainingColumn(), transient=False)
            self.bar.start()
            self._task = self.bar.add_task("train", total=total_steps, completed=start_step, info="")

    def log(self, step: int, **values: Any) -> None:
        if not self.is_main:
            return
        self.run.log(step, **values)
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and v is not None:
                    self.tb.add_scalar(f"train/{k}" if not k.startswith("eval") else k, v, step)

    def advance(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self._task, completed=step, info=f"loss {loss:.4f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None
