"""``modelworks esc annotate``: the shared annotation app set up for ESC-Eval dialogues.

Items are a run's dialogues (the role card beside them), the schema is the 7 dimensions scored
0-4 with the rubric texts of the templates. The database lives in the run folder
(``annotations.sqlite``); :func:`export_annotations` writes ``annotations.jsonl`` in the format
that ``modelworks esc rank train --annotations`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from modelworks.errors import UserError

__all__ = ["esc_schema", "esc_items", "esc_annotation_app", "export_annotations", "load_tokens"]


def esc_schema(language: str = "en", templates: dict[str, str] | None = None):
    from modelworks.esc.templates import DIMENSION_TITLES, DIMENSIONS, load_templates
    from modelworks.web import Dimension, LabelSchema

    t = load_templates(language, templates)
    return LabelSchema([Dimension(d, DIMENSION_TITLES[d], t.rubrics[d]) for d in DIMENSIONS], low=0, high=4)


def esc_items(run_dir: str | Path):
    from modelworks.esc.dialogue import split_utterance
    from modelworks.esc.runner import read_dialogues
    from modelworks.web import AnnotationItem

    cards = {}
    cfg = Path(run_dir) / "samples.sqlite"
    if cfg.is_file():
        from modelworks.store import SampleStore

        with SampleStore(cfg) as store:
            for row in store.rows("esc", "dialogues"):
                cards[row.sample_id] = row.input["card"]["base"]
    items = []
    for r in read_dialogues(run_dir):
        turns = []
        for u in r.utterances:
            role, text = split_utterance(u)
            turns.append(("Seeker (ESC-Role)" if role == "seeker" else "AI assistant", text))
        ctx = [("Role card", cards[r.index])] if r.index in cards else []
        items.append(AnnotationItem(r.index, turns, ctx, meta={"language": r.language, "model": r.model,
                                                                "card_id": r.card_id, "utterances": r.utterances}))
    if not items:
        raise UserError(f"{run_dir}: the run has no finished dialogues to annotate")
    return items


def load_tokens(spec: str | None, names: list[str] | None, out_file: Path) -> dict[str, str]:
    """The roster {name: token}: the JSON file ``spec`` as given, or ``names`` with the tokens kept in
    ``out_file`` (new names get fresh tokens added there; no names: everyone in ``out_file``)."""
    from modelworks.web import read_tokens, stored_tokens

    if spec:
        if names:
            raise UserError("give either --tokens FILE or --annotators NAMES, not both (the file names the annotators)")
        return read_tokens(spec)
    return stored_tokens(out_file, names)


def esc_annotation_app(run_dir: str | Path, annotators: dict[str, str], k: int = 1, language: str = "en",
                       templates: dict[str, str] | None = None, items=None):
    from modelworks.web import create_annotation_app

    run_dir = Path(run_dir)
    note = ("The project owner exports all labels with 'modelworks esc export-annotations --run RUN' and "
            "computes the agreement with 'modelworks esc agreement --run RUN'.")
    items = items if items is not None else esc_items(run_dir)
    return create_annotation_app(run_dir / "annotations.sqlite", items, esc_schema(language, templates),
                                 annotators, k=k, title="ESC-Eval annotation", owner_note=note)


def export_annotations(run_dir: str | Path) -> Path:
    """annotations.jsonl (one line per annotator x dialogue) for ``esc rank train --annotations``."""
    from modelworks.runs import atomic_write_text
    from modelworks.web import AnnotationDB

    run_dir = Path(run_dir)
    db_path = run_dir / "annotations.sqlite"
    if not db_path.is_file():
        raise UserError(f"{db_path} not found: run 'modelworks esc annotate --run {run_dir}' first")
    db = AnnotationDB(db_path)
    lines = [json.dumps({"item": r["item"], "annotator": r["annotator"], "scores": r["scores"],
                         "language": r["meta"].get("language", "en"), "utterances": r["meta"]["utterances"]},
                        ensure_ascii=False) for r in db.export()]
    db.close()
    return atomic_write_text(run_dir / "annotations.jsonl", "".join(line + "\n" for line in lines))
