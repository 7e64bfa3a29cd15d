"""The annotation web app (FastAPI + Jinja2), generic over items and label schema.

>>> from modelworks.web import Dimension, LabelSchema, AnnotationItem, create_annotation_app, serve_app
>>> schema = LabelSchema([Dimension("harm", "Harmfulness", "0 = safe ... 3 = unsafe")], low=0, high=3)
>>> items = [AnnotationItem("q1", [("user", "..."), ("model", "...")], context=[("Prompt", "...")])]
>>> app = create_annotation_app("labels.sqlite", items, schema, {"alice": "alice-token-123"}, k=1)
>>> serve_app(app, port=8765)   # 127.0.0.1 only unless host= is given

Security: an annotator logs in with a personal token (stored hashed); the session cookie is
random, HttpOnly and SameSite=Strict; every POST form carries a CSRF token (per session; for
the login form a double-submit cookie) compared in constant time; all SQL is parameterised;
all content is escaped by Jinja2's autoescape; labels are validated on the server; request
bodies over 256 KB are refused (413). Sessions end after 12 hours, when the annotator is left out
of the roster at a restart, or when their token changes.

Annotators label independently: the export pages show an annotator only their own labels, and
there is no agreement page. All labels and the agreement statistics are for the project owner,
through the CLI (``modelworks esc export-annotations`` / ``esc agreement``, ``modelworks guard
annotate-export``) or :class:`AnnotationDB` (``export()``, ``ratings_by_dimension()`` with
:func:`agreement_report`); ``owner_note`` is shown to annotators on the progress page.
"""


import csv
import hmac
import io
import secrets
from pathlib import Path
from urllib.parse import quote

from modelworks.web.db import AnnotationDB
from modelworks.web.schema import AnnotationItem, LabelSchema

__all__ = ["create_annotation_app", "serve_app", "SESSION_COOKIE"]

SESSION_COOKIE = "mw_session"
LOGIN_CSRF_COOKIE = "mw_login_csrf"
MAX_BODY_BYTES = 256 * 1024  # a label form is a few hundred bytes
_TEMPLATES = Path(__file__).parent / "templates"


def item_url(item_id: str) -> str:
    """The URL path of an item; every character of the id is percent-encoded, '/' included."""
    return "/item/" + quote(item_id, safe="")


