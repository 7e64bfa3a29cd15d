from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from modelworks.errors import UserError
from modelworks.store import SampleStore, process


def test_add_is_insert_or_ignore_and_todo_retries_errors(tmp_path):
    with SampleStore(tmp_path / "s.sqlite") as store:
        assert store.add("r", "t", [("a", {"x": 1}), ("b", {"x": 2})]) == 2
        assert store.add("r", "t", [("a", {"x": 99}), ("c", {"x": 3})]) == 1
        store.mark_done("r", "t", "a", {"y": 1})
        store.mark_error("r", "t", "b", "boom")
        assert [sid for sid, _ in store.todo("r", "t")] == ["b", "c"]
        assert [sid for sid, _ in store.todo("r", "t", retry_errors=False)] == ["c"]
        assert store.rows("r", "t")[0].input == {"x": 1}
        assert store.counts("r") == {"pending": 1, "done": 1, "error": 1}


def test_add_with_check_inputs_refuses_changed_samples_before_adding(tmp_path):
    with SampleStore(tmp_path / "s.sqlite") as store:
        store.add("r", "t", [("a", {"x": 1})])
        assert store.add("r", "t", [("a", {"x": 1}), ("b", {"x": 2})], check_inputs=True) == 1
        with pytest.raises(UserError, match="1 stored samples \\(first: id a\\) have other inputs"):
            store.add("r", "t", [("a", {"x": 5}), ("c", {"x": 3})], check_inputs=True)
        assert [r.sample_id for r in store.rows("r", "t")] == ["a", "b"]


def test_a_file_that_is_not_sqlite_is_a_one_line_error(tmp_path):
    bad = tmp_path / "s.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match=r"s.sqlite: cannot open as a SQLite database \(file is not a database\)"):
        SampleStore(bad)


def test_process_records_errors_and_retries_them(tmp_path):
    calls = []

    def flaky(inp):
        calls.append(inp["x"])
        if inp["x"] == 2 and calls.count(2) == 1:
            raise RuntimeError("transient\nsecond line")
        return inp["x"] * 10

    with SampleStore(tmp_path / "s.sqlite") as store:
        store.add("r", "t", [(str(i), {"x": i}) for i in range(4)])
        assert process(store, "r", "t", flaky, concurrency=2) == {"pending": 0, "done": 3, "error": 1}
        err = [r for r in store.rows("r", "t") if r.status == "error"][0]
        assert err.error == "RuntimeError: transient"
        assert process(store, "r", "t", flaky) == {"pending": 0, "done": 4, "error": 0}
        assert sorted(calls) == [0, 1, 2, 2, 3]
        assert {r.sample_id: r.output for r in store.rows("r", "t")} == {"0": 0, "1": 10, "2": 20, "3": 30}


WORKER = textwrap.dedent(
    """
    import sys, time
    from modelworks.store import SampleStore, process
    db, log = sys.argv[1], sys.argv[2]
    store = SampleStore(db)
    store.add("run", "task", [(f"s{i}", i) for i in range(20)])
    def work(i):
        time.sleep(0.05)
        with open(log, "a") as fh:
            fh.write(f"s{i}\\n")
        return i * i
    process(store, "run", "task", work, concurrency=1)
    """
)


def test_run_killed_halfway_resumes_every_sample_exactly_once(tmp_path):
    db, log = tmp_path / "s.sqlite", tmp_path / "executed.log"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(log)])
    deadline = time.time() + 60
    while time.time() < deadline:
        if log.exists() and len(log.read_text().split()) >= 6:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with SampleStore(db) as store:
        done_before = {r.sample_id for r in store.rows("run", "task") if r.status == "done"}
    assert 5 <= len(done_before) < 20
    first = log.read_text().split()
    subprocess.run([sys.executable, str(script), str(db), str(log)], check=True, timeout=120)
    second = log.read_text().split()[len(first) :]
    assert not done_before & set(second), "a finished sample was run again"
    with SampleStore(db) as store:
        rows = store.rows("run", "task")
    assert len(rows) == 20 and all(r.status == "done" for r in rows)
    assert all(r.output == int(r.sample_id[1:]) ** 2 for r in rows)
    assert all(r.attempts == 1 for r in rows if r.sample_id in done_before)
