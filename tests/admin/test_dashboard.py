"""The dashboard in a real browser: headless Debian Chromium driven by Playwright, against a
real ``only1mcp start`` with real fixture servers. The page shows the servers, a live update
arrives over SSE (a call made elsewhere shows up in the stats), and the playground calls a tool
and shows its result. ``UPDATE_SCREENSHOT=1`` also writes the screenshot committed as
docs/dashboard.png."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .conftest import AdminAggregator

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = shutil.which("chromium") or CHROMIUM
    if not Path(path).exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, running: AdminAggregator) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(running.admin + "/")
    yield opened
    context.close()
    assert not errors, errors  # no script error on the page


def test_the_page_shows_the_servers_and_their_replicas(page: Page) -> None:
    rows = page.locator("#servers tbody tr")
    expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)
    expect(rows.filter(has_text="pl[0]")).to_have_count(1)
    for name in ("fx", "web", "pl"):
        row = page.locator(f'#servers tbody tr[data-server="{name}"]')
        expect(row).to_contain_text("ready")
    expect(page.locator('#servers tr[data-server="fx"]')).to_contain_text("closed")
    expect(page.locator("#ov-servers")).to_have_text("3/3")


def test_a_live_update_brings_a_call_made_elsewhere(page: Page, running: AdminAggregator) -> None:
    expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)
    with running.client() as admin:
        resp = admin.post(
            "/api/tools/call", json={"name": "web__echo", "arguments": {"text": "from afar"}}
        )
        assert resp.status_code == 200
    tool_row = page.locator('#tools tr[data-tool="web__echo"]')
    expect(tool_row).to_have_count(1, timeout=WAIT_MS)  # the page was not reloaded
    updates = int(page.locator("body").get_attribute("data-updates") or "0")
    assert updates >= 2


def test_the_playground_calls_a_tool_and_shows_its_result(page: Page, tmp_path: Path) -> None:
    page.select_option("#tool", "fx__add")
    page.fill('#fields input[name="a"]', "20")
    page.fill('#fields input[name="b"]', "22")
    page.click("#call")
    result = page.locator("#result")
    expect(result).to_contain_text('"result": 42', timeout=WAIT_MS)
    expect(result).to_have_class("result ok")
    page.select_option("#tool", "fx__fail")
    page.fill('#fields input[name="message"]', "playground boom")
    page.click("#call")
    expect(result).to_have_class("result error", timeout=WAIT_MS)
    expect(page.locator("#errors")).to_contain_text("playground boom", timeout=WAIT_MS)
    page.select_option("#tool", "fx__echo")
    page.fill('#fields input[name="text"]', "hello from the playground")
    page.click("#call")
    expect(result).to_contain_text("hello from the playground", timeout=WAIT_MS)
    page.wait_for_timeout(1200)  # one more snapshot: the stats of these calls
    shot = page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.write_bytes(shot)
