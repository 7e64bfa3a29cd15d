"""Shared fixtures: the benchmark data folder, a tiny HF model directory, the CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$MODELWORKS_DATA``); tests that need it skip with the reason when absent."""
    from modelworks.paths import find_data_root

    root = find_data_root()
    if root is None:
        pytest.skip("benchmark data not found: set MODELWORKS_DATA or provide ../shared/data (CI always has it)")
    return root


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """A tiny random Llama + BPE tokenizer saved as an ordinary HF directory (2 layers, 64 dims)."""
    from modelworks.models import TinyLMConfig, build_tiny_lm

    out = tmp_path_factory.mktemp("tiny-lm")
    texts = [f"question {i}: what is {i} plus {i}? answer: {2 * i}." for i in range(200)]
    build_tiny_lm(TinyLMConfig(seed=0), texts, out)
    return out


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python -m modelworks ARGS`` in a fresh process (exit code, stdout, stderr)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "modelworks", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli
