import json

import pytest

from modelworks.tkg.synthetic import SyntheticConfig, write_synthetic


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    return write_synthetic(SyntheticConfig(seed=1), tmp_path_factory.mktemp("syn") / "data")


def test_baseline_json(cli, syn):
    r = cli("tkg", "baseline", "--data", str(syn), "--rule", "pair-frequency", "--history", "50", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert set(res) == {"raw", "time_aware_filtered", "queries"}
    assert set(res["raw"]) == {"hits@1", "hits@3", "hits@10", "mrr"}
    assert res["queries"] > 0
    # the CLI prints exactly the library's result for the same data, rule, history and split
    from modelworks.tkg.datasets import load_tkg
    from modelworks.tkg.rules import run_rule

    ds = load_tkg(syn)
    assert res == json.loads(json.dumps(run_rule(ds, "pair-frequency", 50, "test")))  # floats round-trip exactly
    # two queries per test fact, (s, r, ?, t) and (o, r^-1, ?, t); facts counted from the file itself
    n_test = sum(1 for line in (syn / "test.txt").read_text().splitlines() if line.strip())
    assert n_test == len(ds.test) > 0 and res["queries"] == 2 * n_test


def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0]


def test_bad_inputs_give_one_line_errors(cli, syn, tmp_path):
    _one_line_error(cli("tkg", "baseline", "--data", str(tmp_path / "missing")), "not found")
    _one_line_error(cli("tkg", "baseline", "--data", str(syn), "--rule", "magic"), "unknown --rule")
    _one_line_error(cli("tkg", "baseline", "--data", str(syn), "--history", "-1"), "--history")
    _one_line_error(cli("tkg", "baseline", "--data", str(syn), "--split", "dev"), "--split")
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("entity2id.txt", "relation2id.txt", "valid.txt", "test.txt"):
        (bad / f).write_text((syn / f).read_text())
    (bad / "train.txt").write_text("0\t0\t1\t0\n0\t0\n")
    _one_line_error(cli("tkg", "baseline", "--data", str(bad)), "train.txt:2")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {path: x}\nmodel: {dims: 3}\n")
    _one_line_error(cli("tkg", "run", str(cfg)), "unknown key 'model.dims'")


def test_export_cli(cli, syn, tmp_path):
    r = cli("tkg", "export", "--data", str(syn), "--out", str(tmp_path / "jsonl"), "--history", "5",
            "--split", "valid", "--limit", "7")
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "jsonl" / "valid.jsonl").read_text().splitlines()
    assert len(rows) == 7 and json.loads(rows[0])["response"].startswith("Entity_")


@pytest.mark.slow
def test_icews14_cli_pair_recency(cli, shared_data):
    r = cli("tkg", "baseline", "--data", str(shared_data / "tkg" / "ICEWS14"), "--rule", "pair-recency",
            "--history", "100", "--split", "test", "--json")
    assert r.returncode == 0, r.stderr
    f = json.loads(r.stdout)["time_aware_filtered"]
    assert [round(f[k], 3) for k in ("hits@1", "hits@3", "hits@10")] == pytest.approx([0.281, 0.394, 0.475], abs=0.003)


def test_export_checks_every_argument_before_writing(cli, syn, tmp_path):
    out = tmp_path / "jsonl"
    assert cli("tkg", "export", "--data", str(syn), "--out", str(out), "--split", "test", "--limit", "2").returncode == 0
    before = (out / "test.jsonl").read_text()
    _one_line_error(cli("tkg", "export", "--data", str(syn), "--out", str(out), "--split", "test", "--limit", "-3"),
                    "--limit", "-3")
    assert (out / "test.jsonl").read_text() == before  # the earlier export is untouched
    _one_line_error(cli("tkg", "export", "--data", str(syn), "--out", str(out), "--split", "train", "--split", "bogus"),
                    "--split 'bogus'")
    assert not (out / "train.jsonl").exists()  # no split is written when a later one is bad
    afile = tmp_path / "afile"
    afile.write_text("keep")
    _one_line_error(cli("tkg", "export", "--data", str(syn), "--out", str(afile), "--split", "test"), str(afile))
    assert afile.read_text() == "keep"


def test_missing_data_dir_is_an_error(cli, syn, tmp_path):
    _one_line_error(cli("tkg", "baseline", "--data", "ICEWS14", "--data-dir", str(tmp_path / "nope")),
                    "data directory not found", str(tmp_path / "nope"))
    _one_line_error(cli("tkg", "stats", "--data", str(syn), "--data-dir", str(tmp_path / "nope")),
                    "data directory not found")


@pytest.mark.parametrize("args,needle", [
    (["--limit", "-2"], "--limit"),
    (["--beams", "0"], "--beams"),
    (["--split", "bogus"], "--split 'bogus'"),
    (["--batch-size", "0"], "--batch-size"),
    (["--device", "gpu"], "--device"),
])
def test_llm_eval_bad_arguments_fail_before_loading_the_model(cli, syn, tmp_path, args, needle):
    _one_line_error(cli("tkg", "llm-eval", "--data", str(syn), "--model", str(tmp_path / "no-model"), *args), needle)
