"""Capture the screenshots in docs/images from a running Centinela, with headless Chromium.

Usage::

    .venv/bin/python scripts/screenshots.py [--out docs/images] [--events 6000] [--seed 7]

The script starts `python -m api` on a free loopback port with a temporary
state directory, replays a generated attack mix into it with
`python -m replay run --url`, and captures:

- `dashboard-en.png`, `dashboard-es.png`: the dashboard while the replay runs,
  with a pasted batch analysed in the form at the bottom;
- `openapi-analyze.png`: the OpenAPI page with `POST /analyze` executed;
- `replay-summary.png`: the replay's terminal summary, rendered by rich.

It needs Debian's chromium at /usr/bin/chromium; Playwright never downloads a browser here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, Route, sync_playwright
from rich.console import Console
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.generate import generate  # noqa: E402

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
SWAGGER_DIR = ROOT / "api" / "static" / "vendor" / "swagger-ui"
# FastAPI's default /docs page loads these from a CDN; the browser gets the vendored copies instead.
SWAGGER_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
STARTUP_TIMEOUT = 300.0
REPLAY_SPEED = 600.0  # times the log's own pace, so a few hours of log take about 20 s
TERMINAL_COLUMNS = 104
HOSTILE_LINE = (
    '203.0.113.200 - - [11/Mar/2024:00:40:00 -0300] "GET /buscar/<script>alert(1)</script> HTTP/1.1" 404 312 '
    '"-" "sqlmap/1.8.4#stable (https://sqlmap.org)"'
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_service(state_dir: Path) -> Iterator[str]:
    """Start `python -m api` on a free loopback port and yield its URL once /health answers."""
    port = free_port()
    # The replay at REPLAY_SPEED sends many small batches, more than the default per-address rate limit.
    env = {
        **os.environ,
        "CENTINELA_STATE_DIR": str(state_dir),
        "CENTINELA_RATE_LIMIT_PER_SECOND": "1000",
        "CENTINELA_RATE_LIMIT_BURST": "2000",
    }
    log_path = state_dir / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"service did not start; its log:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def write_attack_mix(path: Path, events: int, seed: int) -> list[str]:
    lines = [record.line for record in generate(events=events, seed=seed)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return lines


def start_replay(log: Path, url: str) -> subprocess.Popen[bytes]:
    """Run the replay CLI against the service, with colours on, so its summary can be rendered."""
    env = {
        **os.environ,
        "FORCE_COLOR": "1",
        "COLUMNS": str(TERMINAL_COLUMNS),
        "TERM": "xterm-256color",
        "PYTHONPATH": str(ROOT),
    }
    # Run from the log's folder so the summary names the file, not a temporary path.
    command = [sys.executable, "-m", "replay", "run", log.name, "--url", url, "--speed", f"{REPLAY_SPEED:g}"]
    return subprocess.Popen(command, cwd=log.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def capture_dashboard(browser: Browser, url: str, locale: str, sample: list[str], out: Path) -> None:
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/")
    page.wait_for_selector('#feed-stats[data-state="open"]')
    page.fill("#analyze-input", "\n".join([*sample, HOSTILE_LINE]))
    page.click("#analyze-button")
    page.wait_for_selector("#result-events tbody tr")
    page.wait_for_timeout(1500)  # let the next /ws/stats message redraw the chart
    page.screenshot(path=str(out), full_page=True)
    context.close()


def serve_swagger_from_disk(route: Route) -> None:
    name = route.request.url.removeprefix(SWAGGER_CDN).split("?", 1)[0]
    path = SWAGGER_DIR / name
    if path.parent != SWAGGER_DIR or not path.is_file():
        route.abort()
        return
    content_type = "text/css" if name.endswith(".css") else "application/javascript"
    route.fulfill(body=path.read_bytes(), content_type=content_type)


def capture_openapi(browser: Browser, url: str, out: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.route(f"{SWAGGER_CDN}*", serve_swagger_from_disk)
    page.goto(f"{url}/docs")
    operation = page.locator(".opblock-post").filter(has_text="/analyze").first
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    live.locator(".response-col_status").first.wait_for()
    shorten_response(page)
    # From the top of the operation to the end of the live response; the schema examples below are left out.
    top = operation.bounding_box()
    bottom = live.bounding_box()
    assert top is not None and bottom is not None
    # Bounding boxes are relative to the viewport; a full-page clip is relative to the page.
    scroll_y = page.evaluate("window.scrollY")
    height = bottom["y"] + bottom["height"] - top["y"]
    clip = {"x": top["x"], "y": top["y"] + scroll_y, "width": top["width"], "height": height}
    page.screenshot(path=str(out), clip=clip, full_page=True)
    context.close()


def shorten_response(page: Page) -> None:
    # Swagger UI shows the whole JSON body; cap its height so the request and response both fit.
    page.add_style_tag(content=".live-responses-table .highlight-code pre { max-height: 420px; }")


def capture_terminal(browser: Browser, ansi: str, command: str, out: Path) -> None:
    """Render terminal output with rich's SVG export and screenshot it."""
    console = Console(record=True, width=TERMINAL_COLUMNS, file=io.StringIO(), force_terminal=True)
    console.print(Text.from_ansi(ansi))
    svg = console.export_svg(title=command)
    context = browser.new_context(viewport={"width": 1100, "height": 800}, device_scale_factor=1)
    page = context.new_page()
    page.set_content(f"<!doctype html><html><body style='margin:0;background:#fff'>{svg}</body></html>")
    page.locator("svg").first.screenshot(path=str(out))
    context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Capture the screenshots in docs/images.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the PNG files")
    parser.add_argument("--events", type=int, default=6000, help="lines in the generated attack mix")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated attack mix")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}; install Debian's chromium package")
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="centinela-shots-") as scratch, sync_playwright() as playwright:
        work = Path(scratch)
        log = work / "attack-mix.log"
        lines = write_attack_mix(log, args.events, args.seed)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        with running_service(work) as url:
            replay = start_replay(log, url)
            time.sleep(8)  # let the replay reach the attacks before the first capture
            capture_dashboard(browser, url, "en-US", lines[1000:1012], args.out / "dashboard-en.png")
            capture_dashboard(browser, url, "es-ES", lines[1000:1012], args.out / "dashboard-es.png")
            stdout, stderr = replay.communicate(timeout=600)
            if replay.returncode != 0:
                raise SystemExit(f"replay failed with {replay.returncode}:\n{stderr.decode(errors='replace')[-3000:]}")
            # Last, because the OpenAPI example's log times are later than the replayed log's
            # and would move the stream clock past every decision of the replay.
            capture_openapi(browser, url, args.out / "openapi-analyze.png")
        command = f"python -m replay run {log.name} --url http://127.0.0.1:8000 --speed {REPLAY_SPEED:g}"
        capture_terminal(browser, stdout.decode(), command, args.out / "replay-summary.png")
        browser.close()

    for name in ("openapi-analyze.png", "dashboard-en.png", "dashboard-es.png", "replay-summary.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
