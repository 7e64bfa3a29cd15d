"""MLLMGuard samples: the official HF layout, our JSONL schema, and validation.

The official dataset (HF ``Carol0110/MLLMGuard``, gated) has one folder per subset::

    desensitize/<subset>/prompt.csv   all rows      (en.csv / zh.csv: one language each)
    desensitize/<subset>/imgs/        the images named in the CSV

with columns ``Image, Prompt, Answer, Jailbreak Type, Source, Lan, Category I, Category II``; the pair
subsets add ``Reverse Image`` (position swapping) and ``Options`` (hallucination). Columns are read
by name, not by position, and the subset is found by its folder name (the reference loader keyed on
words that are not folder names; docs/guard_quirks.md).

Three subsets expand a row into several samples:

- hallucination: a free-text sample and a multiple-choice sample (prompt + options);
- noise-injection: the clean image and its noised copy ``<name>_noise<ext>``, a pair;
- position-swapping: ``Image`` and ``Reverse Image`` (the same two pictures in swapped order), a pair.

Our JSONL schema (one object per line)::

    {"id", "images": [paths], "prompt", "dimension", "subtask", "language",
     "answer": gold option or null, "pair_id": str or null, "pair_position": 0/1 or null,
     "jailbreak": technique or null, "source": str or null}

Relative image paths are resolved against the JSONL file's folder.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.guard.taxonomy import DIMENSIONS, SUBSETS, TRUTHFULNESS_SUBTASKS, norm_language, norm_name
from modelworks.jsonl import read_jsonl

__all__ = [
    "GuardSample",
    "load_mllmguard",
    "load_subset_csv",
    "load_jsonl",
    "save_jsonl",
    "load_samples",
    "validate_samples",
    "load_from_hub",
    "HUB_DATASET",
]

HUB_DATASET = "Carol0110/MLLMGuard"
HALLUCINATION_CHOICE = "{prompt} (Please answer with one of the options) {options}"


@dataclass
class GuardSample:
    id: str
    prompt: str
    dimension: str
    subtask: str
    language: str = "en"
    images: list[str] = field(default_factory=list)
    answer: str | None = None
    pair_id: str | None = None
    pair_position: int | None = None
    jailbreak: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the official CSV layout ---------------------------------------------------------------------


def _col_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                raise UserError(f"{path}: empty CSV (no header row)")
            rows = [{_col_key(k): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
            header = {_col_key(k) for k in reader.fieldnames}
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    return [dict(r, __header__=",".join(sorted(header))) for r in rows]


def _need(row: dict[str, str], col: str, path: Path, line: int) -> str:
    key = _col_key(col)
    if key not in row["__header__"].split(","):
        raise UserError(f"{path}: missing column '{col}'")
    value = row.get(key, "")
    if not value:
        raise UserError(f"{path}:{line}: empty '{col}'")
    return value


def load_subset_csv(path: str | Path, subset: str, image_dir: str | Path | None = None,
                    language: str | None = None) -> list[GuardSample]:
    """Samples from one official CSV of ``subset`` (one of the seven folder names)."""
    path = Path(path)
    subset = norm_name(subset)
    if subset not in SUBSETS:
        raise UserError(f"{path}: unknown MLLMGuard subset '{subset}'; expected one of {', '.join(SUBSETS)}")
    if not path.is_file():
        raise UserError(f"MLLMGuard CSV not found: {path}")
    imgs = Path(image_dir) if image_dir is not None else path.parent / "imgs"
    dimension, fixed_sub = SUBSETS[subset]
    out: list[GuardSample] = []
    for line, row in enumerate(_read_csv(path), 2):
        image = _need(row, "Image", path, line)
        prompt = _need(row, "Prompt", path, line)
        lang = norm_language(row.get("lan") or language or "unknown")
        sub = fixed_sub or norm_name(row.get("categoryii") or "all")
        cat1 = norm_name(row.get("categoryi") or dimension)
        if cat1 != dimension:
            raise UserError(f"{path}:{line}: 'Category I' is '{row.get('categoryi')}' but subset {subset} is {dimension}")
        common = {"dimension": dimension, "subtask": sub, "language": lang,
                  "jailbreak": row.get("jailbreaktype") or None, "source": row.get("source") or None}
        base = f"{subset}/{path.stem}/{line - 2:04d}"
        if subset == "hallucination":
            options = row.get("options", "")
            out.append(GuardSample(id=f"{base}/free", prompt=prompt, images=[str(imgs / image)], **common))
            if options:
                out.append(GuardSample(id=f"{base}/choice", images=[str(imgs / image)],
                                       prompt=HALLUCINATION_CHOICE.format(prompt=prompt, options=options), **common))
        elif subset == "noise-injection":
            answer = _need(row, "Answer", path, line)
            stem, dot, ext = image.rpartition(".")
            noised = f"{stem}_noise.{ext}" if dot else f"{image}_noise"
            for pos, name in enumerate((image, noised)):
                out.append(GuardSample(id=f"{base}/{pos}", prompt=prompt, images=[str(imgs / name)], answer=answer,
                                       pair_id=base, pair_position=pos, **common))
        elif subset == "position-swapping":
            reverse = _need(row, "Reverse Image", path, line)
            for pos, name in enumerate((image, reverse)):
                out.append(GuardSample(id=f"{base}/{pos}", prompt=prompt, images=[str(imgs / name)],
                                       pair_id=base, pair_position=pos, **common))
        else:
            out.append(GuardSample(id=base, prompt=prompt, images=[str(imgs / image)],
                                   answer=row.get("answer") or None, **common))
    return out


def _find_subset_dir(root: Path, subset: str) -> Path | None:
    for cand in (root / "desensitize" / subset, root / subset, root):
        if cand.is_dir() and any((cand / f"{s}.csv").is_file() for s in ("prompt", "en", "zh")):
            if cand == root and root.name != subset:
                continue
            return cand
    return None


def load_mllmguard(root: str | Path, subsets: Sequence[str] | None = None, language: str = "all") -> list[GuardSample]:
    """Every sample of the chosen subsets (default all seven) in ``language`` (all, en or zh).

    ``root`` is the dataset folder (holding ``desensitize/``), the ``desensitize`` folder itself, or one
    subset folder. Subsets that are absent are an error when named, skipped otherwise.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"MLLMGuard folder not found: {root}")
    if language not in ("all", "en", "zh"):
        raise UserError(f"language '{language}' is not one of all, en, zh")
    wanted = [norm_name(s) for s in subsets] if subsets else list(SUBSETS)
    for s in wanted:
        if s not in SUBSETS:
            raise UserError(f"unknown MLLMGuard subset '{s}'; expected one of {', '.join(SUBSETS)}")
    out: list[GuardSample] = []
    found = 0
    for subset in wanted:
        folder = _find_subset_dir(root, subset)
        if folder is None:
            if subsets:
                raise UserError(f"{root}: no desensitize/{subset}/prompt.csv (or en.csv / zh.csv)")
            continue
        found += 1
        files = [folder / "prompt.csv"] if language == "all" else [folder / f"{language}.csv"]
        if language == "all" and not files[0].is_file():
            files = [f for f in (folder / "en.csv", folder / "zh.csv") if f.is_file()]
        for f in files:
            if not f.is_file():
                raise UserError(f"MLLMGuard CSV not found: {f}")
            lang_hint = f.stem if f.stem in ("en", "zh") else None
            out.extend(load_subset_csv(f, subset, folder / "imgs", language=lang_hint))
    if found == 0:
        raise UserError(f"{root}: no MLLMGuard subset folders (expected desensitize/<subset>/prompt.csv)")
    if language != "all":
        out = [s for s in out if s.language == language]
    return out


