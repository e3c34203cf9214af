"""The web page in headless Chromium against the real service (uvicorn on a free port).

Runs in CI always (``CI=true``); on a developer machine without
``/usr/bin/chromium`` it is skipped. Playwright drives the Debian Chromium:
its own browser download cannot work on machines without internet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supporthub.service import create_app

from .conftest import SEED, live_server, seed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"

# One database is enough: the page sees the same answers on both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and not IN_CI:
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def test_browse_filter_expand_and_refresh(page, make_hub, fake_crm) -> None:
    from playwright.sync_api import expect

    # 40 more small aggregated cases than SEED: more than one page of 50.
    seed(fake_crm, SEED + [(f"Extra {n:02d}", "X", False) for n in range(40)])
    make_hub(SUPPORTHUB_MIN_REFRESH_AGE_MINUTES="0.1").refresh(force=True)
    # The service's hub reads slowly (each sync takes at least 0.5 s), so that
    # the refresh's progress can be seen: a fast machine finished it unseen.
    hub = make_hub(SUPPORTHUB_MIN_REFRESH_AGE_MINUTES="0.1", SUPPORTHUB_FAKE_DELAY="0.5")
    with live_server(create_app(hub, scheduler=False)) as url:
        page.goto(url + "/")
        rows = page.locator("tr.aggregated")
        expect(rows).to_have_count(50)
        expect(page.locator("#summary")).to_have_text("Showing 50 of 67 aggregated cases.")
        expect(page.locator("#data-age")).to_contain_text("Data refreshed less than a minute ago")
        first = rows.first.locator("td")
        expect(first.nth(1)).to_have_text("Acme Payments")
        expect(first.nth(2)).to_have_text("1042")
        expect(first.nth(3)).to_have_text("open")
        expect(first.nth(4)).to_have_text("4")
        expect(first.nth(5)).to_have_text("3")

        # Fresh data: the button says why it is disabled and how long is left.
        button = page.locator("#refresh-button")
        expect(button).to_be_disabled()
        expect(page.locator("#refresh-status")).to_contain_text("Refresh possible in")

        page.get_by_role("button", name="Load more").click()
        expect(rows).to_have_count(67)
        expect(page.get_by_role("button", name="Load more")).to_be_hidden()

        # Filters: labelled fields, submitted with Enter.
        page.get_by_label("Search", exact=True).fill("ACME PAYMENTS INC")
        page.get_by_label("Search", exact=True).press("Enter")
        expect(rows).to_have_count(1)
        expect(page.locator("#summary")).to_have_text("Showing 1 of 1 aggregated cases.")

        toggle = rows.first.get_by_role("button")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        toggle.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        cases = page.locator("tr.case")
        expect(cases).to_have_count(4)
        link = cases.first.locator("a")
        expect(link).to_have_attribute("href", re.compile(r"^fake://c\d{3}$"))
        subject = cases.first.locator("td").nth(2)
        expect(subject).to_contain_text("<script>alert(")  # shown as text, never run
        assert page.locator("tbody script, tbody b").count() == 0
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(cases.first).to_be_hidden()

        page.get_by_label("Search", exact=True).fill("")
        page.get_by_label("Status", exact=True).select_option("closed")
        page.get_by_label("Status", exact=True).press("Enter")
        expect(page.locator("#summary")).to_have_text("Showing 50 of 50 aggregated cases.")
        statuses = page.locator("tr.aggregated td.status").all_text_contents()
        assert set(statuses) == {"closed"}

        # Stale once the minimum age (6 s) has passed: the button comes back by itself.
        expect(button).to_be_enabled(timeout=10_000)
        expect(page.locator("#refresh-status")).to_contain_text("Fetches what changed")
        fake_crm.put("late", provider="Acme Payments", error_code="1042")
        button.click()
        expect(page.locator("#refresh-progress")).to_be_visible()
        expect(page.locator("#refresh-status")).to_contain_text("Refreshing…")
        result = page.locator("#refresh-result li")
        expect(result).to_have_count(1)
        expect(result.first).to_have_text(re.compile(r"^fake: ok — fetched \d+, skipped 0$"))
        expect(page.locator("#refresh-progress")).to_be_hidden()
        expect(page.locator("#refresh-outcome")).to_have_text("Refresh finished.")
        expect(button).to_be_disabled()
        expect(page.locator("#refresh-status")).to_contain_text("Refresh possible in")


def test_the_search_box_finds_word_prefixes_and_hints_when_nothing_matches(
    page, make_hub, fake_crm
) -> None:
    from playwright.sync_api import expect

    seed(fake_crm, [*SEED, ("Nakatomi Trading", "E-9", True), ("Trading Nakatomi", "9", True)])
    hub = make_hub()
    hub.refresh(force=True)
    with live_server(create_app(hub, scheduler=False)) as url:
        page.goto(url + "/")
        rows = page.locator("tr.aggregated")
        expect(rows).to_have_count(29)
        search = page.get_by_label("Search", exact=True)
        hint = page.locator("#filter-q-hint")
        expect(hint).to_be_hidden()
        search.fill("naka trad")
        search.press("Enter")
        expect(rows).to_have_count(1)
        expect(rows.first.locator("td").nth(1)).to_have_text("Nakatomi Trading")
        expect(hint).to_be_hidden()
        search.fill("naka trd")
        search.press("Enter")
        expect(rows).to_have_count(0)
        expect(page.locator("#summary")).to_have_text("No aggregated case matches.")
        expect(hint).to_be_visible()
        expect(hint).to_contain_text("Nothing matches “naka trd”")
        expect(hint).to_contain_text("naka trad")
        search.fill("auth")
        search.press("Enter")
        expect(rows).to_have_count(1)
        expect(rows.first.locator("td").nth(2)).to_have_text("AUTH_FAILED")
        expect(hint).to_be_hidden()


def test_the_page_asks_for_the_read_token_and_keeps_it_for_the_tab(
    page, make_hub, fake_crm
) -> None:
    from playwright.sync_api import expect

    seed(fake_crm)
    hub = make_hub(SUPPORTHUB_READ_TOKEN="tab-token-4711")
    hub.refresh(force=True)
    with live_server(create_app(hub, scheduler=False)) as url:
        page.goto(url + "/")
        expect(page.locator("#token-reason")).to_contain_text("needs the access token")
        page.get_by_label("Access token", exact=True).fill("wrong-token")
        page.get_by_label("Access token", exact=True).press("Enter")
        expect(page.locator("#token-reason")).to_contain_text("That token was not accepted")
        page.get_by_label("Access token", exact=True).fill("tab-token-4711")
        page.get_by_role("button", name="Use this token").click()
        expect(page.locator("tr.aggregated")).to_have_count(27)
        expect(page.locator("#token-form")).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('supporthub.token')") == "tab-token-4711"
        assert page.evaluate("localStorage.length") == 0
        page.reload()
        expect(page.locator("tr.aggregated")).to_have_count(27)  # the tab still has it


def test_merge_see_it_in_the_overrides_undo_and_the_grouping_is_back(
    page, make_hub, fake_crm
) -> None:
    from playwright.sync_api import expect

    seed(fake_crm)
    hub = make_hub(SUPPORTHUB_API_TOKEN="api-token-8815")
    hub.refresh(force=True)
    with live_server(create_app(hub, scheduler=False)) as url:
        page.goto(url + "/")
        rows = page.locator("tr.aggregated")
        expect(rows).to_have_count(27)
        before = sorted(rows.evaluate_all("rows => rows.map(row => row.dataset.id)"))
        # Every aggregated case was first seen in the last refresh: a "new" badge.
        expect(rows.first.locator("td.lifecycle")).to_have_text("new")
        expect(page.locator("#overrides-empty")).to_be_visible()

        page.get_by_label("Your name").fill("alice")
        umbrella_id = rows.filter(has_text="Umbrella").get_attribute("data-id")
        hooli = rows.filter(has_text="Hooli")
        hooli.get_by_role("button", name=re.compile("Show the cases")).press("Enter")
        # The explanation is folded below the cases (issue 14): open it.
        page.locator("summary", has_text="Why these cases are together").click()
        explanation = page.get_by_role("region", name="Why these cases are together")
        expect(explanation).to_contain_text("made by the rules default@2 (in force now: default@2)")
        expect(explanation).to_contain_text("“Hooli” / “E-7” in 1 case")
        page.get_by_label("Merge into").select_option(label="Umbrella / (no error code) (1 cases)")
        page.get_by_label("Why (for a merge or a move)").fill("same outage")
        page.get_by_label("Why (for a merge or a move)").press("Enter")

        # Writes need the API token: the page asks for it, then does the merge.
        expect(page.locator("#token-reason")).to_contain_text("needs the API token")
        page.get_by_label("Access token", exact=True).fill("api-token-8815")
        page.get_by_label("Access token", exact=True).press("Enter")
        expect(page.locator("#steering-outcome")).to_have_text(
            "Merged: 2 cases regrouped, 1 aggregated case(s) merged away."
        )
        expect(rows).to_have_count(26)
        overrides = page.locator("#overrides li")
        expect(overrides).to_have_count(1)
        expect(overrides.first).to_contain_text(
            "Merge “hooli” / “7” into “umbrella” / (no error code)"
        )
        expect(overrides.first).to_contain_text("by alice")
        expect(overrides.first).to_contain_text("same outage")
        assert page.evaluate("sessionStorage.getItem('supporthub.token')") == "api-token-8815"
        assert page.evaluate("localStorage.length") == 0

        # The merged aggregated case (shown by its most common spelling now)
        # explains itself with the override.
        umbrella = page.locator(f'tr.aggregated[data-id="{umbrella_id}"]')
        expect(umbrella.locator("td.number").first).to_have_text("3")
        umbrella.get_by_role("button", name=re.compile("Show the cases")).click()
        page.locator("summary", has_text="Why these cases are together").click()
        expect(page.locator(".explanation-overrides li")).to_contain_text("by alice")

        page.get_by_role("button", name=re.compile("^Undo: Merge")).click()
        expect(page.locator("#steering-outcome")).to_contain_text("Undone: 2 cases regrouped")
        expect(rows).to_have_count(27)
        expect(page.locator("#overrides-empty")).to_be_visible()
        after = sorted(rows.evaluate_all("rows => rows.map(row => row.dataset.id)"))
        assert after == before

        # No suggestion: "Vendor 00" … "Vendor 19" differ only in their numbers.
        page.get_by_role("button", name="Find suggestions").click()
        expect(page.locator("#suggestions-empty")).to_be_visible()

        # A typo arrives; the page suggests it as an alias, a click accepts it.
        fake_crm.put("typo", provider="Acme Paymnts", error_code="1042")
        hub.refresh(force=True)
        # The lifecycle filter (§7): first seen less than 24 hours ago, so all of them.
        page.get_by_label("Lifecycle").select_option("new")
        page.get_by_label("Lifecycle").press("Enter")
        expect(rows).to_have_count(28)
        typo = rows.filter(has_text="Acme Paymnts")
        expect(typo.locator("td").nth(1)).to_have_text("Acme Paymnts")
        expect(typo.locator("td.lifecycle")).to_have_text("new")
        page.get_by_role("button", name="Find suggestions").click()
        suggestion = page.locator("#suggestions li")
        expect(suggestion).to_have_count(1)
        expect(suggestion).to_contain_text("“acme paymnts” is probably “acme payments”")
        suggestion.get_by_role("button", name=re.compile("^Accept")).press("Enter")
        expect(page.locator("#steering-outcome")).to_have_text(
            "Accepted: 1 case regrouped, 1 aggregated case(s) merged away."
        )
        expect(overrides).to_have_count(1)
        expect(overrides.first).to_contain_text("Alias: “acme paymnts” means “acme payments”")
        expect(page.locator("#suggestions-empty")).to_be_visible()

        # Merged into Acme Payments; and nothing regressed.
        expect(rows).to_have_count(27)
        page.get_by_label("Lifecycle").select_option("regressed")
        page.get_by_label("Lifecycle").press("Enter")
        expect(page.locator("#summary")).to_have_text("No aggregated case matches.")


def test_reply_to_every_customer_confirm_and_follow_the_delivery(page, make_hub, fake_crm) -> None:
    from playwright.sync_api import expect

    seed(fake_crm)
    hub = make_hub(SUPPORTHUB_API_TOKEN="api-token-5150")
    hub.refresh(force=True)
    with live_server(create_app(hub, scheduler=False)) as url:
        page.goto(url + "/")
        page.get_by_label("Your name").fill("alice")
        hooli = page.locator("tr.aggregated").filter(has_text="Hooli")
        hooli.get_by_role("button", name=re.compile("Show the cases")).press("Enter")
        panel = page.get_by_role("region", name=re.compile("Reply to every customer of Hooli"))
        # Writes need the API token: the form shows once it is given.
        expect(panel.get_by_label("Message")).to_have_count(0)
        panel.get_by_role("button", name="Give the API token").click()
        expect(page.locator("#token-reason")).to_contain_text(
            "Replying to the customers needs the API token"
        )
        page.get_by_label("Access token", exact=True).fill("api-token-5150")
        page.get_by_label("Access token", exact=True).press("Enter")
        expect(panel.get_by_label("Message")).to_be_focused()
        panel.get_by_label("Message").fill("We found it; it works again.")
        panel.get_by_label("Set status").select_option("solved")
        panel.get_by_role("button", name="Review reply").click()
        expect(panel.locator(".reply-confirm")).to_contain_text(
            "This sends the message to 2 customer case(s): 2 in fake."
        )
        panel.get_by_role("button", name="Send", exact=True).click()
        expect(panel.locator(".reply-confirm")).to_have_text("Reply queued for 2 case(s).")
        expect(panel.locator(".reply-progress")).to_have_text(
            "done: 2 delivered, 0 failed, 0 pending of 2", timeout=30_000
        )
        expect(panel.locator(".reply-list li")).to_have_count(1)
        expect(panel.locator(".reply-list li").first).to_contain_text("alice")
