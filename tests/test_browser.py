"""The dashboard in headless Chromium against a service started on a free loopback port.

Uses the system Chromium at /usr/bin/chromium (Debian's package); Playwright
never downloads a browser here. Skipped when that binary is absent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from data.generate import generate

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 120.0  # seconds for the service to warm its model and answer /health
UI_TIMEOUT_MS = 20_000

SCRIPT_PAYLOAD = "<script>window.__xss=1</script>"
IMG_PAYLOAD = '<img src=x onerror="window.__xss=1">'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"service did not answer /health within {STARTUP_TIMEOUT} s:\n{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run `python -m api` on a free loopback port with a small model; yield its base URL."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package")
    state = tmp_path_factory.mktemp("browser-state")
    port = free_port()
    env = {
        **os.environ,
        "CENTINELA_STATE_DIR": str(state),
        "CENTINELA_HST_WINDOW": "250",
        "CENTINELA_HST_TREES": "10",
        "CENTINELA_HISTORY_MAX_EVENTS": "5000",
    }
    log_path = state / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; install Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageWatch:
    """Console errors, page errors and dialogs seen by one page."""

    def __init__(self, page: Page) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def open_dashboard(browser: Browser, url: str, locale: str = "es-ES") -> tuple[Page, PageWatch]:
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(f"{url}/")
    expect(page.locator("#feed-stats")).to_have_attribute("data-state", "open", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#feed-decisions")).to_have_attribute("data-state", "open", timeout=UI_TIMEOUT_MS)
    return page, watch


def replay_attack_mix(url: str, tmp_path: Path) -> None:
    """Write a generated attack mix and send it with the replay CLI to the running service."""
    log = tmp_path / "mix.log"
    log.write_text("".join(record.line + "\n" for record in generate(events=3000, seed=7)), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "replay", "run", str(log), "--url", url, "--batch", "500", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"replay failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


def test_browser_shows_block_after_replay(browser: Browser, service: str, tmp_path: Path) -> None:
    page, watch = open_dashboard(browser, service)

    replay_attack_mix(service, tmp_path)

    blocks = [d for d in httpx.get(f"{service}/decisions", params={"limit": 1000}).json() if d["action"] == "block"]
    assert blocks, "the attack mix produced no block"
    block_rows = page.locator('#decisions-table tbody tr[data-action="block"]')
    expect(block_rows.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    shown_ids = set(block_rows.evaluate_all("rows => rows.map(row => row.dataset.decisionId)"))
    assert shown_ids & {d["id"] for d in blocks}
    expect(page.locator("#stat-events")).not_to_have_text("–", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#top-table tbody tr").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert page.locator("#timeline canvas").count() == 1
    assert not [error for error in watch.console_errors if "Content Security Policy" in error]
    assert watch.page_errors == []


def test_browser_shows_payloads_as_text(browser: Browser, service: str) -> None:
    page, watch = open_dashboard(browser, service)
    hostile = (
        f'203.0.113.200 - - [11/Mar/2024:00:45:00 -0300] "GET /buscar/{SCRIPT_PAYLOAD} HTTP/1.1" 404 312 '
        f'"-" "{IMG_PAYLOAD.replace(chr(34), chr(92) + chr(34))}"'
    )
    rejected = f"not a log line {IMG_PAYLOAD}"
    page.fill("#analyze-input", f"{hostile}\n{rejected}\n")
    page.click("#analyze-button")

    expect(page.locator("#result-events tbody tr")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    text_cell = page.locator("#result-events tbody tr td.line-text")
    expect(text_cell).to_contain_text(SCRIPT_PAYLOAD)
    expect(text_cell).to_contain_text("<img src=x onerror=")
    expect(page.locator("#result-errors tbody tr td.line-text")).to_contain_text(IMG_PAYLOAD)
    assert page.locator("#analyze-result img, #analyze-result script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert watch.dialogs == []
    assert watch.page_errors == []


def test_browser_toggles_language(browser: Browser, service: str) -> None:
    page, _ = open_dashboard(browser, service, locale="es-ES")
    heading = page.locator('h2[data-i18n="decisions_title"]')
    expect(heading).to_have_text("Decisiones activas")
    expect(page.locator("#analyze-button")).to_have_text("Analizar")

    page.click("#lang-toggle")
    expect(heading).to_have_text("Active decisions")
    expect(page.locator("#analyze-button")).to_have_text("Analyse")
    assert page.evaluate("document.documentElement.lang") == "en"

    page.reload()
    expect(heading).to_have_text("Active decisions")


def test_browser_defaults_to_english_outside_spanish(browser: Browser, service: str) -> None:
    page, _ = open_dashboard(browser, service, locale="en-GB")
    expect(page.locator('h2[data-i18n="decisions_title"]')).to_have_text("Active decisions")
