"""Measure the figure matching: when a stored figure's context is "close" to a book figure's.

Needs a data folder ingested with the real model (all-MiniLM-L6-v2) from a corpus that holds
figures.toml, e.g. `kb ingest` (default ./data and ./corpus).

1. Context thresholds (kb/figures/matching.py), labelled by the figure book itself:
   - a true pair: a source the book pins for figure F, scored against the context made from
     F's *other* sources (leave one out; only figures with sources in two or more passages);
   - a false pair: a value the book pins for another figure G (another measure), scored against
     F's full context.
   Each pair is "same value" (the value equals one of F's) or "different value". For each
   threshold the script counts true and false matches found; it prints the threshold that makes
   the fewest errors for each kind.
2. What the matching finds on the whole corpus at the chosen thresholds, for reading by hand.
3. The figure card's threshold (kb/figures/figurebook.py): questions about a figure, written
   here, against questions on the same subjects that no figure answers.

Run: .venv/bin/python bench/figure_matching.py [--data-dir data] [--corpus-dir corpus]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.factory import open_knowledge_base  # noqa: E402
from kb.figures.book import load_figures  # noqa: E402
from kb.figures.figurebook import MATCH_THRESHOLD  # noqa: E402
from kb.figures.figurebook import FigureBook  # noqa: E402
from kb.figures.matching import DIFFERENT_VALUE_THRESHOLD  # noqa: E402
from kb.figures.matching import MAX_RATIO  # noqa: E402
from kb.figures.matching import SAME_VALUE_THRESHOLD  # noqa: E402
from kb.figures.matching import _comparable  # noqa: E402
from kb.figures.matching import _context_vector  # noqa: E402
from kb.figures.matching import book_evidence  # noqa: E402
from kb.figures.matching import locate_book  # noqa: E402
from kb.figures.stored import vectors_for  # noqa: E402
from kb.settings import Settings  # noqa: E402

# Questions a rep might type about a book figure (figure id -> questions), worded apart from
# the book's `measures` and `queries`.
ABOUT_A_FIGURE = {
    "southwest-one-promised-savings": [
        "what savings did IBM and Somerset promise",
        "Southwest One savings target",
    ],
    "southwest-one-duplicate-payments": [
        "Somerset invoices paid twice how much",
        "SAP double payments Somerset total",
    ],
    "southwest-one-contract-value": ["value of the IBM Somerset contract"],
    "southwest-one-savings-achieved": ["what did Southwest One save by 2012"],
    "southwest-one-settlement-cost": ["cost of settling the Southwest One court case"],
    "somerset-council-stake": ["what share of Southwest One did Somerset council own"],
    "nlgn-best-case-saving": ["NLGN estimate of savings from shared back office best case"],
    "nlgn-realistic-saving": ["realistic saving from sharing back office NLGN"],
    "back-office-share-of-costs": ["how much of council spending is back office"],
    "scottish-savings-from-shared-services": [
        "Audit Scotland shared services savings figure",
    ],
    "lga-sharing-savings-2019": ["how much have English councils saved by sharing services"],
    "whitehall-shared-services-result": ["did the Whitehall shared service centres save money"],
    "inverclyde-expected-savings": ["Inverclyde FOM savings target"],
    "inverclyde-consultancy-fees": ["how much did Inverclyde pay PwC"],
    "clyde-valley-annual-savings": ["Clyde Valley business case savings per year"],
    "scotland-excel-return": ["what return does Scotland Excel give councils"],
    "failure-demand-call-centres": ["what share of call centre calls are failure demand"],
}
# Questions on the same subjects that no figure of the book answers.
NOT_ABOUT_A_FIGURE = [
    "what is failure demand",
    "why did Glasgow leave the Clyde Valley project",
    "who owns Tayside Contracts",
    "what is the Teckal exemption",
    "front office and back office split",
    "systems thinking in public services",
    "equality impact assessment shared services",
    "what did the Christie Commission recommend",
    "is a joint committee a separate legal entity",
    "consultants pushing shared services models",
    "what happened to staff when Southwest One ended",
    "benchmarking before shared services",
    "why did the Inverclyde officers get suspended",
    "local economy impact of centralising offices",
    "which councils were in the Clyde Valley review",
    "trade union response to shared services consultation",
]


def _counts(pairs, threshold):
    found_true = sum(1 for score, true in pairs if true and score >= threshold)
    found_false = sum(1 for score, true in pairs if not true and score >= threshold)
    missed = sum(1 for score, true in pairs if true and score < threshold)
    return found_true, found_false, missed


def _best(pairs):
    grid = [round(t, 2) for t in np.arange(0.3, 0.96, 0.01)]
    scored = [(sum(_counts(pairs, t)[1:]), t) for t in grid]
    least = min(errors for errors, _ in scored)
    best = [t for errors, t in scored if errors == least]
    return least, best[0], best[-1]


def context_pairs(store, book):
    """(score, is_true, same_value, description) for the labelled pairs described above.

    The matching's size rule applies: a different value more than MAX_RATIO from the figure's
    values is never offered (counted as not found, score -1). A candidate closer to another
    book figure's context than to this one's was tried as a further rule and dropped: it lost
    more true pairs than false ones (docs/figures.md).
    """
    located = locate_book(store, book)

    def held(figure_id, leave_out=None):
        pins = [f for f in located[figure_id] if f is not None and f[1] is not None]
        return [f for f in pins if leave_out is None or f[1].passage_id != leave_out]

    def context(pins):
        return _context_vector(store, [(f[1].passage_id, f[1].sub) for f in pins])

    pairs = []
    for figure in book:
        pins = held(figure.id)
        full = context(pins)
        if full is None:
            continue
        passages = {f[1].passage_id for f in pins}
        if len(passages) >= 2:
            for statement, found in pins:
                pid = found.passage_id
                others = held(figure.id, leave_out=pid)
                vector = next(iter(vectors_for(store, [(pid, found.sub)]).values()))
                score = float(vector @ context(others))
                values = [f[0].figure for f in others]
                same = any(statement.figure.same_value(v) for v in values)
                if not same and not _comparable(statement.figure, values):
                    score = -1.0  # too far in size: never offered (kb.figures.matching)
                pairs.append((score, True, same, f"{figure.id}: {statement.value} (held out)"))
        for other in book:
            if other.id == figure.id or other.kind != figure.kind or other.unit != figure.unit:
                continue
            for statement, found in held(other.id):
                pid = found.passage_id
                if pid in passages:
                    continue
                vector = next(iter(vectors_for(store, [(pid, found.sub)]).values()))
                score = float(vector @ full)
                same = any(statement.figure.same_value(v) for v in figure.values)
                if not same and not _comparable(statement.figure, figure.values):
                    score = -1.0
                pairs.append((score, False, same, f"{figure.id} vs {other.id}: {statement.value}"))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--corpus-dir", default="corpus")
    args = parser.parse_args()
    settings = Settings(data_dir=Path(args.data_dir), corpus_dir=Path(args.corpus_dir))
    kb = open_knowledge_base(settings)
    book = load_figures(settings.figures_path)
    store = kb.store

    print(f"{len(book)} figures, {sum(f.differs for f in book)} with differing sources\n")
    print(
        f"thresholds: same value {SAME_VALUE_THRESHOLD}, different value"
        f" {DIFFERENT_VALUE_THRESHOLD} within {MAX_RATIO:g}x, card {MATCH_THRESHOLD}\n"
    )
    pairs = context_pairs(store, book)
    for label, same in (("same value", True), ("different value", False)):
        subset = [(s, t) for s, t, sv, _ in pairs if sv == same]
        true = [s for s, t in subset if t and s >= 0]
        false = [s for s, t in subset if not t and s >= 0]
        kept = sum(1 for s, _ in subset if s >= 0)
        print(f"   offered (near enough in size): {kept} of {len(subset)} pairs")
        total_true = sum(1 for _, t in subset if t)
        print(f"== {label}: {total_true} true pairs, {len(subset) - total_true} false pairs")
        if true:
            print(f"   true  scores: min {min(true):.3f} median {statistics.median(true):.3f}")
        if false:
            print(f"   false scores: max {max(false):.3f} median {statistics.median(false):.3f}")
        if true and false:
            errors, low, high = _best(subset)
            print(f"   fewest errors {errors} for thresholds {low:.2f}-{high:.2f}")
        current = SAME_VALUE_THRESHOLD if same else DIFFERENT_VALUE_THRESHOLD
        for t in sorted({current, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8}):
            found_true, found_false, missed = _counts(subset, t)
            mark = " (current)" if t == current else ""
            print(
                f"   at {t:.2f}{mark}: {found_true} true found, {found_false} false found,"
                f" {missed} true missed"
            )
        print()
    for score, true, same, what in sorted(pairs, key=lambda p: -p[0])[:25]:
        print(f"   {score:.3f} {'TRUE ' if true else 'false'} {'same' if same else 'diff'} {what}")

    print("\n== found on the corpus at the current thresholds")
    for evidence in book_evidence(store, book):
        for statement in evidence.also + evidence.differs:
            print(
                f"   {evidence.figure.id}: {statement.role} {statement.value}"
                f" ({statement.score:.3f}) {statement.document.id}#p{statement.passage.ordinal}:"
                f" {statement.quote[:110]}"
            )

    print("\n== the figure card")
    cards = FigureBook(kb, book)
    about = []
    for figure_id, questions in ABOUT_A_FIGURE.items():
        for question in questions:
            ranked = cards.similarities(question)
            top, score = ranked[0]
            about.append((score, top.id == figure_id))
    unrelated = [cards.similarities(q)[0][1] for q in NOT_ABOUT_A_FIGURE]
    print(
        f"   about a figure: {len(about)}, own figure first {sum(ok for _, ok in about)};"
        f" scores {min(s for s, _ in about):.3f}-{max(s for s, _ in about):.3f}"
        f" (median {statistics.median(s for s, _ in about):.3f})"
    )
    print(
        f"   unrelated: {len(unrelated)}; scores {min(unrelated):.3f}-{max(unrelated):.3f}"
        f" (median {statistics.median(unrelated):.3f})"
    )
    labelled = [(s, ok) for s, ok in about] + [(s, False) for s in unrelated]
    errors, low, high = _best(labelled)
    print(f"   fewest errors {errors} for thresholds {low:.2f}-{high:.2f}")
    t = MATCH_THRESHOLD
    right = sum(1 for s, ok in about if ok and s >= t)
    wrong = sum(1 for s, ok in about if not ok and s >= t)
    none = sum(1 for s, _ in about if s < t)
    shown = sum(1 for s in unrelated if s >= t)
    print(
        f"   at {t:.2f} (current): {right} get their figure, {wrong} a wrong one, {none} none;"
        f" {shown} of {len(unrelated)} unrelated get a card"
    )


if __name__ == "__main__":
    main()
