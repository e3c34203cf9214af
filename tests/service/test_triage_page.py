"""The page built for triage (issue 14) in headless Chromium, at 1280 by 800 and 390 px wide.

Screenshots are kept as test artifacts under ``test-artifacts/`` (git ignores
it) and the test's own temporary directory. Console errors fail the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supporthub.service import create_app

from .conftest import SEED, live_server, seed
from .test_page_browser import CHROMIUM, CHROMIUM_ARGS, IN_CI

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: A provider name with a right-to-left override in it: it must not reorder what follows.
SPOOF = "Bank\u202etneilC"
LONG = "X" * 400  # a CRM value with no space to break at


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and not IN_CI:
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Any, width: int, height: int, problems: list[str]) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    return page


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for folder in (ARTIFACTS, tmp_path):
        page.screenshot(path=str(folder / name), full_page=True)
    assert (ARTIFACTS / name).stat().st_size > 1000


@pytest.fixture
def triage_url(make_hub, fake_crm) -> Iterator[str]:
    rows = [*SEED, (SPOOF, "B-1", True), ("Wide Vendor", "W-1", True)]
    rows += [("Bulk Vendor", "BULK", True)] * 60
    seed(fake_crm, rows)
    fake_crm.put("long", provider="Wide Vendor", error_code="W-1", subject=LONG, number=LONG)
    hub = make_hub()
    assert hub.refresh(force=True).ok
    with live_server(create_app(hub, scheduler=False)) as url:
        yield url


def test_triage_at_1280_by_800(browser, triage_url, tmp_path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    page = open_page(browser, 1280, 800, problems)
    page.goto(triage_url + "/")
    rows = page.locator("tr.aggregated")
    expect(rows).to_have_count(30)
    headers = page.locator("#aggregated-cases thead th").all_text_contents()
    for title in ("Owner", "State", "First seen", "Recent cases", "Last update"):
        assert title in headers
    first = rows.first
    expect(first.locator("td.owner")).to_have_text("unowned")
    expect(first.locator("td.state")).to_have_text("untriaged")
    expect(first.locator("td.first-seen")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
    )

    # The bidi override stays inside its own name.
    spoof = rows.filter(has_text="B-1").locator("td.provider bdi")
    expect(spoof).to_have_count(1)
    assert spoof.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"

    # Keyboard: the first control takes focus with Tab and shows it.
    page.get_by_label("Your name").fill("alice")
    page.locator("#filter-q").focus()
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")

    # An opened aggregated case: its cases first, 50 at a time; the explanation folded.
    page.get_by_label("Search", exact=True).fill("Bulk Vendor")
    page.get_by_label("Search", exact=True).press("Enter")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("button", name=re.compile("Show the cases")).press("Enter")
    detail = page.locator("tr.detail:not([hidden]) > td")
    expect(detail.locator("tr.case")).to_have_count(50)
    assert detail.evaluate("td => td.firstElementChild.className") == "case-pages"
    folded = detail.locator("details.folded")
    expect(folded).to_have_count(1)
    assert folded.get_attribute("open") is None
    expect(detail.locator(".sparkline")).to_contain_text("Cases per day, last 14 days")
    detail.get_by_role("button", name="More cases").click()
    expect(detail.locator("tr.case")).to_have_count(60)
    expect(detail.get_by_role("button", name="More cases")).to_be_hidden()

    # Claim, then state and tracker link.
    detail.get_by_role("button", name="Claim").click()
    expect(rows.first.locator("td.owner")).to_have_text("alice")
    rows.first.get_by_role("button", name=re.compile("Show the cases")).click()
    detail = page.locator("tr.detail:not([hidden]) > td")
    detail.get_by_label("State").select_option("investigating")
    detail.get_by_label("Tracker link").fill("https://bugs.example/T-14")
    detail.get_by_role("button", name="Save").click()
    expect(rows.first.locator("td.state")).to_have_text("investigating")
    rows.first.get_by_role("button", name=re.compile("Show the cases")).click()
    detail = page.locator("tr.detail:not([hidden]) > td")
    expect(detail.get_by_role("link", name="tracker ticket")).to_have_attribute(
        "href", "https://bugs.example/T-14"
    )
    screenshot(page, tmp_path, "triage-1280x800.png")

    # The views: mine and unowned.
    page.get_by_label("Search", exact=True).fill("")
    page.get_by_label("View").select_option("mine")
    page.get_by_label("View").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.owner")).to_have_text("alice")
    page.get_by_label("View").select_option("unowned")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(29)
    page.get_by_label("View").select_option("")
    # The fake CRM's cases are weeks old: nothing is recent, so sort by size.
    page.get_by_label("Sort").select_option("caseCount")
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("Bulk Vendor")
    expect(rows.nth(1)).to_contain_text("Acme Payments")
    assert not problems, problems


def test_triage_at_390_wide_scrolls_only_inside_table_boxes(browser, triage_url, tmp_path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    page = open_page(browser, 390, 844, problems)
    page.goto(triage_url + "/")
    rows = page.locator("tr.aggregated")
    expect(rows).to_have_count(30)
    wide = rows.filter(has_text="W-1")
    wide.get_by_role("button", name=re.compile("Show the cases")).click()
    detail = page.locator("tr.detail:not([hidden]) > td")
    expect(detail.locator("tr.case")).to_have_count(2)
    # Nothing scrolls sideways but the tables, each in its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.body.scrollWidth") <= 390
    boxes = page.locator(".table-box")
    assert boxes.count() >= 2
    for box in boxes.all():
        assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
    # The long CRM value wraps inside its cell.
    cell = detail.locator("td", has_text=LONG[:50]).first
    assert cell.evaluate("c => getComputedStyle(c).overflowWrap") == "anywhere"
    assert cell.evaluate("c => c.scrollWidth <= c.clientWidth + 1")
    screenshot(page, tmp_path, "triage-390-wide.png")
    assert not problems, problems
