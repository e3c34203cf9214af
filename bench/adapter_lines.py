"""How long is each adapter? The kit's promise: Banana and Strawberry at most
200 lines each, the generated template at most 100. Run from the repository
root: ``python bench/adapter_lines.py``; ``--check`` exits 1 when one is over.

Every physical line counts: docstrings, comments and blank lines too, as
``ruff format`` leaves them. Every module of the plug-in's package counts
(found, not listed, so that a helper module cannot hide), except the
simulator and the demo (test and show tools) and ``__init__.py`` (the
plug-in's pluggy hooks, the same few lines in every plug-in); the template
counts the same way (its ``adapter.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_COUNTED = {"simulator.py", "demo.py", "__init__.py"}


def _package(name: str) -> list[Path]:
    package = ROOT / f"plugins/{name}/src/supporthub_{name}"
    return sorted(p for p in package.glob("*.py") if p.name not in NOT_COUNTED)


ADAPTERS = {
    "banana": (_package("banana"), 200),
    "strawberry": (_package("strawberry"), 200),
    "template": ([ROOT / "src/supporthub/kit/template/adapter.py.tmpl"], 100),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when one is over")
    args = parser.parse_args()
    over = False
    print("adapter lines (every line; simulators, demos and plug-in hooks not counted):")
    for name, (files, bound) in ADAPTERS.items():
        counts = {f.name: len(f.read_text().splitlines()) for f in files}
        lines = sum(counts.values())
        verdict = "ok" if lines <= bound else "TOO LONG"
        over |= lines > bound
        parts = " + ".join(f"{f} {n}" for f, n in counts.items())
        print(f"  {name:<11} {lines:4d}  (bound {bound}: {verdict}; {parts})")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
