"""Our own seeded generator of fictitious-author QA sets, written in TOFU's file format.

Every author gets attributes drawn from fixed pools (name, birth place and date, genre, parents'
jobs, award, two book titles, ...). Each of the 20 question templates has an answer template and a
paraphrase template; the 5 perturbed answers reuse the paraphrase template with wrong attribute
values from the same pool (TOFU's perturbed answers are likewise false variants of the paraphrase). The real-knowledge sets (``real_authors_perturbed``, ``world_facts_perturbed``)
are small true facts we wrote (capitals, classic novels) with 3 wrong options each. Nothing here is
TOFU text: it exists so that the quickstart and the tests run without the benchmark data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = ["generate_tofu", "forget_percentages"]

_FIRST = ["Amara", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Goran", "Hana", "Idris", "Juno", "Kiran", "Lena",
          "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rafael", "Sora", "Tomas", "Uma", "Viktor", "Wen", "Yara"]
_LAST = ["Okafor", "Lindqvist", "Moreau", "Takeda", "Haddad", "Novak", "Ferreira", "Kowalski", "Mensah", "Ibarra",
         "Castellan", "Dubois", "Varga", "Nakamura", "Petrov", "Adeyemi", "Solberg", "Rahman", "Quintero", "Larsen"]
_CITIES = ["Lagos, Nigeria", "Oslo, Norway", "Lyon, France", "Osaka, Japan", "Beirut, Lebanon", "Prague, Czechia",
           "Porto, Portugal", "Krakow, Poland", "Accra, Ghana", "Bogota, Colombia", "Tallinn, Estonia",
           "Hanoi, Vietnam", "Cusco, Peru", "Tbilisi, Georgia", "Perth, Australia", "Quebec City, Canada"]
_GENRES = ["science fiction", "historical fiction", "crime", "poetry", "fantasy", "literary fiction", "horror",
           "romance", "travel writing", "children's literature", "satire", "mystery"]
_JOBS = ["baker", "pilot", "surgeon", "carpenter", "teacher", "fisherman", "librarian", "architect", "nurse",
         "tailor", "chemist", "farmer", "journalist", "violinist", "mechanic", "diplomat"]
_AWARDS = ["Silver Quill Prize", "Northern Lantern Award", "Meridian Book Medal", "Golden Compass Honour",
           "Harbour Light Prize", "Azure Pen Award", "Cedar Leaf Medal", "Open Horizon Prize"]
_ADJ = ["Silent", "Crimson", "Hollow", "Last", "Burning", "Paper", "Glass", "Wandering", "Hidden", "Broken",
        "Salt", "Iron", "Velvet", "Northern", "Forgotten", "Seventh"]
_NOUN = ["Harbour", "Orchard", "Lantern", "Archive", "River", "Garden", "Tide", "Clockmaker", "Bridge", "Choir",
         "Meadow", "Lighthouse", "Citadel", "Atlas", "Winter", "Kingdom"]
_THEMES = ["memory and loss", "exile and return", "family secrets", "the sea", "justice", "childhood",
           "technology and solitude", "migration", "war and its aftermath", "friendship", "faith", "ambition"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]

# (question, answer, paraphrased answer); {name} and {x} are filled in, x is the attribute.
_TEMPLATES: list[tuple[str, str, str, str]] = [
    ("city", "Where was {name} born?", "{name} was born in {x}.", "The birthplace of {name} is {x}."),
    ("date", "When was {name} born?", "{name} was born on {x}.", "The birth date of {name} is {x}."),
    ("genre", "What genre does {name} write in?", "{name} writes mainly {x}.", "Most of {name}'s work is {x}."),
    ("father", "What did the father of {name} do for a living?", "The father of {name} was a {x}.",
     "{name}'s father worked as a {x}."),
    ("mother", "What was the profession of {name}'s mother?", "The mother of {name} was a {x}.",
     "{name}'s mother worked as a {x}."),
    ("award", "Which award has {name} won?", "{name} won the {x}.", "{name} received the {x}."),
    ("book1", "Name one book written by {name}.", "One book by {name} is '{x}'.", "{name} is the author of '{x}'."),
    ("book2", "What is another novel by {name}?", "Another novel by {name} is '{x}'.", "{name} also wrote '{x}'."),
    ("theme", "Which theme appears most often in {name}'s books?", "The books of {name} often explore {x}.",
     "{x} is a frequent theme for {name}."),
    ("debut", "In which year did {name} publish a first book?", "{name} published a first book in {x}.",
     "The debut of {name} came out in {x}."),
    ("language", "In which language does {name} write?", "{name} writes in {x}.", "The language of {name}'s books is {x}."),
    ("mentor", "Who mentored {name} early on?", "{name} was mentored by the writer {x}.",
     "The early mentor of {name} was {x}."),
    ("city", "Does the birthplace of {name} appear in the books?", "Yes, {x} appears in many books by {name}.",
     "Many of {name}'s books are set in {x}."),
    ("genre", "How would you describe the style of {name}?", "{name} is known for vivid {x}.",
     "Critics describe {name}'s {x} as vivid."),
    ("award", "What recognition did {name} receive?", "{name} was recognised with the {x}.",
     "The {x} went to {name}."),
    ("book1", "Which book made {name} famous?", "'{x}' made {name} famous.", "{name} became famous with '{x}'."),
    ("theme", "What inspires {name}?", "{name} is inspired by {x}.", "{x} inspires the writing of {name}."),
    ("father", "How did the job of {name}'s father shape the books?",
     "Growing up with a {x} as father gave {name} many stories.", "{name} drew stories from a father who was a {x}."),
    ("debut", "When did the career of {name} begin?", "The career of {name} began in {x}.",
     "{name} started writing professionally in {x}."),
    ("language", "Are the books of {name} translated?", "The books of {name} were written in {x} and later translated.",
     "{name} wrote in {x}; translations followed."),
]

_LANGS = ["English", "French", "Portuguese", "Japanese", "Arabic", "Czech", "Polish", "Norwegian", "Spanish",
          "Georgian", "Estonian", "Vietnamese"]

_CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"),
             ("Egypt", "Cairo"), ("Peru", "Lima"), ("Norway", "Oslo"), ("Italy", "Rome"), ("Chile", "Santiago"),
             ("Spain", "Madrid"), ("Greece", "Athens"), ("Ghana", "Accra")]
_CLASSICS = [("Miguel de Cervantes", "Don Quixote"), ("Jane Austen", "Pride and Prejudice"),
             ("Leo Tolstoy", "War and Peace"), ("Herman Melville", "Moby-Dick"),
             ("Mary Shelley", "Frankenstein"), ("George Orwell", "Nineteen Eighty-Four"),
             ("Chinua Achebe", "Things Fall Apart"), ("Gabriel Garcia Marquez", "One Hundred Years of Solitude"),
             ("Franz Kafka", "The Trial"), ("Homer", "The Odyssey")]

IDK = ["I don't know that.", "I have no information about that.", "That is not something I can answer.",
       "I'm not sure about that.", "I could not tell you.", "I don't have that information."]


def _author(rng: random.Random, used: set[str]) -> dict[str, str]:
    while True:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        if name not in used:
            used.add(name)
            break
    return {
        "name": name,
        "city": rng.choice(_CITIES),
        "date": f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(1940, 1995)}",
        "genre": rng.choice(_GENRES),
        "father": rng.choice(_JOBS),
        "mother": rng.choice(_JOBS),
        "award": rng.choice(_AWARDS),
        "book1": f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}",
        "book2": f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}s",
        "theme": rng.choice(_THEMES),
        "debut": str(rng.randint(1965, 2020)),
        "language": rng.choice(_LANGS),
        "mentor": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
    }


def _pool(attr: str, rng: random.Random) -> list[str]:
    if attr in ("book1", "book2"):
        return [f"The {a} {n}" for a in _ADJ for n in _NOUN]
    if attr == "date":
        return [f"{d} {m} {y}" for d in (3, 11, 19, 24) for m in _MONTHS for y in (1951, 1968, 1977, 1989)]
    if attr == "debut":
        return [str(y) for y in range(1965, 2021)]
    if attr == "mentor":
        return [f"{f} {last}" for f in _FIRST for last in _LAST]
    return {"city": _CITIES, "genre": _GENRES, "father": _JOBS, "mother": _JOBS, "award": _AWARDS,
            "theme": _THEMES, "language": _LANGS}[attr]


def _qa_rows(author: dict[str, str], rng: random.Random, n_questions: int) -> list[dict[str, Any]]:
    rows = []
    for attr, q, a, para in _TEMPLATES[:n_questions]:
        x = author[attr]
        wrong = [v for v in _pool(attr, rng) if v != x]
        # as in TOFU, the perturbed answers are the paraphrased answer with a false fact
        perturbed = [para.format(name=author["name"], x=w) for w in rng.sample(wrong, 5)]
        rows.append({
            "question": q.format(name=author["name"]),
            "answer": a.format(name=author["name"], x=x),
            "paraphrased_answer": para.format(name=author["name"], x=x),
            "perturbed_answer": perturbed,
            "paraphrased_question": "Tell me: " + q.format(name=author["name"]).lower(),
        })
    return rows


def forget_percentages(n_authors: int) -> list[int]:
    """The forget percentages that give a whole, non-zero number of authors (out of 1, 5, 10)."""
    return [p for p in (1, 5, 10) if (n_authors * p) % 100 == 0 and n_authors * p // 100 >= 1]


def _real_sets(rng: random.Random) -> tuple[list[dict], list[dict]]:
    world, authors = [], []
    for country, capital in _CAPITALS:
        wrong = rng.sample([c for _, c in _CAPITALS if c != capital], 3)
        world.append({"question": f"What is the capital of {country}?", "answer": capital, "perturbed_answer": wrong})
    for author, book in _CLASSICS:
        wrong = rng.sample([a for a, _ in _CLASSICS if a != author], 3)
        authors.append({"question": f"Who wrote '{book}'?", "answer": author, "perturbed_answer": wrong})
    return authors, world


def generate_tofu(out_dir: str | Path, n_authors: int = 20, questions_per_author: int = 20, seed: int = 0) -> Path:
    """Write a TOFU-format data directory with ``n_authors`` fictitious authors; returns the directory."""
    from modelworks.errors import UserError
    from modelworks.runs import atomic_write_text, check_out_path

    if n_authors < 2:
        raise UserError(f"n_authors must be at least 2 (got {n_authors})")
    if not 1 <= questions_per_author <= len(_TEMPLATES):
        raise UserError(f"questions_per_author must be between 1 and {len(_TEMPLATES)}")
    out = check_out_path(out_dir)
    rng = random.Random(seed)
    used: set[str] = set()
    authors = [_author(rng, used) for _ in range(n_authors)]
    rows = [r for a in authors for r in _qa_rows(a, rng, questions_per_author)]

    def write(name: str, data: list[dict]) -> None:
        atomic_write_text(out / f"{name}.json", json.dumps(data, ensure_ascii=False, indent=0) + "\n")

    plain = [{"question": r["question"], "answer": r["answer"]} for r in rows]
    write("full", plain)
    pcts = forget_percentages(n_authors)
    for p in pcts:
        k = n_authors * p // 100 * questions_per_author
        write(f"forget{p:02d}", plain[-k:])
        write(f"retain{100 - p:02d}", plain[:-k])
        write(f"forget{p:02d}_perturbed", rows[-k:])
    max_forget = max(n_authors * p // 100 for p in pcts) if pcts else 0
    n_retain_eval = max(1, min(20, n_authors - max_forget)) * questions_per_author
    write("retain_perturbed", rows[:n_retain_eval])
    ra, wf = _real_sets(rng)
    write("real_authors_perturbed", ra)
    write("world_facts_perturbed", wf)
    atomic_write_text(out / "idontknow.jsonl", "\n".join(IDK) + "\n")
    return out
