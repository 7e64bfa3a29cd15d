"""The annotation app over HTTP (FastAPI TestClient): login, CSRF, validation, assignment, export."""

from __future__ import annotations

import html
import re
from contextlib import contextmanager

import httpx
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


def test_annotators_see_only_their_own_labels_agreement_is_for_the_owner(app):
    from modelworks.web import agreement_report

    clients = {}
    for name, (e, f) in (("alice", ("3", "4")), ("bob", ("3", "2")), ("carol", ("2", "2"))):
        c = clients[name] = TestClient(app)
        r = login(c, TOKENS[name])
        while "item-id" in r.text:
            item = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
            r = c.post(f"/item/{item}", data={"csrf": csrf_of(r.text), "action": "submit",
                                              "label.empathy": e, "label.fluency": f}, follow_redirects=True)
    for name, c in clients.items():
        mine = c.get("/export.json").json()
        assert mine and {rec["annotator"] for rec in mine} == {name}
        assert {row.split(",")[1] for row in c.get("/export.csv").text.splitlines()[1:]} == {name}
        assert c.get("/agreement.json").status_code == 404
        page = c.get("/progress").text
        assert "agreement.json" not in page and "the app shows nobody the others' labels" in page
    assert len(app.state.db.export()) == 8  # the owner's view (CLI / AnnotationDB) has everything
    rep = agreement_report(app.state.db.ratings_by_dimension())
    assert set(rep) == {"empathy", "fluency"}
    assert rep["empathy"]["pairs"] == 4 and rep["empathy"]["units"] == 4
    assert 0 <= rep["empathy"]["exact"] <= 1 and rep["empathy"]["within_1"] == 1.0
    # assignment (k=2, least loaded first, rotation by item position): d0 alice+bob, d1 bob+carol,
    # d2 alice+carol, d3 alice+bob
    who = {}
    for rec in app.state.db.export():
        who.setdefault(rec["item"], set()).add(rec["annotator"])
    assert who == {"d0": {"alice", "bob"}, "d1": {"bob", "carol"}, "d2": {"alice", "carol"}, "d3": {"alice", "bob"}}
    # empathy alice 3, bob 3, carol 2: only the two alice|bob items agree -> exact 2/4, every pair within 1
    assert rep["empathy"]["exact"] == pytest.approx(2 / 4)
    # fluency alice 4, bob 2, carol 2: only bob|carol (d1) agrees; alice's pairs are off by 2 -> 1/4 and 1/4
    assert rep["fluency"]["exact"] == pytest.approx(1 / 4) and rep["fluency"]["within_1"] == pytest.approx(1 / 4)


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


@pytest.mark.parametrize("raw", ["--1", "\u00b2", "9" * 5000, "\u0663", "0_3", "+3", " 3 ", "3\n", "1.0", "-0x1"])
def test_malformed_scores_are_refused_with_400(app, raw):
    c = TestClient(app)
    r = login(c, TOKENS["alice"])
    item = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
    r = c.post(f"/item/{item}", data={"csrf": csrf_of(r.text), "action": "submit", "label.empathy": "2",
                                      "label.fluency": raw})
    assert r.status_code == 400 and "score for 'Fluency' must be an integer in 0..4" in html.unescape(r.text)
    assert 'value="2" checked' in r.text  # the valid choice is kept on the page
    assert app.state.db.export() == []


def test_level_of_accepts_only_the_schema_levels(schema):
    assert [schema.level_of(v) for v in ("0", "4", "-0", "5", "-1", "007", "\u0663", "+3", None)] == \
        [0, 4, 0, None, None, None, None, None, None]


URL_HOSTILE_IDS = ["a/b", "x?y=1", "a#b", "50%41", "sp ace", "ü/..", "%2F", "/lead", "a\\b"]


@contextmanager
def uvicorn_thread(app):
    """The app under a real uvicorn on 127.0.0.1 (TestClient decodes percent-escapes in paths twice)."""
    import threading
    import time

    import uvicorn

    from tests._net import free_port

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", follow_redirects=True) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def test_item_ids_that_are_unsafe_in_urls_still_work(tmp_path, schema):
    from modelworks.web import AnnotationItem

    items = [AnnotationItem(i, [("Seeker", f"text of {i}")]) for i in URL_HOSTILE_IDS]
    app = create_annotation_app(tmp_path / "u.sqlite", items, schema, {"alice": TOKENS["alice"]}, k=1)
    with uvicorn_thread(app) as c:
        r = login(c, TOKENS["alice"])
        assert html.unescape(re.search(r'id="item-id">([^<]+)<', r.text).group(1)) == "a/b"
        r = c.post(r.url.raw_path.decode(), data={"csrf": csrf_of(r.text), "action": "skip"})  # skip works
        seen = []
        while "item-id" in r.text:
            seen.append(html.unescape(re.search(r'id="item-id">([^<]+)<', r.text).group(1)))
            action = html.unescape(re.search(r'action="([^"]+)" id="label-form"', r.text).group(1))
            assert action == r.url.raw_path.decode()  # the form posts back to the item it shows
            r = c.post(action, data={"csrf": csrf_of(r.text), "action": "submit", "label.empathy": "1",
                                     "label.fluency": "2"})
        assert "All your items are done" in r.text
    assert seen == [*URL_HOSTILE_IDS[1:], "a/b"]
    assert {rec["item"] for rec in app.state.db.export()} == set(URL_HOSTILE_IDS)


