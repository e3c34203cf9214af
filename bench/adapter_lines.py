"""How long is each adapter? The kit's promise: Banana and Strawberry at most
200 lines each, the generated template at most 100 (simulators and demos not
counted). Run from the repository root: ``python bench/adapter_lines.py``;
``--check`` exits 1 when one is over its bound.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = {
    "banana": (["plugins/banana/src/supporthub_banana/adapter.py"], 200),
    "strawberry": (
        [
            "plugins/strawberry/src/supporthub_strawberry/adapter.py",
            "plugins/strawberry/src/supporthub_strawberry/tickets.py",
        ],
        200,
    ),
    "template": (["src/supporthub/_template/adapter.py.tmpl"], 100),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when one is over")
    args = parser.parse_args()
    over = False
    print("adapter lines (simulators and demos not counted):")
    for name, (files, bound) in ADAPTERS.items():
        lines = sum(len((ROOT / f).read_text().splitlines()) for f in files)
        verdict = "ok" if lines <= bound else "TOO LONG"
        over |= lines > bound
        print(f"  {name:<11} {lines:4d}  (bound {bound}: {verdict})")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
