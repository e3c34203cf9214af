"""The page built for triage (issue 14) in headless Chromium, at 1280 by 800 and 390 px wide.

Screenshots are kept as test artifacts under ``test-artifacts/`` (git ignores
it) and the test's own temporary directory. Console errors fail the test.
"""

from __future__ import annotations

import contextlib
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


def screenshot(page: Any, tmp_path: Path, name: str, *, full_page: bool = True) -> None:
    """The whole page (or what the viewport shows); for a locator, that element alone."""
    ARTIFACTS.mkdir(exist_ok=True)
    for folder in (ARTIFACTS, tmp_path):
        if hasattr(page, "goto"):
            page.screenshot(path=str(folder / name), full_page=full_page)
        else:
            page.screenshot(path=str(folder / name))
    assert (ARTIFACTS / name).stat().st_size > 1000


@contextlib.contextmanager
def serve_triage(make_hub: Any, fake_crm: Any, **environ: str) -> Iterator[str]:
    rows = [*SEED, (SPOOF, "B-1", True), ("Wide Vendor", "W-1", True)]
    rows += [("Bulk Vendor", "BULK", True)] * 60
    seed(fake_crm, rows)
    fake_crm.put("long", provider="Wide Vendor", error_code="W-1", subject=LONG, number=LONG)
    hub = make_hub(**environ)
    assert hub.refresh(force=True).ok
    with live_server(create_app(hub, scheduler=False)) as url:
        yield url


@pytest.fixture
def triage_url(make_hub, fake_crm) -> Iterator[str]:
    with serve_triage(make_hub, fake_crm) as url:
        yield url


@pytest.fixture
def guarded_url(make_hub, fake_crm) -> Iterator[str]:
    """The same page on a service whose writes need the API token."""
    with serve_triage(make_hub, fake_crm, SUPPORTHUB_API_TOKEN=API_TOKEN) as url:
        yield url


API_TOKEN = "triage-token-1414"

#: For each control of the opened aggregated case outside its cases table: the
#: element, when it lies outside the viewport's width or inside a box that
#: scrolls sideways (its content wider than the box), else nothing.
MISPLACED_CONTROLS = """detail => {
  const wrong = [];
  const controls = detail.querySelectorAll("button, input, select, textarea, a[href], summary");
  for (const control of controls) {
    if (control.closest("table.cases") || !control.getClientRects().length) continue;
    const rect = control.getBoundingClientRect();
    if (rect.left < 0 || rect.right > window.innerWidth + 1) {
      wrong.push(`${control.outerHTML.slice(0, 60)} at ${rect.left}..${rect.right}`);
      continue;
    }
    for (let box = control.parentElement; box; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (["auto", "scroll"].includes(overflow) && box.scrollWidth > box.clientWidth + 1) {
        wrong.push(`${control.outerHTML.slice(0, 60)} scrolls inside ${box.className}`);
        break;
      }
    }
  }
  return wrong;
}"""


def focus_ring(page: Any) -> str:
    """The outline of the focused element (a visible focus has one)."""
    return str(page.evaluate("getComputedStyle(document.activeElement).outlineStyle"))


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


