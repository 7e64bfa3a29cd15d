"""The annotation web app shared by esc and guard: items + a label schema -> FastAPI app.

Public API (see :mod:`modelworks.web.app` for an example)::

    create_annotation_app(db_path, items, schema, annotators, k=1, title=..., owner_note="")
    serve_app(app, host="127.0.0.1", port=8765)
    LabelSchema(dimensions=[Dimension(name, title, rubric)], low=0, high=4, level_names={})
    AnnotationItem(id, turns=[(speaker, text)], context=[(title, text)], meta={})
    AnnotationDB(path).export(schema, annotator=None) / .progress() / .ratings_by_dimension()
    agreement_report({dim: {item: {annotator: value}}}), cohen_kappa, krippendorff_alpha
    make_tokens(names) -> {name: random token}
    read_tokens(path) -> {name: token} from a token file (checked)
    stored_tokens(path, names=None) -> the roster's tokens, kept in a 0600 JSON file across restarts
"""

import secrets
from pathlib import Path

from modelworks.errors import UserError
from modelworks.web.agreement import agreement_report, cohen_kappa, krippendorff_alpha, pairwise_agreement
from modelworks.web.app import create_annotation_app, serve_app
from modelworks.web.db import AnnotationDB
from modelworks.web.schema import AnnotationItem, Dimension, LabelSchema


def make_tokens(names: list[str]) -> dict[str, str]:
    """A fresh random login token for each annotator name."""
    return {n: secrets.token_urlsafe(12) for n in names}


def read_tokens(path: str | Path) -> dict[str, str]:
    """A token file ``{annotator name: token}``; anything else is a one-line :class:`UserError`."""
    from modelworks.jsonl import read_json

    data = read_json(path, "token file")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UserError(f"{path}: expected an object {{annotator name: token}}; fix or delete the file")
    return data


def check_roster(path: str | Path, names: list[str] | None, k: int) -> None:
    """Refuse ``k`` annotators per item that the roster :func:`stored_tokens` would make cannot give,
    before any file is written."""
    path = Path(path)
    n = len(set(names)) if names else (len(read_tokens(path)) if path.is_file() else 0) or 1  # none: annotator1
    if not 1 <= k <= n:
        raise UserError(f"--k {k}: annotators per item must be between 1 and the number of annotators ({n})")


def stored_tokens(path: str | Path, names: list[str] | None = None) -> dict[str, str]:
    """{name: token} for ``names`` (default: everyone in the file, else ``annotator1``) from the JSON file ``path``.

    The file is the roster: a name without a token gets a fresh one; tokens already handed out are kept, so
    a restart never logs anyone out; a name left out of ``names`` is removed, so it stays revoked after later
    restarts too.
    """
    from modelworks.runs import atomic_write_json

    path = Path(path)
    stored = read_tokens(path) if path.is_file() else {}
    names = list(names) if names else list(stored) or ["annotator1"]
    roster = {**{n: stored[n] for n in names if n in stored}, **make_tokens([n for n in names if n not in stored])}
    if roster != stored:
        atomic_write_json(path, roster)
        path.chmod(0o600)
    return {n: roster[n] for n in names}


__all__ = [
    "AnnotationDB", "AnnotationItem", "Dimension", "LabelSchema", "agreement_report", "cohen_kappa",
    "create_annotation_app", "krippendorff_alpha", "make_tokens", "pairwise_agreement", "read_tokens", "serve_app",
    "stored_tokens", "check_roster",
]
