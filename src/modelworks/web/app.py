"""The annotation web app (FastAPI + Jinja2), generic over items and label schema.

>>> from modelworks.web import Dimension, LabelSchema, AnnotationItem, create_annotation_app, serve_app
>>> schema = LabelSchema([Dimension("harm", "Harmfulness", "0 = safe ... 3 = unsafe")], low=0, high=3)
>>> items = [AnnotationItem("q1", [("user", "..."), ("model", "...")], context=[("Prompt", "...")])]
>>> app = create_annotation_app("labels.sqlite", items, schema, {"alice": "alice-token-123"}, k=1)
>>> serve_app(app, port=8765)   # 127.0.0.1 only unless host= is given

Security: an annotator logs in with a personal token (stored hashed); the session cookie is
random, HttpOnly and SameSite=Strict; every POST form carries a CSRF token (per session; for
the login form a double-submit cookie) compared in constant time; all SQL is parameterised;
all content is escaped by Jinja2's autoescape; labels are validated on the server.
"""


import csv
import hmac
import io
import secrets
from pathlib import Path

from modelworks.web.agreement import agreement_report
from modelworks.web.db import AnnotationDB
from modelworks.web.schema import AnnotationItem, LabelSchema

__all__ = ["create_annotation_app", "serve_app", "SESSION_COOKIE"]

SESSION_COOKIE = "mw_session"
LOGIN_CSRF_COOKIE = "mw_login_csrf"
_TEMPLATES = Path(__file__).parent / "templates"


def create_annotation_app(
    db_path: str | Path,
    items: list[AnnotationItem],
    schema: LabelSchema,
    annotators: dict[str, str],
    k: int = 1,
    title: str = "Annotation",
    agreement_level: str = "ordinal",
):
    """A FastAPI app: ``annotators`` maps name -> login token; each item gets ``k`` annotators."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
    from fastapi.templating import Jinja2Templates

    db = AnnotationDB(db_path)
    db.add_items(items)
    db.add_annotators(annotators)
    db.assign(k)
    templates = Jinja2Templates(directory=str(_TEMPLATES))  # autoescape is on for .html
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
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
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict")
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
        return RedirectResponse(f"/item/{item_id}", status_code=303)

    def show(request: Request, me: tuple[str, str], item_id: str, message: str = "", status: int = 200,
             chosen: dict | None = None):
        item = db.item(item_id)
        mine = next(p for p in db.progress() if p["annotator"] == me[0])
        return page(request, "item.html", status=status, user=me[0], csrf=me[1], item=item, message=message,
                    chosen=chosen if chosen is not None else db.labels_of(item_id, me[0]), progress=mine)

    @app.get("/item/{item_id}", response_class=HTMLResponse)
    def item_page(request: Request, item_id: str):
        me = current(request)
        if not me:
            return RedirectResponse("/", status_code=303)
        if db.item(item_id) is None or not db.is_assigned(item_id, me[0]):
            return error(request, f"item {item_id!r} is not assigned to you", 404)
        return show(request, me, item_id)

    @app.post("/item/{item_id}")
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
            chosen = {k[6:]: int(v) for k, v in fields.items() if v.lstrip("-").isdigit()}
            return show(request, me, item_id, message=str(exc), status=400, chosen=chosen)
        db.submit(item_id, me[0], labels)
        return RedirectResponse("/next", status_code=303)

    @app.get("/progress", response_class=HTMLResponse)
    def progress(request: Request):
        me = current(request)
        if not me:
            return RedirectResponse("/", status_code=303)
        return page(request, "progress.html", user=me[0], csrf=me[1], progress=db.progress())

    def require_login(request: Request) -> Response | None:
        return None if current(request) else JSONResponse({"error": "log in first"}, status_code=401)

    @app.get("/export.json")
    def export_json(request: Request):
        if (denied := require_login(request)) is not None:
            return denied
        return JSONResponse(db.export(schema))

    @app.get("/export.csv")
    def export_csv(request: Request):
        if (denied := require_login(request)) is not None:
            return denied
        buf = io.StringIO()
        w = csv.writer(buf)
        dims = [d.name for d in schema.dimensions]
        w.writerow(["item", "annotator", *dims])
        for rec in db.export(schema):
            w.writerow([rec["item"], rec["annotator"], *(rec["scores"].get(d, "") for d in dims)])
        return PlainTextResponse(buf.getvalue(), media_type="text/csv")

    @app.get("/agreement.json")
    def agreement(request: Request):
        if (denied := require_login(request)) is not None:
            return denied
        import math

        report = agreement_report(db.ratings_by_dimension(), agreement_level)

        def clean(v):
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return None if isinstance(v, float) and math.isnan(v) else v

        return JSONResponse(clean(report))

    return app


def serve_app(app, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the app with uvicorn (blocking). Loopback by default; another host is the caller's choice."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