def test_at_390_wide_an_opened_case_keeps_its_controls_out_of_any_scroll_box(
    browser, triage_url, tmp_path
) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    page = open_page(browser, 390, 844, problems)
    page.goto(triage_url + "/")
    page.get_by_label("Your name").fill("alice")
    rows = page.locator("tr.aggregated")
    expect(rows).to_have_count(30)
    # The list is cards: its box has nothing to scroll sideways.
    box = page.locator(".table-box").first
    assert box.evaluate("b => b.scrollWidth <= b.clientWidth + 1")
    rows.first.scroll_into_view_if_needed()
    screenshot(page, tmp_path, "triage-390-list.png", full_page=False)
    expect(rows.first.locator("td.owner")).to_have_attribute("data-label", "Owner")
    wide = rows.filter(has_text="W-1")
    wide.get_by_role("button", name=re.compile("Show the cases")).press("Enter")
    detail = page.locator("tr.detail:not([hidden]) > td")
    expect(detail.locator("tr.case")).to_have_count(2)
    expect(detail.get_by_role("button", name="Claim")).to_be_visible()
    expect(detail.get_by_label("Message")).to_be_visible()
    assert detail.evaluate(MISPLACED_CONTROLS) == []
    # Only the cases table scrolls sideways, in its own box, and the page does not.
    cases_box = detail.locator(".case-pages > .table-box")
    assert cases_box.evaluate("b => b.scrollWidth > b.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Scrolling that box moves the cases, not the controls.
    claim = detail.get_by_role("button", name="Claim")
    before = claim.bounding_box()
    cases_box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
    assert claim.bounding_box() == before
    # Keyboard: the controls take focus in order and show it.
    detail.get_by_label("State").focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent") == "Release"
    assert focus_ring(page) not in ("", "none")
    detail.get_by_label("State").select_option("investigating")
    detail.get_by_role("button", name="Save").press("Enter")
    expect(wide.locator("td.state")).to_have_text("investigating")
    wide.get_by_role("button", name=re.compile("Show the cases")).press("Enter")
    screenshot(page, tmp_path, "triage-390-opened.png")
    screenshot(detail, tmp_path, "triage-390-opened-case.png")
    assert not problems, problems


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_write_controls_show_only_once_the_token_is_given(
    browser, guarded_url, tmp_path, width, height
) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    page = open_page(browser, width, height, problems)
    page.goto(guarded_url + "/")
    page.get_by_label("Your name").fill("alice")
    rows = page.locator("tr.aggregated")
    acme = rows.filter(has_text="Acme Payments")
    acme.get_by_role("button", name=re.compile("Show the cases")).press("Enter")
    detail = page.locator("tr.detail:not([hidden]) > td")
    expect(detail.locator("tr.case").first).to_be_visible()
    # Without the token: who owns it and its state, but no control that changes them.
    expect(detail.locator(".work-summary")).to_contain_text("Owner: nobody · state untriaged")
    expect(detail.locator(".work")).to_contain_text(
        "Claiming it or changing its state or tracker link needs the API token."
    )
    expect(detail.locator(".reply")).to_contain_text(
        "Replying to the customers needs the API token."
    )
    for name in ("Claim", "Release", "Save", "Review reply"):
        expect(detail.get_by_role("button", name=name)).to_have_count(0)
    expect(detail.get_by_label("State")).to_have_count(0)
    expect(detail.get_by_label("Tracker link")).to_have_count(0)
    expect(detail.get_by_label("Message")).to_have_count(0)
    expect(page.locator("#token-form")).to_be_hidden()
    if width == 390:
        assert detail.evaluate(MISPLACED_CONTROLS) == []
    screenshot(page, tmp_path, f"triage-{width}-no-token.png")
    screenshot(detail, tmp_path, f"triage-{width}-no-token-case.png")

    # Giving the token, from the keyboard: the controls appear, the first one focused.
    detail.locator(".work").get_by_role("button", name="Give the API token").press("Enter")
    expect(page.locator("#token-reason")).to_contain_text("needs the API token")
    page.get_by_label("Access token", exact=True).fill(API_TOKEN)
    page.get_by_label("Access token", exact=True).press("Enter")
    claim = detail.get_by_role("button", name="Claim")
    expect(claim).to_be_focused()
    assert focus_ring(page) not in ("", "none")
    # Every gate of the page opened, the reply form too.
    expect(detail.get_by_label("Message")).to_be_visible()
    expect(page.get_by_role("button", name="Give the API token")).to_have_count(0)
    if width == 390:
        assert detail.evaluate(MISPLACED_CONTROLS) == []
    claim.press("Enter")
    expect(acme.locator("td.owner")).to_have_text("alice")
    acme.get_by_role("button", name=re.compile("Show the cases")).press("Enter")
    expect(detail.locator(".work-summary")).to_contain_text("Owner: alice")
    screenshot(page, tmp_path, f"triage-{width}-with-token.png")
    screenshot(detail, tmp_path, f"triage-{width}-with-token-case.png")

    # The tab keeps the token: after a reload the controls show at once.
    page.reload()
    rows.filter(has_text="Acme Payments").get_by_role(
        "button", name=re.compile("Show the cases")
    ).click()
    expect(detail.get_by_role("button", name="Release")).to_be_visible()
    expect(page.get_by_role("button", name="Give the API token")).to_have_count(0)
    assert not problems, problems
