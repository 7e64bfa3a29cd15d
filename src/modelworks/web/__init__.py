"""The annotation web app shared by esc and guard: items + a label schema -> FastAPI app.

Public API (see :mod:`modelworks.web.app` for an example)::

    create_annotation_app(db_path, items, schema, annotators, k=1, title=..., agreement_level="ordinal")
    serve_app(app, host="127.0.0.1", port=8765)
    LabelSchema(dimensions=[Dimension(name, title, rubric)], low=0, high=4, level_names={})
    AnnotationItem(id, turns=[(speaker, text)], context=[(title, text)], meta={})
    AnnotationDB(path).export(schema) / .progress() / .ratings_by_dimension()
    agreement_report({dim: {item: {annotator: value}}}), cohen_kappa, krippendorff_alpha
    make_tokens(names) -> {name: random token}
"""

import secrets

from modelworks.web.agreement import agreement_report, cohen_kappa, krippendorff_alpha, pairwise_agreement
from modelworks.web.app import create_annotation_app, serve_app
from modelworks.web.db import AnnotationDB
from modelworks.web.schema import AnnotationItem, Dimension, LabelSchema


def make_tokens(names: list[str]) -> dict[str, str]:
    """A fresh random login token for each annotator name."""
    return {n: secrets.token_urlsafe(12) for n in names}


__all__ = [
    "AnnotationDB", "AnnotationItem", "Dimension", "LabelSchema", "agreement_report", "cohen_kappa",
    "create_annotation_app", "krippendorff_alpha", "make_tokens", "pairwise_agreement", "serve_app",
]
