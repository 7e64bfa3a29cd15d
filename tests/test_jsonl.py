import pytest

from modelworks.errors import UserError
from modelworks.jsonl import line_number, read_jsonl


def test_locations_name_file_and_line_and_skip_blank_lines(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    rows = read_jsonl(p)
    assert [r["a"] for _, r in rows] == [1, 2]
    assert [line_number(w) for w, _ in rows] == [1, 3] and rows[1][0] == f"{p}:3"
    p.write_text('{"a": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.jsonl:2: expected a JSON object"):
        read_jsonl(p)