def create_annotation_app(
    db_path: str | Path,
    items: list[AnnotationItem],
    schema: LabelSchema,
    annotators: dict[str, str],
    k: int = 1,
    title: str = "Annotation",
    owner_note: str = "",
    session_ttl_s: float | None = None,
):
    """A FastAPI app: ``annotators`` maps name -> login token (the whole roster); each item gets ``k`` annotators.

    ``owner_note`` tells annotators where the project owner finds all labels and the agreement statistics.
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
    from fastapi.templating import Jinja2Templates

    db = AnnotationDB(db_path) if session_ttl_s is None else AnnotationDB(db_path, session_ttl_s)
    db.add_items(items)
    db.add_annotators(annotators)
    db.assign(k)
    templates = Jinja2Templates(directory=str(_TEMPLATES))  # autoescape is on for .html
    from modelworks.web.body_limit import BodyLimit

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES,
                       too_large=lambda: PlainTextResponse("request body too large", status_code=413))
    app.state.db = db
    app.state.schema = schema

    def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        resp = templates.TemplateResponse(request, name, {"title": title, "schema": schema, **ctx}, status_code=status)
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def current(request: Request) -> tuple[str, str] | None:
        return db.session(request.cookies.get(SESSION_COOKIE))

    def error(request: Request, message: str, status: int) -> HTMLResponse:
        return page(request, "error.html", status=status, message=message, user=None)

    def check_csrf(sent: object, expected: str) -> bool:
        return isinstance(sent, str) and bool(expected) and hmac.compare_digest(sent, expected)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        if current(request):
            return RedirectResponse("/next", status_code=303)
        token = secrets.token_urlsafe(24)
        resp = page(request, "login.html", csrf=token, user=None, message="")
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
        return resp

    @app.post("/login")
    async def login(request: Request):
        form = await request.form()
        if not check_csrf(form.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
            return error(request, "the form expired or came from another site: reload the login page", 403)
        result = db.login(str(form.get("token", "")).strip())
        if result is None:
            token = secrets.token_urlsafe(24)
            resp = page(request, "login.html", status=401, csrf=token, user=None, message="unknown token")
            resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
            return resp
        sid, _, _ = result
        resp = RedirectResponse("/next", status_code=303)
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", max_age=int(db.session_ttl_s))
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    @app.post("/logout")
    async def logout(request: Request):
        me = current(request)
        form = await request.form()
        if me and check_csrf(form.get("csrf"), me[1]):
            db.logout(request.cookies.get(SESSION_COOKIE, ""))
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    @app.get("/next")
    def next_item(request: Request):
        me = current(request)
        if not me:
            return RedirectResponse("/", status_code=303)
        item_id = db.next_item(me[0])
        if item_id is None:
            return page(request, "done.html", user=me[0], csrf=me[1], progress=db.progress())
        return RedirectResponse(item_url(item_id), status_code=303)

    def show(request: Request, me: tuple[str, str], item_id: str, message: str = "", status: int = 200,
             chosen: dict | None = None):
        item = db.item(item_id)
        mine = next(p for p in db.progress() if p["annotator"] == me[0])
        return page(request, "item.html", status=status, user=me[0], csrf=me[1], item=item, message=message,
                    item_url=item_url(item_id), progress=mine,
                    chosen=chosen if chosen is not None else db.labels_of(item_id, me[0]))

    # ':path' so that an id with '/' (percent-encoded by item_url, decoded by the server) still matches
    @app.get("/item/{item_id:path}", response_class=HTMLResponse)
    def item_page(request: Request, item_id: str):
        me = current(request)
        if not me:
            return RedirectResponse("/", status_code=303)
        if db.item(item_id) is None or not db.is_assigned(item_id, me[0]):
            return error(request, f"item {item_id!r} is not assigned to you", 404)
        return show(request, me, item_id)

    @app.post("/item/{item_id:path}")
    async def item_submit(request: Request, item_id: str):
        me = current(request)
        if not me:
            return error(request, "log in first", 401)
        form = await request.form()
        if not check_csrf(form.get("csrf"), me[1]):
            return error(request, "invalid or missing CSRF token: reload the page and submit again", 403)
        if db.item(item_id) is None or not db.is_assigned(item_id, me[0]):
            return error(request, f"item {item_id!r} is not assigned to you", 404)
        action = form.get("action")
        fields = {k: str(v) for k, v in form.items() if k.startswith("label.")}
        if action == "skip":
            db.skip(item_id, me[0])
            return RedirectResponse("/next", status_code=303)
        if action != "submit":
            return error(request, "unknown action: use the Submit or Skip button", 400)
        try:
            labels = schema.parse(fields)
        except ValueError as exc:
            chosen = {k[6:]: v for k, raw in fields.items() if (v := schema.level_of(raw)) is not None}
            return show(request, me, item_id, message=str(exc), status=400, chosen=chosen)
        db.submit(item_id, me[0], labels)
        return RedirectResponse("/next", status_code=303)

    @app.get("/progress", response_class=HTMLResponse)
    def progress(request: Request):
        me = current(request)
        if not me:
            return RedirectResponse("/", status_code=303)
        return page(request, "progress.html", user=me[0], csrf=me[1], progress=db.progress(), owner_note=owner_note)

    def own_labels(request: Request) -> list[dict] | Response:
        """The signed-in annotator's finished labels only: annotators must not see each other's."""
        me = current(request)
        return db.export(schema, annotator=me[0]) if me else JSONResponse({"error": "log in first"}, status_code=401)

    @app.get("/export.json")
    def export_json(request: Request):
        recs = own_labels(request)
        return recs if isinstance(recs, Response) else JSONResponse(recs)

    @app.get("/export.csv")
    def export_csv(request: Request):
        recs = own_labels(request)
        if isinstance(recs, Response):
            return recs
        buf = io.StringIO()
        w = csv.writer(buf)
        dims = [d.name for d in schema.dimensions]
        w.writerow(["item", "annotator", *dims])
        for rec in recs:
            w.writerow([rec["item"], rec["annotator"], *(rec["scores"].get(d, "") for d in dims)])
        return PlainTextResponse(buf.getvalue(), media_type="text/csv")

    return app


def serve_app(app, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the app with uvicorn (blocking). Loopback by default; another host is the caller's choice."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
