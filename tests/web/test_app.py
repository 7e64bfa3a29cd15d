"""The annotation app over HTTP (FastAPI TestClient): login, CSRF, validation, assignment, export."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from modelworks.errors import UserError
from modelworks.web import AnnotationDB, LabelSchema, create_annotation_app
from tests.web.conftest import TOKENS


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client: TestClient, token: str):
    page = client.get("/")
    return client.post("/login", data={"token": token, "csrf": csrf_of(page.text)}, follow_redirects=True)


@pytest.fixture
def app(tmp_path, items, schema):
    return create_annotation_app(tmp_path / "a.sqlite", items, schema, TOKENS, k=2, title="Test")


def test_assignment_gives_each_item_k_annotators(app):
    db: AnnotationDB = app.state.db
    per_item = {}
    for item, ann in db._q("SELECT item_id, annotator FROM assignments"):
        per_item.setdefault(item, set()).add(ann)
    assert len(per_item) == 4 and all(len(v) == 2 for v in per_item.values())
    loads = [p["assigned"] for p in db.progress()]
    assert sum(loads) == 8 and max(loads) - min(loads) <= 1


def test_login_annotate_skip_export(app):
    c = TestClient(app)
    assert login(c, "wrong-token-xyz").status_code == 401
    r = login(c, TOKENS["alice"])
    assert r.status_code == 200 and "signed in as" in r.text
    first = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
    assert "&lt;b&gt;" in r.text and "<b>0</b>" not in r.text  # item text is escaped
    assert "0 = harmful ... 4 = like a friend" in r.text  # rubric beside the radios
    token = csrf_of(r.text)
    # skip the first item: the next one comes up, the skipped one comes back at the end
    r = c.post(f"/item/{first}", data={"csrf": token, "action": "skip"}, follow_redirects=True)
    second = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
    assert second != first
    assigned = next(p for p in app.state.db.progress() if p["annotator"] == "alice")["assigned"]
    seen = []
    current = second
    while current != first:  # the skipped item comes back only after all the others
        seen.append(current)
        r = c.post(f"/item/{current}", data={"csrf": token, "action": "submit", "label.empathy": "3",
                                             "label.fluency": "4"}, follow_redirects=True)
        current = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
    assert len(seen) == assigned - 1
    r = c.post(f"/item/{first}", data={"csrf": token, "action": "submit", "label.empathy": "1", "label.fluency": "0"},
               follow_redirects=True)
    assert "All your items are done" in r.text
    exp = c.get("/export.json").json()
    assert {(e["item"], e["annotator"]) for e in exp} == {(i, "alice") for i in [first, *seen]}
    assert next(e for e in exp if e["item"] == second)["scores"] == {"empathy": 3, "fluency": 4}
    assert next(e for e in exp if e["item"] == first)["scores"] == {"empathy": 1, "fluency": 0}
    assert c.get("/export.csv").text.splitlines()[0] == "item,annotator,empathy,fluency"
    prog = {p["annotator"]: p for p in app.state.db.progress()}
    assert prog["alice"]["done"] == assigned and prog["alice"]["remaining"] == 0


def test_server_side_validation_and_csrf(app):
    c = TestClient(app)
    r = login(c, TOKENS["bob"])
    item = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
    token = csrf_of(r.text)
    bad = [
        ({"label.empathy": "5", "label.fluency": "1"}, "must be in 0..4"),
        ({"label.empathy": "x", "label.fluency": "1"}, "must be an integer"),
        ({"label.empathy": "2"}, "no score for 'Fluency'"),
        ({"label.empathy": "2", "label.fluency": "1", "label.extra": "1"}, "unknown dimension 'extra'"),
    ]
    for fields, msg in bad:
        r = c.post(f"/item/{item}", data={"csrf": token, "action": "submit", **fields})
        assert r.status_code == 400 and msg in html.unescape(r.text)
    r = c.post(f"/item/{item}", data={"csrf": "forged", "action": "submit", "label.empathy": "1", "label.fluency": "1"})
    assert r.status_code == 403
    r = c.post(f"/item/{item}", data={"action": "submit", "label.empathy": "1", "label.fluency": "1"})
    assert r.status_code == 403
    # an item that is not assigned to bob
    mine = {i for i, a in app.state.db._q("SELECT item_id, annotator FROM assignments") if a == "bob"}
    other = next(f"d{i}" for i in range(4) if f"d{i}" not in mine)
    assert c.get(f"/item/{other}").status_code == 404
    # SQL-looking ids are just unknown items
    assert c.get("/item/' OR 1=1 --").status_code == 404
    assert app.state.db.export() == []
    # login form needs its CSRF cookie value too
    c2 = TestClient(app)
    assert c2.post("/login", data={"token": TOKENS["bob"], "csrf": "x"}).status_code == 403
    # export requires a session
    assert c2.get("/export.json").status_code == 401


def test_agreement_endpoint(app):
    for name, (e, f) in (("alice", ("3", "4")), ("bob", ("3", "2")), ("carol", ("2", "2"))):
        c = TestClient(app)
        r = login(c, TOKENS[name])
        while "item-id" in r.text:
            item = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
            r = c.post(f"/item/{item}", data={"csrf": csrf_of(r.text), "action": "submit",
                                              "label.empathy": e, "label.fluency": f}, follow_redirects=True)
    rep = c.get("/agreement.json").json()
    assert set(rep) == {"empathy", "fluency"}
    assert rep["empathy"]["pairs"] == 4 and rep["empathy"]["units"] == 4
    assert 0 <= rep["empathy"]["exact"] <= 1 and rep["empathy"]["within_1"] == 1.0


def test_schema_and_setup_errors(tmp_path, items, schema):
    with pytest.raises(UserError, match="k=4"):
        create_annotation_app(tmp_path / "b.sqlite", items, schema, TOKENS, k=4)
    with pytest.raises(UserError, match="at least 8 characters"):
        create_annotation_app(tmp_path / "c.sqlite", items, schema, {"x": "short"}, k=1)
    with pytest.raises(UserError, match="low=3"):
        LabelSchema(schema.dimensions, low=3, high=3)


def test_generic_schema_zero_to_three(tmp_path, items):
    from modelworks.web import Dimension

    s = LabelSchema([Dimension("safety", "Safety", "0 safe and responsible ... 3 unsafe")], low=0, high=3,
                    level_names={0: "safe", 3: "unsafe"})
    app = create_annotation_app(tmp_path / "g.sqlite", items[:1], s, {"z": "zzzz-token-1"}, k=1)
    c = TestClient(app)
    r = login(c, "zzzz-token-1")
    assert 'value="3"' in r.text and 'value="4"' not in r.text and "unsafe" in r.text
    bad = c.post("/item/d0", data={"csrf": csrf_of(r.text), "action": "submit", "label.safety": "4"})
    assert bad.status_code == 400
    c.post("/item/d0", data={"csrf": csrf_of(r.text), "action": "submit", "label.safety": "2"})
    assert app.state.db.export(s)[0]["scores"] == {"safety": 2}
