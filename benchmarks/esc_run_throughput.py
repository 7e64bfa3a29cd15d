"""Dialogue-runner throughput and resume: mock providers with a fixed simulated latency.

Each provider call sleeps LATENCY seconds (a stand-in for a remote model), so the numbers show
what the bounded concurrency buys (dialogues/s at concurrency 1 vs 8) and that a rerun of a
finished run does no model call. 24 cards x 5 rounds = 240 model calls per run.

    .venv/bin/python benchmarks/esc_run_throughput.py      # prints JSON, updates docs/RESULTS.md
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

LATENCY = 0.02
CARDS = 24


def main() -> dict:
    from modelworks.chat import MockChat
    from modelworks.esc.runner import EscRunConfig, run_esc

    def slow(text):
        def fn(msgs):
            time.sleep(LATENCY)
            return text
        return fn

    out: dict = {"latency_s": LATENCY, "cards": CARDS, "rounds": 5}
    with tempfile.TemporaryDirectory() as tmp:
        cards = [{"base": f"Age: {i}\nProblem: p{i}", "base_biaozhu": "x", "res": "家庭生活", "source": "ESconv",
                  "language": "english", "id": i} for i in range(CARDS)]
        cf = Path(tmp) / "cards.json"
        cf.write_text(json.dumps(cards), encoding="utf-8")
        for conc in (1, 8):
            t0 = time.perf_counter()
            run_esc(EscRunConfig(cards=str(cf), concurrency=conc), Path(tmp) / f"run{conc}",
                    agent=MockChat(fn=slow("seeker")), model=MockChat(fn=slow("reply")))
            secs = time.perf_counter() - t0
            out[f"concurrency_{conc}"] = {"seconds": round(secs, 3), "dialogues_per_s": round(CARDS / secs, 2)}
        model = MockChat(fn=slow("reply"))
        t0 = time.perf_counter()
        run_esc(EscRunConfig(cards=str(cf), concurrency=8), Path(tmp) / "run8", agent=MockChat(fn=slow("s")), model=model)
        out["rerun_finished"] = {"seconds": round(time.perf_counter() - t0, 3), "model_calls": len(model.calls)}
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    out["machine"] = f"{platform.machine()} {os.cpu_count()}-core CPU, load average {load} at the end"
    return out


def markdown(r: dict) -> str:
    return "\n".join([
        "## esc: dialogue runner throughput (mock providers, simulated latency)",
        "",
        "Command: `.venv/bin/python benchmarks/esc_run_throughput.py`. " + r["machine"] + ".",
        f"{r['cards']} cards x {r['rounds']} rounds, every provider call sleeps {r['latency_s']} s: concurrency 1 "
        f"{r['concurrency_1']['seconds']} s ({r['concurrency_1']['dialogues_per_s']} dialogues/s), concurrency 8 "
        f"{r['concurrency_8']['seconds']} s ({r['concurrency_8']['dialogues_per_s']} dialogues/s). Rerunning the finished "
        f"run: {r['rerun_finished']['seconds']} s and {r['rerun_finished']['model_calls']} model calls.",
    ])


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0] if __doc__ else None)
    ap.add_argument("--no-results", action="store_true", help="print the JSON only; leave docs/RESULTS.md alone")
    args = ap.parse_args()
    res = main()
    print(json.dumps(res, indent=1))
    if not args.no_results:
        sys.path.insert(0, str(Path(__file__).parent))
        from esc_results import save, write_section

        save("esc_run_throughput", res, markdown(res))
        write_section()
