"""The light CPU ESC-RANK: a linear regression or ordinal head on MiniLM dialogue features.

One head per target (an ESC dimension, or an ESConv survey field), and per language where a
language has enough examples (``<dim>@<lang>``; otherwise the pooled head is used). Heads:

- ``ridge``: one ridge regression per feature group (embeddings; length + anchor similarities +
  turn statistics; hashed seeker words, see :mod:`modelworks.esc.rank.features`); the first two on
  standardised features, the word group only centred. Each penalty is fixed (``alphas``; for ESConv
  :data:`ESCONV_ALPHAS`, chosen by 5-fold cross-validation on the training part of the ESConv split)
  or chosen by leave-one-out CV (scikit-learn ``RidgeCV``, the default for ESC-Eval annotations).
  The predictions are averaged after putting each on the first one's scale. The score is that
  average, the level its rounding into [low, high];
- ``ordinal``: multinomial logistic regression over the levels; the score is the expected level.

Saved as ``scorer.json`` (settings) + ``heads.npz`` (the arrays), so loading needs no pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelworks.errors import UserError

__all__ = ["Head", "GroupHead", "LightScorer", "fit_head", "fit_group_head", "train_light", "MIN_PER_LANGUAGE",
           "ESCONV_ALPHAS"]

MIN_PER_LANGUAGE = 40
ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)
# Ridge penalties of the (embedding, compact, lexical) groups chosen by repeated 5-fold CV on the
# 832 training conversations of the ESConv split (benchmarks/esc_rank_esconv.py), empathy target.
ESCONV_ALPHAS = (3000.0, 1000.0, 30.0)


@dataclass
class Head:
    kind: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray         # (d,) for ridge, (classes, d) for ordinal
    intercept: np.ndarray    # () for ridge, (classes,) for ordinal
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cols: tuple[int, int] = (0, 0)  # the feature columns it reads; (0, 0) = all

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.cols != (0, 0):
            x = x[:, self.cols[0]:self.cols[1]]
        z = (x - self.mean) / self.scale
        if self.kind == "ridge":
            return z @ self.coef + self.intercept
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        return p @ self.classes


@dataclass
class GroupHead:
    """Ridge heads on feature groups, averaged after putting each on the first head's scale."""

    heads: list[Head]
    loc: np.ndarray     # mean of each head's predictions on the training rows
    spread: np.ndarray  # their standard deviation
    kind: str = "group"

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = np.mean([(h.predict(x) - m) / s for h, m, s in zip(self.heads, self.loc, self.spread, strict=True)], axis=0)
        return self.loc[0] + self.spread[0] * z


def fit_group_head(x: np.ndarray, y: np.ndarray, groups: list[tuple[int, int]],
                   alphas: Sequence[float | None] | None = None, standardise: Sequence[bool] | None = None) -> GroupHead:
    heads = []
    for i, (a, b) in enumerate(groups):
        h = fit_head(x[:, a:b], y, "ridge", alpha=alphas[i] if alphas else None,
                     standardise=standardise[i] if standardise else True)
        h.cols = (a, b)
        heads.append(h)
    preds = [h.predict(x) for h in heads]
    return GroupHead(heads, np.array([p.mean() for p in preds]), np.array([max(p.std(), 1e-6) for p in preds]))


