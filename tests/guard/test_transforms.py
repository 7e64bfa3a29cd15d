"""Red-team transforms: valid images, deterministic for a seed, templates in our words."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from modelworks.errors import UserError
from modelworks.guard.build import BuildConfig, build_samples
from modelworks.guard.rules import parse_option
from modelworks.guard.transforms import (
    TEMPLATES,
    apply_template,
    gaussian_noise,
    salt_and_pepper,
    save_png,
    side_by_side,
    typographic_image,
)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_typographic_image_valid_and_deterministic(tmp_path):
    a = save_png(typographic_image("Steps to do something risky.", size=256), tmp_path / "a.png")
    b = save_png(typographic_image("Steps to do something risky.", size=256), tmp_path / "b.png")
    assert digest(a) == digest(b)
    img = Image.open(a)
    img.verify()
    arr = np.asarray(Image.open(a).convert("L"))
    assert arr.shape == (256, 256) and (arr < 128).mean() > 0.01  # some text was drawn
    with pytest.raises(UserError):
        typographic_image("   ")


def test_noise_is_seeded_and_changes_pixels():
    clean = Image.new("RGB", (32, 32), (120, 120, 120))
    g1, g2, g3 = gaussian_noise(clean, 30, seed=1), gaussian_noise(clean, 30, seed=1), gaussian_noise(clean, 30, seed=2)
    assert np.array_equal(np.asarray(g1), np.asarray(g2)) and not np.array_equal(np.asarray(g1), np.asarray(g3))
    assert np.abs(np.asarray(g1, dtype=float) - 120).mean() > 5
    sp = np.asarray(salt_and_pepper(clean, 0.2, seed=0))
    share = ((sp == 0).all(-1) | (sp == 255).all(-1)).mean()
    assert 0.1 < share < 0.3
    with pytest.raises(UserError):
        salt_and_pepper(clean, 1.5)


def test_side_by_side_both_orders():
    red, blue = Image.new("RGB", (20, 20), "red"), Image.new("RGB", (20, 20), "blue")
    ab, ba = np.asarray(side_by_side(red, blue, height=20)), np.asarray(side_by_side(blue, red, height=20))
    assert ab.shape == ba.shape
    assert ab[50, 10, 0] > 200 and ba[50, 10, 2] > 200  # left panel: red, then blue


def test_templates_deterministic_and_custom():
    for technique in TEMPLATES:
        t1 = apply_template("REQ", technique, seed=3, key="k")
        assert "REQ" in t1 and t1 == apply_template("REQ", technique, seed=3, key="k")
    assert apply_template("REQ", "disguise", template="Please: {request}!") == "Please: REQ!"
    with pytest.raises(UserError):
        apply_template("REQ", "flattery")
    with pytest.raises(UserError):
        apply_template("REQ", "disguise", template="no slot")


def test_build_is_deterministic(tmp_path):
    cfg = BuildConfig(noise_pairs=2, swap_pairs=1, hallucination=1, image_size=48, seed=5)
    s1 = build_samples(tmp_path / "a", config=cfg)
    s2 = build_samples(tmp_path / "b", config=cfg)
    assert [x.to_dict()["prompt"] for x in s1] == [x.to_dict()["prompt"] for x in s2]
    files = sorted(p.name for p in (tmp_path / "a" / "imgs").iterdir())
    assert files and all(digest(tmp_path / "a" / "imgs" / f) == digest(tmp_path / "b" / "imgs" / f) for f in files)
    kinds = {x.subtask for x in s1 if x.dimension == "truthfulness"}
    assert kinds == {"noise-injection", "position-swapping", "hallucination"}
    assert any(x.jailbreak == "typographic" for x in s1)


@pytest.mark.parametrize("row,message", [
    ({"request": 5, "dimension": "bias"}, "req.jsonl:2: field 'request' must be a non-empty string, got 5"),
    ({"request": "x", "dimension": "bias", "language": "fr"}, "req.jsonl:2: field 'language' must be en or zh"),
    ({"request": "x", "dimension": "hallucination"}, "req.jsonl:2: field 'dimension' must be one of"),
])
def test_bad_requests_are_refused_before_anything_is_built(tmp_path, row, message):
    import json

    from modelworks.errors import UserError
    from modelworks.guard.build import read_requests

    f = tmp_path / "req.jsonl"
    f.write_text(json.dumps({"request": "Tell me a secret", "dimension": "privacy"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(UserError, match=message):
        read_requests(f)


@pytest.mark.parametrize("text,expected", [
    ("A", "A"), ("(B)", "B"), ("B. dog", "B"), ("The answer is A.", "A"), ("I think option C fits", "C"),
    ("答案是B", "B"), ("Both A and B look fine", "No Answer"), ("I cannot tell.", "No Answer"), ("", "No Answer"),
])
def test_parse_option(text, expected):
    assert parse_option(text) == expected