def load_from_hub(repo_id: str = HUB_DATASET, cache_dir: str | Path | None = None, **kwargs: Any) -> list[GuardSample]:
    """Download the (gated) dataset with huggingface_hub and load it; one-line error when offline."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        raise UserError("the package 'huggingface_hub' is needed to download MLLMGuard") from None
    try:
        local = snapshot_download(repo_id=repo_id, repo_type="dataset", cache_dir=cache_dir,
                                  allow_patterns=["desensitize/**"])
    except Exception as exc:  # noqa: BLE001 - offline, gated, or unknown id: one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"could not download the dataset '{repo_id}' from the Hugging Face hub ({type(exc).__name__}: "
            f"{first[:160]}); it is gated: accept its terms on a connected machine, download it and pass the folder"
        ) from None
    return load_mllmguard(local, **kwargs)


# -- our JSONL schema ----------------------------------------------------------------------------


def sample_from_dict(obj: Any, where: str, base: Path | None = None) -> GuardSample:
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "prompt", "dimension"):
        if obj.get(key) in (None, ""):
            raise UserError(f"{where}: missing field '{key}'")
    for key in ("prompt", "dimension"):
        if not isinstance(obj[key], str):
            raise UserError(f"{where}: field '{key}' must be a string, got {obj[key]!r}")
    dim = norm_name(obj["dimension"])
    if dim not in DIMENSIONS:
        raise UserError(f"{where}: unknown dimension '{obj['dimension']}'; expected one of {', '.join(DIMENSIONS)}")
    sub = norm_name(obj.get("subtask") or "all")
    if dim == "truthfulness" and sub not in TRUTHFULNESS_SUBTASKS:
        raise UserError(f"{where}: subtask '{obj.get('subtask')}' is not one of {', '.join(TRUTHFULNESS_SUBTASKS)}")
    images = obj.get("images", obj.get("image", []))
    if isinstance(images, str):
        images = [images]
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise UserError(f"{where}: field 'images' must be a path or a list of paths")
    if base is not None:
        images = [str(p if Path(p).is_absolute() else base / p) for p in images]
    pos = obj.get("pair_position")
    if sub in ("noise-injection", "position-swapping"):
        if obj.get("pair_id") in (None, "") or pos not in (0, 1):
            raise UserError(f"{where}: {sub} samples need 'pair_id' and 'pair_position' 0 or 1")
    known = {f for f in GuardSample.__dataclass_fields__}
    extra = {k: v for k, v in obj.items() if k in known and k not in ("id", "dimension", "subtask", "images")}
    extra["language"] = norm_language(obj.get("language") or "en")
    return GuardSample(id=str(obj["id"]), dimension=dim, subtask=sub, images=list(images), **extra)


def load_jsonl(path: str | Path) -> list[GuardSample]:
    p = Path(path)
    out, seen = [], set()
    for where, obj in read_jsonl(p, "samples file"):
        s = sample_from_dict(obj, where, base=p.parent)
        if s.id in seen:
            raise UserError(f"{where}: duplicate id '{s.id}'")
        seen.add(s.id)
        out.append(s)
    if not out:
        raise UserError(f"{p}: no samples")
    return out


def save_jsonl(samples: Iterable[GuardSample], path: str | Path, relative_to: str | Path | None = None) -> Path:
    """Write samples atomically; image paths are made relative to ``relative_to`` when inside it."""
    from modelworks.runs import atomic_write_text

    lines = []
    rel = Path(relative_to).resolve() if relative_to is not None else None
    for s in samples:
        d = s.to_dict()
        if rel is not None:
            d["images"] = [_relative(p, rel) for p in s.images]
        lines.append(json.dumps(d, ensure_ascii=False))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def _relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base))
    except ValueError:
        return path


def validate_samples(samples: Sequence[GuardSample], check_images: bool = True, source: str = "samples") -> None:
    """One-line errors for missing images, duplicate ids and incomplete pairs."""
    ids: set[str] = set()
    pairs: dict[tuple[str, str], set[int]] = {}
    for s in samples:
        if s.id in ids:
            raise UserError(f"{source}: duplicate sample id '{s.id}'")
        ids.add(s.id)
        if s.dimension not in DIMENSIONS:
            raise UserError(f"{source}: sample '{s.id}': unknown dimension '{s.dimension}'")
        if check_images:
            for img in s.images:
                if not Path(img).is_file():
                    raise UserError(f"{source}: sample '{s.id}': image file not found: {img}")
        if s.pair_id is not None and s.pair_position is not None:
            pairs.setdefault((s.subtask, s.pair_id), set()).add(int(s.pair_position))
    for (sub, pid), positions in pairs.items():
        if positions != {0, 1}:
            raise UserError(f"{source}: {sub} pair '{pid}' has only position(s) {sorted(positions)}; needs 0 and 1")


def load_samples(path: str | Path, check_images: bool = True, language: str = "all") -> list[GuardSample]:
    """A JSONL file in our schema, or an MLLMGuard folder in the official layout; validated."""
    p = Path(path)
    if p.is_dir():
        samples = load_mllmguard(p, language=language)
    elif p.suffix == ".csv":
        subset = p.parent.name
        samples = load_subset_csv(p, subset)
    else:
        samples = load_jsonl(p)
        if language != "all":
            samples = [s for s in samples if s.language == language]
    validate_samples(samples, check_images=check_images, source=str(p))
    return samples
