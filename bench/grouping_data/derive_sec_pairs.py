"""Derive labelled pairs from the SEC list of foreign issuers (2002), once.

``sec_foreign_issuers_2002.csv`` (name;country) comes with the test fixtures
of the cleanco project. Every name is a distinct registered company, so:

- *same-company* pairs: a name ending in a written legal form, against the
  name without it and against the name upper-cased without dots (how agents
  type it). Both differ only in what contract §3 folds.
- *different-company* pairs: two different names that share their first word
  (``ABN Amro Bank N.V.`` / ``ABN Amro Holding N.V.``).

Run: ``python bench/grouping_data/derive_sec_pairs.py`` (writes sec_pairs.csv).
"""

from __future__ import annotations

import csv
import itertools
import pathlib

HERE = pathlib.Path(__file__).parent

# Legal forms as the list writes them, longest first.
WRITTEN_FORMS = sorted(
    [
        "S.A. de C.V.",
        "S.A.B. de C.V.",
        "de C.V.",
        "Co., Ltd.",
        "Co. Ltd.",
        "Ltd.",
        "Inc.",
        "Corp.",
        "Corp",
        "plc",
        "S.A.",
        "N.V.",
        "AG",
        "S.p.A.",
        "Co.",
        "Aktiengesellschaft",
        "AB",
        "ASA",
        "A/S",
        "Tbk",
        "B.V.",
        "GmbH",
        "Oy",
        "OYJ",
        "AS",
        "a.s.",
        "s.r.o.",
        "SAS",
    ],
    key=len,
    reverse=True,
)
SAMPLE_EVERY = 6

# Neighbours that differ only in their legal form, checked by hand: two
# listings of one dual-listed group, or two unrelated companies that happen
# to share a name (homonyms: no rule on names alone can keep them apart).
LABELLED_BY_HAND = {
    ("Rio Tinto Ltd.", "Rio Tinto plc"): "same",
    ("Unilever N.V.", "Unilever plc"): "same",
    ("Thomson Corp", "Thomson S.A."): "homonym",
    ("Emco Ltd.", "EMCO spol. s r.o."): "homonym",
}


def main() -> None:
    with (HERE / "sec_foreign_issuers_2002.csv").open(encoding="utf-8", newline="") as f:
        names = [row[0].strip() for row in csv.reader(f, delimiter=";") if row]
    rows = []
    for index, name in enumerate(names):
        if index % SAMPLE_EVERY:
            continue
        form = next((f for f in WRITTEN_FORMS if name.endswith(" " + f)), None)
        if form is None:
            continue
        bare = name[: -len(form)].rstrip(" ,&")
        rows.append([name, bare, "same", "yes", "sec"])
        rows.append([name, f"{bare.upper()} {form.replace('.', '').upper()}", "same", "yes", "sec"])
    ordered = sorted(set(names), key=str.casefold)
    for left, right in itertools.pairwise(ordered):
        if left.split()[0].casefold() == right.split()[0].casefold():
            label = LABELLED_BY_HAND.get((left, right), "different")
            rows.append([left, right, label, "yes" if label == "same" else "", "sec"])
    with (HERE / "sec_pairs.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["left", "right", "label", "foldable", "source"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
