from pathlib import Path

import numpy as np
import pytest

from modelworks.errors import UserError
from modelworks.tkg.datasets import load_tkg, read_id_map


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return folder


BASE = {
    "entity2id.txt": "China\t0\nIran\t1\nCitizen_(Nigeria)\t2\n",
    "relation2id.txt": "Consult\t0\nMake_statement\t1\n",
    "train.txt": "0\t0\t1\t0\t-1\n1\t1\t2\t24\t-1\n",
    "valid.txt": "0\t1\t2\t48\t-1\n",
    "test.txt": "2\t0\t0\t72\t-1\n",
}


def test_loads_standard_folder(tmp_path):
    ds = load_tkg(write(tmp_path / "d", BASE))
    assert ds.entities == ["China", "Iran", "Citizen_(Nigeria)"]
    assert ds.relations == ["Consult", "Make_statement"]
    assert ds.train.tolist() == [[0, 0, 1, 0], [1, 1, 2, 24]]
    assert ds.time_step == 24
    st = ds.statistics()
    assert st["test"]["queries_both_directions"] == 2 and st["entities_used"] == 3


def test_crlf_padding_and_blank_lines(tmp_path):
    files = dict(BASE)
    files["train.txt"] = b"  000\t0\t01\t0\t-1\r\n\r\n1\t01\t2\t024\t-1\r\n"
    files["entity2id.txt"] = b"\xef\xbb\xbfChina\t000\r\nIran\t001\r\nCitizen_(Nigeria)\t002\r\n"
    ds = load_tkg(write(tmp_path / "d", files))
    assert ds.train.tolist() == [[0, 0, 1, 0], [1, 1, 2, 24]]
    assert ds.entities[0] == "China"


def test_names_with_spaces(tmp_path):
    files = dict(BASE)
    files["entity2id.txt"] = "Citizen (Nigeria) 2\nChina 0\nUnited States of America 1\n"
    files["relation2id.txt"] = "Make statement\t1\tx\nConsult\t0\n"
    ds = load_tkg(write(tmp_path / "d", files))
    assert ds.entities == ["China", "United States of America", "Citizen (Nigeria)"]
    assert ds.relations == ["Consult", "Make statement"]


def test_yago_style_map_with_dates(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("<Getafe_CF>\t4\t1983-07-08\t####-##-##\n<A B>   5   1990-01-01   ####\n")
    assert read_id_map(p) == {4: "<Getafe_CF>", 5: "<A B>"}


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("train.txt", "0\t0\t1\n", "train.txt:1: expected 'subject relation object time'"),
        ("train.txt", "0\t0\t1\t0\n0\tx\t1\t0\n", "train.txt:2: 'x' is not an integer"),
        ("test.txt", "7\t0\t0\t72\n", "test.txt:1: subject id 7 has no name in entity2id.txt"),
        ("valid.txt", "0\t9\t1\t72\n", "valid.txt:1: relation id 9 has no name"),
        ("entity2id.txt", "China\t0\nIran\t0\n", "entity2id.txt:2: id 0 is listed twice"),
        ("entity2id.txt", "China\n", "entity2id.txt:1: expected 'name<TAB>id'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, name, text, message):
    files = dict(BASE)
    files[name] = text
    with pytest.raises(UserError) as err:
        load_tkg(write(tmp_path / "d", files))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_folder(tmp_path):
    files = dict(BASE)
    del files["valid.txt"]
    with pytest.raises(UserError, match="missing file 'valid.txt'"):
        load_tkg(write(tmp_path / "d", files))
    with pytest.raises(UserError, match="not found"):
        load_tkg(tmp_path / "nope")


def test_split_without_extension(tmp_path):
    files = dict(BASE)
    files["valid"] = files.pop("valid.txt")
    ds = load_tkg(write(tmp_path / "d", files))
    assert np.array_equal(ds.valid, [[0, 1, 2, 48]])


def test_icews14_statistics(shared_data):
    ds = load_tkg(shared_data / "tkg" / "ICEWS14")
    st = ds.statistics()
    assert (st["entities"], st["relations"]) == (7128, 230)
    assert (st["train"]["facts"], st["valid"]["facts"], st["test"]["facts"]) == (74845, 8514, 7371)
    assert st["test"]["queries_both_directions"] == 14742 and st["time_step"] == 24
