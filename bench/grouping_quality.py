"""Grouping quality: how well a provider key groups real-world company spellings.

Reads the labelled pairs in ``bench/grouping_data/*_pairs.csv`` (columns
``left,right,label,foldable,source``; ``label`` is ``same``, ``different`` or
``homonym``) and scores a key function on them:

- **recall**: share of same-company pairs whose two spellings get one key
  (and the *foldable* recall: on the pairs that differ only in what
  contract §3 folds: case, punctuation, accents, legal forms, ``&``/``and``,
  dotted abbreviations, ``The``, invisible characters);
- **precision**: share of different-company pairs whose keys stay apart;
- **homonyms** (two companies whose names differ only in their legal form):
  reported apart, as no rule on names alone can keep them apart.

It scores rule sets default@1 and default@2 and, as a reference, the
``cleanco`` library (``basename``, then casefold and collapsed whitespace),
when it is installed (``tox -e grouping`` installs it). ``--write-docs``
writes the table into ``docs/grouping.md``; ``--misses`` lists what
default@2 gets wrong.

Run: ``tox -e grouping`` or ``python bench/grouping_quality.py [--misses]``.
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from supporthub.grouping.normalize import provider_key, provider_key_v1

DATA = pathlib.Path(__file__).parent / "grouping_data"
DOCS = pathlib.Path(__file__).parent.parent / "docs" / "grouping.md"

Key = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Pair:
    left: str
    right: str
    label: str
    foldable: bool
    source: str


@dataclass(frozen=True)
class Score:
    recall: float
    foldable_recall: float
    precision: float
    homonyms_merged: int
    homonyms: int
    same: int
    foldable: int
    different: int


def load_pairs(data: pathlib.Path = DATA) -> list[Pair]:
    """Every labelled pair, file by file."""
    pairs = []
    for path in sorted(data.glob("*_pairs.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            pairs.extend(
                Pair(
                    row["left"], row["right"], row["label"], row["foldable"] == "yes", row["source"]
                )
                for row in csv.DictReader(f)
            )
    return pairs


def _together(key: Key, pair: Pair) -> bool:
    left, right = key(pair.left), key(pair.right)
    return left is not None and left == right


def _share(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def score(key: Key, pairs: list[Pair]) -> Score:
    """Recall, foldable recall and precision of ``key`` on ``pairs``."""
    same = [p for p in pairs if p.label == "same"]
    foldable = [p for p in same if p.foldable]
    different = [p for p in pairs if p.label == "different"]
    homonyms = [p for p in pairs if p.label == "homonym"]
    return Score(
        recall=_share(sum(_together(key, p) for p in same), len(same)),
        foldable_recall=_share(sum(_together(key, p) for p in foldable), len(foldable)),
        precision=_share(sum(not _together(key, p) for p in different), len(different)),
        homonyms_merged=sum(_together(key, p) for p in homonyms),
        homonyms=len(homonyms),
        same=len(same),
        foldable=len(foldable),
        different=len(different),
    )


def misses(key: Key, pairs: list[Pair]) -> Iterator[tuple[str, Pair]]:
    """The pairs ``key`` gets wrong: same companies apart, different ones together."""
    for pair in pairs:
        together = _together(key, pair)
        if pair.label == "same" and not together:
            yield "apart", pair
        elif pair.label == "different" and together:
            yield "merged", pair


def reference_key() -> tuple[str, Key] | None:
    """cleanco's ``basename`` as a key, if cleanco is installed."""
    try:
        from importlib.metadata import version  # noqa: PLC0415

        from cleanco import basename  # noqa: PLC0415 - optional, the benchmark's own dep
    except ImportError:
        return None

    def key(raw: str) -> str | None:
        return " ".join(basename(raw).casefold().split()) or None

    return f"cleanco {version('cleanco')}", key


def table(rows: list[tuple[str, Score]]) -> str:
    """A Markdown table of the scores."""
    first = rows[0][1]
    lines = [
        f"| key | recall ({first.same} same-company pairs) "
        f"| foldable recall ({first.foldable}) "
        f"| precision ({first.different} different-company pairs) "
        f"| homonyms merged ({first.homonyms}) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines.extend(
        f"| {name} | {s.recall:.3f} | {s.foldable_recall:.3f} | {s.precision:.3f} "
        f"| {s.homonyms_merged} |"
        for name, s in rows
    )
    return "\n".join(lines)


def write_docs(text: str, *, marker: str = "grouping-quality", docs: pathlib.Path = DOCS) -> None:
    """Replace the block between ``<!-- marker:start -->`` and ``:end`` with ``text``."""
    page = docs.read_text(encoding="utf-8")
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(page):
        raise SystemExit(f"{docs}: no {start} ... {end} block")
    docs.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", page), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list what default@2 gets wrong")
    parser.add_argument("--write-docs", action="store_true", help="update docs/grouping.md")
    args = parser.parse_args(argv)

    pairs = load_pairs()
    rows = [
        ("default@1", score(provider_key_v1, pairs)),
        ("default@2", score(provider_key, pairs)),
    ]
    reference = reference_key()
    if reference is None:
        print("cleanco is not installed: no reference (tox -e grouping installs it)")
    else:
        rows.append((reference[0], score(reference[1], pairs)))
    text = table(rows)
    print(text)
    if args.misses:
        for kind, pair in misses(provider_key, pairs):
            print(f"{kind}: {pair.left!r} / {pair.right!r} ({pair.source})")
    if args.write_docs:
        write_docs(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
