"""Measure the similarity threshold above which a search query is matched to a myth.

Embeds the myths in corpus/myths.toml with the real model (all-MiniLM-L6-v2, offline, run from
its ONNX export in the data folder, as `kb myths` and the server do) and scores
two sets of queries written here: paraphrases of each myth's claim, as a person might type them,
and unrelated queries about the same subject that no myth answers. Prints the distributions of
each query's best score and, for three ways of scoring a myth, the threshold that misclassifies
the fewest queries (a paraphrase counts as right only if its own myth comes first). The default in
kb/myths.py (MATCH_THRESHOLD) is the middle of the best interval for the scoring kb.myths uses.

Run: .venv/bin/python bench/myth_threshold.py [--data-dir data]   (after `kb ingest`)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from query_model import query_embedder  # noqa: E402

from kb.embedder import QueryCache  # noqa: E402
from kb.myths import MATCH_THRESHOLD  # noqa: E402
from kb.myths import MythBook  # noqa: E402
from kb.myths import load_myths  # noqa: E402
from kb.myths import myth_texts  # noqa: E402

# Paraphrases of each claim, worded differently from the claim and its queries.
MYTH_LIKE = {
    "sharing-saves-big": [
        "isn't sharing services going to save loads of money",
        "a shared back office will cut costs massively",
        "merging finance and HR across councils saves millions",
        "economies of scale from shared services",
    ],
    "split-front-and-back": [
        "can we separate the front office from the back office",
        "is it fine to split customer contact from processing",
        "front office and back office as separate units",
        "does splitting the service into front and back end cause problems",
    ],
    "cutting-admin-saves": [
        "cutting admin staff saves money",
        "self-service systems for staff are cheaper",
        "do we still need clerical support for social workers",
        "getting rid of administrative assistants to make savings",
    ],
    "technology-fixes-it": [
        "can't technology fix this",
        "a new IT system will make the shared centre work",
        "new software will deliver the efficiencies",
        "digital systems make shared services succeed",
    ],
    "bigger-is-better": [
        "a bigger centralised service is more efficient",
        "one large processing centre instead of local teams",
        "centralising support services in one big hub",
        "scale makes services cheaper to run",
    ],
    "consultants-deliver": [
        "should we hire consultants to find the savings",
        "outsourcing to a private company will save money",
        "a partnership with IBM will deliver savings",
        "management consultants know how to cut costs",
    ],
    "structure-first": [
        "restructure first and sort out the processes later",
        "create the new organisation and the processes will follow",
        "reorganise the departments before redesigning the work",
        "a new structure will fix how the work is done",
    ],
    "back-office-separable": [
        "professionals should not do paperwork, move it to a central team",
        "take the back office tasks out of social workers' jobs",
        "back office work can be done anywhere away from the front line",
        "is admin work separate from professional front line work",
    ],
    "forecasts-are-bankable": [
        "the business case says we will save thirty million a year",
        "can we rely on the projected savings",
        "are shared services savings forecasts accurate",
        "budget on the savings the business case promises",
    ],
    "consult-later": [
        "management will design it and tell staff afterwards",
        "do we need to consult the union before the plan is finished",
        "present the finished shared services plan to staff",
        "no need to involve service users in the redesign",
    ],
}

# About the same subject, but no myth answers them: facts, names, law, history, terms.
UNRELATED = [
    "Tayside Contracts joint committee",
    "Teckal case procurement exemption",
    "Arbuthnott review back office costs",
    "spending review cuts 2012/15",
    "pensions and terms and conditions",
    "Scotland Excel procurement centre of expertise",
    "how many staff does Tayside Contracts employ",
    "when did West Dunbartonshire leave the Clyde Valley project",
    "Christie Commission members and chair",
    "what is failure demand",
    "North Lanarkshire first stop shops",
    "Glasgow City Council ALEO structure",
    "Edinburgh ICT contract with BT",
    "police civilianisation programme",
    "EU procurement rules financial threshold",
    "state aid and competition law advice",
    "Improvement Service COSLA SOLACE",
    "Efficient Government Initiative 2004",
    "the control test and the functions test",
    "who wrote Shared Necessities",
    "UNISON Scotland policy on shared services",
    "local economic multiplier of council spending",
    "Southwest One legal dispute settlement",
    "Inverclyde senior officers suspended",
    "Clyde Valley equality impact assessment",
    "housing benefits service design",
    "Scottish Government procurement directorate guidance",
    "LGA shared services arrangements 2019",
    "Public Accounts Committee flimsy estimate",
    "transfer of employees to a new employer TUPE",
]


def best_interval(right: list[tuple[float, bool]], wrong: list[float]) -> tuple[float, float, int]:
    """The threshold interval with the fewest errors: (low, high, errors).

    A myth-like query is right when its own myth ranks first and scores >= t; an unrelated one
    is right when its best score is < t.
    """
    candidates = sorted({s for s, _ in right} | set(wrong))
    best = (0.0, 0.0, len(right) + len(wrong) + 1)
    for low, high in zip(candidates, candidates[1:] + [1.0], strict=True):
        t = (low + high) / 2
        errors = sum(1 for s, ok in right if not (ok and s >= t)) + sum(1 for s in wrong if s >= t)
        if errors < best[2]:
            best = (low, high, errors)
        elif errors == best[2] and low == best[1]:
            best = (best[0], high, errors)
    return best


def describe(values: list[float]) -> str:
    return (
        f"min {min(values):.3f}  median {statistics.median(values):.3f}  "
        f"mean {statistics.fmean(values):.3f}  max {max(values):.3f}"
    )


def score_all(scorer, myths) -> tuple[list[tuple[float, bool]], list[float], list[str]]:
    ids = [m.id for m in myths]
    right, misses = [], []
    for myth_id, queries in MYTH_LIKE.items():
        for query in queries:
            scores = scorer(query)
            top = int(np.argmax(scores))
            right.append((float(scores[top]), ids[top] == myth_id))
            if ids[top] != myth_id:
                misses.append(f"    {query!r}: expected {myth_id}, got {ids[top]}")
    wrong = [float(np.max(scorer(q))) for q in UNRELATED]
    return right, wrong, misses


def main() -> None:
    myths = load_myths(ROOT / "corpus" / "myths.toml")
    missing = {m.id for m in myths} ^ set(MYTH_LIKE)
    if missing:
        raise SystemExit(f"MYTH_LIKE and myths.toml disagree on: {', '.join(sorted(missing))}")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "data", help="where `kb ingest` put the export"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    embedder = query_embedder(args.data_dir)
    print(f"model loaded ({embedder.backend}) in {time.perf_counter() - started:.1f}s")
    kb = SimpleNamespace(embedder=embedder, queries=QueryCache(embedder))
    book = MythBook(kb, myths)  # the scoring kb.myths uses: the mean of claim and queries
    claims = embedder.embed([m.claim for m in myths])
    texts = [embedder.embed(myth_texts(m)) for m in myths]
    order = {m.id: n for n, m in enumerate(myths)}

    def by_book(query: str) -> np.ndarray:
        scores = np.zeros(len(myths))
        for myth, score in book.similarities(query):
            scores[order[myth.id]] = score
        return scores

    def best_text(query: str) -> np.ndarray:
        vector = kb.queries.embed_query(query)
        return np.array([float(np.max(t @ vector)) for t in texts])

    scorers = {
        "claim only": lambda q: claims @ kb.queries.embed_query(q),
        "best single text of claim and queries": best_text,
        "mean of claim and queries (kb.myths)": by_book,
    }
    print(
        f"{sum(map(len, MYTH_LIKE.values()))} myth-like queries over {len(myths)} myths, "
        f"{len(UNRELATED)} unrelated queries\n"
    )
    for name, scorer in scorers.items():
        right, wrong, misses = score_all(scorer, myths)
        low, high, errors = best_interval(right, wrong)
        top1 = sum(ok for _, ok in right)
        print(f"== {name}")
        print(f"  myth-like best score:  {describe([s for s, _ in right])}")
        print(f"  unrelated best score:  {describe(wrong)}")
        print(f"  own myth ranked first: {top1}/{len(right)}")
        for miss in misses:
            print(miss)
        print(
            f"  fewest errors {errors}/{len(right) + len(wrong)} for thresholds in "
            f"[{low:.3f}, {high:.3f}); middle {(low + high) / 2:.3f}"
        )
        middle = (low + high) / 2
        queries = [q for group in MYTH_LIKE.values() for q in group]
        below = [f"{q!r} {s:.3f}" for q, (s, ok) in zip(queries, right, strict=True) if s < middle]
        above = [f"{q!r} {s:.3f}" for q, s in zip(UNRELATED, wrong, strict=True) if s >= middle]
        print("  at the middle, paraphrases below it:", *below, sep="\n    ")
        print("  at the middle, unrelated queries above it:", *above, sep="\n    ")
        print()
    print(f"kb.myths.MATCH_THRESHOLD is {MATCH_THRESHOLD}")


if __name__ == "__main__":
    main()