def fit_head(x: np.ndarray, y: np.ndarray, kind: str = "ridge", alpha: float | None = None,
             standardise: bool = True) -> Head:
    """``alpha=None``: the ridge penalty is chosen from :data:`ALPHAS` by leave-one-out CV.
    ``standardise=False``: features are only centred (for the L2-normalised word counts)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(0)
    scale = x.std(0) if standardise else np.ones(x.shape[1])
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    if kind == "ridge":
        from sklearn.linear_model import Ridge, RidgeCV

        m = Ridge(alpha=alpha).fit(z, y) if alpha is not None else RidgeCV(alphas=ALPHAS).fit(z, y)
        return Head("ridge", mean, scale, np.asarray(m.coef_, dtype=np.float64), np.asarray(m.intercept_))
    if kind == "ordinal":
        from sklearn.linear_model import LogisticRegression

        classes = np.unique(y)
        if len(classes) < 2:
            return Head("ridge", mean, scale, np.zeros(x.shape[1]), np.asarray(float(classes[0])))
        m = LogisticRegression(C=0.01, max_iter=2000).fit(z, y.astype(int))
        coef, icpt = m.coef_, m.intercept_
        if len(classes) == 2:  # sklearn's binary form -> two softmax rows
            coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
            icpt = np.array([0.0, icpt[0]])
        return Head("ordinal", mean, scale, coef, icpt, m.classes_.astype(float))
    raise UserError(f"unknown head '{kind}'; use ridge or ordinal")


@dataclass
class LightScorer:
    targets: list[str]
    low: int
    high: int
    heads: dict
    head_kind: str = "ridge"
    encoder_dir: str | None = None
    meta: dict = field(default_factory=dict)

    def _encoder(self):
        from modelworks.esc.rank.encoder import utterance_encoder

        return utterance_encoder(self.encoder_dir)

    def features(self, dialogues: Sequence[Sequence[tuple[str, str]]]) -> np.ndarray:
        from modelworks.esc.rank.features import dialogue_features

        return dialogue_features(self._encoder(), dialogues)

    def predict_features(self, x: np.ndarray, target: str, languages: Sequence[str] | None = None) -> np.ndarray:
        if target not in self.targets:
            raise UserError(f"this scorer has no target '{target}'; it was trained on {', '.join(self.targets)}")
        out = self.heads[target].predict(x)
        if languages is not None:
            langs = np.asarray(list(languages))
            for lang in set(langs):
                key = f"{target}@{lang}"
                if key in self.heads:
                    sel = langs == lang
                    out[sel] = self.heads[key].predict(x[sel])
        return out

    def score(self, dialogues, target: str, languages=None) -> np.ndarray:
        return self.predict_features(self.features(dialogues), target, languages)

    def save(self, out: str | Path) -> Path:
        from modelworks.runs import atomic_write_json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        arrays, spec = {}, {}
        for name, h in self.heads.items():
            parts = h.heads if isinstance(h, GroupHead) else [h]
            for i, part in enumerate(parts):
                for key in ("mean", "scale", "coef", "intercept", "classes"):
                    arrays[f"{name}|{i}|{key}"] = np.asarray(getattr(part, key))
            if isinstance(h, GroupHead):
                arrays[f"{name}|loc"], arrays[f"{name}|spread"] = h.loc, h.spread
            spec[name] = {"kind": h.kind, "parts": [p.kind for p in parts], "cols": [list(p.cols) for p in parts]}
        np.savez(out / "heads.npz", **arrays)
        atomic_write_json(out / "scorer.json", {
            "form": "light", "targets": self.targets, "low": self.low, "high": self.high,
            "head_kind": self.head_kind, "encoder_dir": self.encoder_dir,
            "heads": spec, "meta": self.meta})
        return out

    @classmethod
    def load(cls, path: str | Path) -> LightScorer:
        path = Path(path)
        spec_file = path / "scorer.json"
        if not spec_file.is_file() or not (path / "heads.npz").is_file():
            raise UserError(f"{path} is not a light scorer folder (needs scorer.json and heads.npz)")
        from modelworks.jsonl import read_json

        spec = read_json(spec_file, "scorer spec")
        if not isinstance(spec, dict):
            raise UserError(f"{spec_file}: expected a JSON object")
        from modelworks.esc.rank.features import FEATURE_VERSION

        version = spec.get("meta", {}).get("feature_version", 1)
        if version != FEATURE_VERSION:
            raise UserError(f"{spec_file}: scorer uses dialogue-feature layout v{version}, this version computes "
                            f"v{FEATURE_VERSION}; retrain it with 'modelworks esc rank train'")
        import zipfile

        try:
            arrays = np.load(path / "heads.npz")
            heads: dict = {}
            for n, h in spec["heads"].items():
                parts = [Head(kind, *(arrays[f"{n}|{i}|{k}"] for k in ("mean", "scale", "coef", "intercept", "classes")),
                              cols=tuple(h["cols"][i])) for i, kind in enumerate(h["parts"])]
                heads[n] = (GroupHead(parts, arrays[f"{n}|loc"], arrays[f"{n}|spread"]) if h["kind"] == "group"
                            else parts[0])
            return cls(spec["targets"], spec["low"], spec["high"], heads, spec.get("head_kind", "ridge"),
                       spec.get("encoder_dir"), spec.get("meta", {}))
        except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as e:
            raise UserError(f"{path}: the scorer files are damaged or incomplete (scorer.json / heads.npz: "
                            f"{type(e).__name__}); retrain it with 'modelworks esc rank train'") from None


def train_light(
    x: np.ndarray,
    labels: dict[str, Sequence[float | None]],
    low: int,
    high: int,
    languages: Sequence[str] | None = None,
    head: str = "ridge",
    encoder_dir: str | None = None,
    alphas: Sequence[float | None] | None = None,
) -> LightScorer:
    """Fit one head per target on the rows whose label is not None (+ per-language heads)."""
    from modelworks.esc.rank.features import COMPACT_COLS, EMBED_COLS, FEATURE_DIM, FEATURE_VERSION, LEXICAL_COLS

    if x.shape[1] != FEATURE_DIM:
        raise UserError(f"features have {x.shape[1]} columns, expected {FEATURE_DIM}")
    groups = [(c.start, c.stop) for c in (EMBED_COLS, COMPACT_COLS, LEXICAL_COLS)]
    if alphas is not None and len(alphas) != len(groups):
        raise UserError(f"alphas needs one penalty per feature group ({len(groups)}), got {len(alphas)}")

    def fit(xs: np.ndarray, ys: np.ndarray):
        if head == "ridge":
            return fit_group_head(xs, ys, groups, alphas, standardise=(True, True, False))
        return fit_head(xs, ys, head)

    heads: dict = {}
    langs = np.asarray(list(languages)) if languages is not None else None
    counts = {}
    for target, ys in labels.items():
        y = np.array([np.nan if v is None else float(v) for v in ys])
        ok = ~np.isnan(y)
        if ok.sum() < 2:
            raise UserError(f"target '{target}' has {int(ok.sum())} labelled examples; at least 2 are needed")
        heads[target] = fit(x[ok], y[ok])
        counts[target] = int(ok.sum())
        if langs is not None and len(set(langs[ok])) > 1:
            for lang in sorted(set(langs[ok])):
                sel = ok & (langs == lang)
                if sel.sum() >= MIN_PER_LANGUAGE:
                    heads[f"{target}@{lang}"] = fit(x[sel], y[sel])
    meta = {"train_counts": counts, "feature_version": FEATURE_VERSION, "feature_dim": FEATURE_DIM}
    if head == "ridge":
        meta["alphas"] = list(alphas) if alphas is not None else "leave-one-out CV"
    return LightScorer(list(labels), low, high, heads, head, encoder_dir, meta)
