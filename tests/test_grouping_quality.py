"""The grouping-quality benchmark's targets hold, and docs/grouping.md tells the truth.

The benchmark itself is ``bench/grouping_quality.py`` (``tox -e grouping``);
this runs its default@2 evaluation on the labelled data, no timing.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from supporthub.grouping.normalize import LEGAL_FORMS, provider_key, provider_key_v1

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "grouping.md").read_text(encoding="utf-8")


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "grouping_quality", ROOT / "bench" / "grouping_quality.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _bench()
PAIRS = bench.load_pairs()


def _documented_row(name: str) -> list[str]:
    row = re.search(rf"^\| {re.escape(name)} \|(.*)\|$", PAGE, flags=re.MULTILINE)
    assert row is not None, f"docs/grouping.md has no row for {name}"
    return [cell.strip() for cell in row.group(1).split("|")]


def test_the_labelled_data_is_all_there() -> None:
    labels = {pair.label for pair in PAIRS}
    sources = {pair.source for pair in PAIRS}
    assert labels == {"same", "different", "homonym"}
    assert sources == {"cleanco-tests", "sec", "own"}
    assert len(PAIRS) > 800


def test_default_at_2_meets_the_targets() -> None:
    score = bench.score(provider_key, PAIRS)
    reference_recall = float(_documented_row(_reference_rows()[0])[0])
    print(
        f"\ndefault@2: recall {score.recall:.3f} (reference {reference_recall:.3f}), "
        f"foldable recall {score.foldable_recall:.3f}, precision {score.precision:.3f}"
    )
    assert score.foldable_recall >= 0.98
    assert score.precision == 1.0
    assert score.recall > reference_recall


def _reference_rows() -> list[str]:
    return re.findall(r"^\| (cleanco [^|]+?) \|", PAGE, flags=re.MULTILINE)


def test_the_page_shows_a_reference() -> None:
    assert len(_reference_rows()) == 1


@pytest.mark.parametrize(
    ("name", "key"), [("default@1", provider_key_v1), ("default@2", provider_key)]
)
def test_the_page_shows_the_figures_of_the_code(name: str, key: object) -> None:
    expected = bench.table([(name, bench.score(key, PAIRS))]).splitlines()[-1]
    assert expected in PAGE, "run tox -e grouping to update docs/grouping.md"


def test_the_page_lists_every_legal_form() -> None:
    block = PAGE.split("<!-- legal-forms:start -->")[1].split("<!-- legal-forms:end -->")[0]
    listed = re.findall(r"`([^`]+)`", " ".join(block.split()))
    assert sorted(listed) == sorted(LEGAL_FORMS)
