from __future__ import annotations

import pytest

COMMANDS = ["quickstart", "train", "unlearn", "tkg", "honeypot", "esc", "guard", "serve"]


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_help_lists_every_capability(cli):
    proc = cli("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


def test_bad_path(cli, tmp_path):
    assert_one_line_error(
        cli("validate", str(tmp_path / "nope.yaml"), "--kind", "models"), "config file not found", "nope.yaml"
    )


def test_malformed_yaml(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: [1, 2\nhidden: 3\n")
    assert_one_line_error(cli("validate", str(bad), "--kind", "models"), str(bad), "malformed YAML at line")


def test_unknown_key(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("layers: 2\nlayer: 3\n")
    assert_one_line_error(cli("validate", str(cfg), "--kind", "models"), "unknown key 'layer'", "valid keys: heads")


def test_unknown_override_and_wrong_type(cli):
    assert_one_line_error(cli("validate", "configs/models/tiny.yaml", "hiddenn=3"), "unknown key 'hiddenn'")
    assert_one_line_error(
        cli("validate", "configs/models/tiny.yaml", "hidden=big"), "key 'hidden' expects int, got 'big'"
    )


def test_usage_mistakes_are_one_line_errors(cli):
    assert_one_line_error(cli("train", "estimate", "--params", "abc"),
                          "modelworks train estimate: Invalid value for '--params'", "(see --help)")
    assert_one_line_error(cli("tkg", "nosuch"), "No such command 'nosuch'")
    assert_one_line_error(cli("esc", "judge", "--run", "x"), "Missing option '--judge'")
    group = cli("esc")  # a group without a command prints its help, no error line
    assert group.returncode == 2 and "judge" in group.stdout + group.stderr and "error:" not in group.stderr


def test_debug_shows_the_traceback(cli, tmp_path):
    proc = cli("--debug", "validate", str(tmp_path / "nope.yaml"), "--kind", "models")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_validate_prints_resolved_config(cli):
    proc = cli("validate", "configs/models/tiny.yaml", "hidden=128")
    assert proc.returncode == 0 and "hidden: 128" in proc.stdout


@pytest.mark.slow
def test_quickstart_chat_row(cli, tmp_path):
    proc = cli("quickstart", "--only", "chat", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "modelworks quickstart" in proc.stdout and "samples_done=3" in proc.stdout
    assert (tmp_path / "chat" / "results.json").is_file() and (tmp_path / "chat" / "report.md").is_file()
    assert_one_line_error(cli("quickstart", "--only", "nothing"), "unknown capability 'nothing'")