@pytest.mark.parametrize("bad", ["", ".", ".."])
def test_item_ids_a_browser_cannot_address_are_refused(tmp_path, schema, bad):
    from modelworks.web import AnnotationItem

    with pytest.raises(UserError, match="cannot be used in a URL"):
        create_annotation_app(tmp_path / "x.sqlite", [AnnotationItem(bad, [("", "t")])], schema, TOKENS, k=1)


def test_roster_revokes_tokens_and_sessions_expire(tmp_path, items, schema):
    db_path = tmp_path / "r.sqlite"
    app = create_annotation_app(db_path, items, schema, TOKENS, k=2)
    alice, bob, carol = TestClient(app), TestClient(app), TestClient(app)
    r = login(alice, TOKENS["alice"])
    first = re.search(r'id="item-id">([^<]+)<', r.text).group(1)
    alice.post(f"/item/{first}", data={"csrf": csrf_of(r.text), "action": "submit", "label.empathy": "1",
                                       "label.fluency": "1"})
    login(bob, TOKENS["bob"])
    login(carol, TOKENS["carol"])
    # restart without alice and with a new token for bob
    app2 = create_annotation_app(db_path, items, schema, {"bob": "bob-new-token-9", "carol": TOKENS["carol"]}, k=2)
    for old, client in (("alice", alice), ("bob", bob)):
        client.app = app2
        assert "/item/" not in str(client.get("/next").url), old  # the old session no longer works
    assert login(TestClient(app2), TOKENS["alice"]).status_code == 401
    assert login(TestClient(app2), TOKENS["bob"]).status_code == 401
    assert login(TestClient(app2), "bob-new-token-9").status_code == 200
    carol.app = app2
    assert "/item/" in str(carol.get("/next").url)  # untouched annotators keep their session
    db = app2.state.db
    assert [(rec["item"], rec["annotator"]) for rec in db.export()] == [(first, "alice")]  # finished labels kept
    per_item = {}
    for item, ann in db._q("SELECT item_id, annotator FROM assignments"):
        per_item.setdefault(item, set()).add(ann)
    assert len(per_item.pop(first)) == 2 and all(v == {"bob", "carol"} for v in per_item.values())  # work moved on
    assert [p["annotator"] for p in db.progress()] == ["alice", "bob", "carol"]
    # sessions expire after 12 hours
    db._q("UPDATE sessions SET created_at = created_at - 12 * 3600 - 1")
    assert "/item/" not in str(carol.get("/next").url)


def test_same_token_for_two_annotators_is_one_line_error(tmp_path, items, schema):
    with pytest.raises(UserError, match="annotators 'alice' and 'bob' have the same token"):
        create_annotation_app(tmp_path / "d.sqlite", items, schema, {"alice": "shared-token-1", "bob": "shared-token-1"})


def test_two_annotators_may_swap_tokens_between_starts(tmp_path, items, schema):
    a, b = "first-token-111", "second-token-22"
    create_annotation_app(tmp_path / "s.sqlite", items, schema, {"alice": a, "bob": b})
    app = create_annotation_app(tmp_path / "s.sqlite", items, schema, {"alice": b, "bob": a})
    assert re.search(r'id="who">([^<]+)<', login(TestClient(app), a).text).group(1) == "bob"


def test_stored_tokens_are_the_roster_kept_across_restarts(tmp_path):
    from modelworks.web import stored_tokens

    f = tmp_path / "annotator_tokens.json"
    first = stored_tokens(f)
    assert list(first) == ["annotator1"] and f.stat().st_mode & 0o777 == 0o600
    both = stored_tokens(f, ["annotator1", "alice", "bob"])
    assert both["annotator1"] == first["annotator1"] and list(both) == ["annotator1", "alice", "bob"]
    assert stored_tokens(f) == both  # a restart without names keeps everyone and their tokens
    assert stored_tokens(f, ["bob"]) == {"bob": both["bob"]}  # alice and annotator1 are revoked ...
    assert stored_tokens(f) == {"bob": both["bob"]}  # ... and stay revoked after a plain restart
    f.write_text("[1]")
    with pytest.raises(UserError, match="expected an object"):
        stored_tokens(f)


def _big_login(client: TestClient, size: int, chunked: bool = False):
    page = client.get("/")
    body = b"csrf=" + csrf_of(page.text).encode() + b"&token=" + b"x" * size
    content = iter([body[i:i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    return client.post("/login", content=content, headers={"content-type": "application/x-www-form-urlencoded"})


def test_request_bodies_over_256_kb_are_refused(tmp_path, items, schema):
    app = create_annotation_app(tmp_path / "b.sqlite", items, schema, TOKENS, k=1)
    c = TestClient(app)
    assert _big_login(c, 300 * 1024).status_code == 413
    assert _big_login(c, 300 * 1024, chunked=True).status_code == 413
    assert _big_login(c, 100).status_code == 401  # a small body still reaches the app
    assert login(c, TOKENS["alice"]).status_code == 200
