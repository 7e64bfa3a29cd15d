"""Quickstart row for the foundation: build a tiny LM, answer prompts through ``hf/``, store them."""

from __future__ import annotations

import time
from pathlib import Path

from modelworks.quickstart import QuickstartResult


def quickstart(out_dir: Path) -> QuickstartResult:
    from modelworks.chat import GenerateConfig, get_model
    from modelworks.models import TinyLMConfig, build_tiny_lm
    from modelworks.runs import Run
    from modelworks.store import SampleStore, process

    texts = [
        f"The {a} {b} sat on the {c}." for a in ("red", "old", "tiny") for b in ("cat", "dog") for c in ("mat", "log")
    ]
    run = Run.create("chat-quickstart", config=TinyLMConfig(), out=out_dir, seed=0)
    model, _ = build_tiny_lm(TinyLMConfig(), texts * 4, out_dir / "tiny-lm")
    chat = get_model(f"hf/{out_dir / 'tiny-lm'}", device="cpu")
    prompts = [("p0", "Where did the cat sit?"), ("p1", "Tell me about the dog."), ("p2", "Hello!")]
    with SampleStore(out_dir / "samples.sqlite") as store:
        store.add(run.job, "generate", prompts)
        t0 = time.perf_counter()
        counts = process(
            store,
            run.job,
            "generate",
            lambda p: chat.generate([{"role": "user", "content": p}], GenerateConfig(max_tokens=16)),
            concurrency=1,
        )
        secs = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    results = {"params": n_params, "samples_done": counts["done"], "generate_seconds": secs}
    run.write_results(results)
    run.write_report(
        "# chat quickstart\n\nA tiny Llama built from a config and a BPE tokenizer trained here, "
        f"answering {len(prompts)} prompts through the `hf/` provider; answers in `samples.sqlite`.\n\n"
        f"- parameters: {n_params}\n- samples done: {counts['done']}\n"
    )
    run.close()
    return QuickstartResult({"params": n_params, "samples_done": counts["done"]}, run.path("report.md"))
