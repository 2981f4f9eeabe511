"""Browser tests: the session app served on loopback, driven by Playwright and the system Chromium.

Never downloads a browser: Playwright drives ``/usr/bin/chromium`` (Debian's package). Every page
the tests visit may only talk to 127.0.0.1; console errors, uncaught exceptions and Content
Security Policy violations fail the test that caused them.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import free_port

CHROMIUM = Path(os.environ.get("AGGREGATOR_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BROWSER_SUPPORT = Path(__file__).resolve().parents[1] / "support" / "browser"
AXE_JS = BROWSER_SUPPORT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.x A and AA plus axe's best practices (landmarks, heading order, region...).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
DEFAULT_TIMEOUT_MS = 10_000

# Reported by the browser when a policy blocks something; also raised by the listener below.
_CSP_EVENT_SCRIPT = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@dataclass
class LiveServer:
    """The portal served over real HTTP on 127.0.0.1."""

    url: str  # http://127.0.0.1:<port>, no trailing slash

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[LiveServer]:
    """Serve the session ``app`` with a threaded werkzeug server in a daemon thread."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless system Chromium for the whole session (skips when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} "
            "(apt-get install -y chromium; scripts/test.sh does it when run as root)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package: pip install -e '.[test]'")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class BrowserProblems:
    """What went wrong in the page, from the browser's point of view."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    allowed_console_errors: list[re.Pattern[str]] = field(default_factory=list)

    def allow_console_error(self, pattern: str) -> None:
        """Expect console errors matching ``pattern`` (e.g. Chromium's note on a deliberate 404 or 422)."""
        self.allowed_console_errors.append(re.compile(pattern))

    def summary(self) -> str:
        lines = [
            f"console error: {m}"
            for m in self.console_errors
            if not any(p.search(m) for p in self.allowed_console_errors)
        ]
        lines += [f"uncaught exception: {m}" for m in self.page_errors]
        lines += [f"request to a non-loopback address: {u}" for u in self.blocked_requests]
        return "\n".join(lines)


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname == "127.0.0.1"


@pytest.fixture
def page(
    browser: Any,
    live_server: LiveServer,
    browser_problems: BrowserProblems,
    artifacts_dir: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    """A fresh browser context (no cookies) per test: desktop size, Mexican Spanish.

    At the end of the test, any console error, uncaught exception, CSP violation or request
    that tried to leave 127.0.0.1 fails it.
    """
    context = browser.new_context(viewport=DESKTOP, locale="es-MX", timezone_id="America/Mexico_City")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(_CSP_EVENT_SCRIPT)

    def _guard(route: Any) -> None:
        if _is_loopback(route.request.url):
            route.continue_()
        else:
            browser_problems.blocked_requests.append(route.request.url)
            route.abort()

    context.route("**/*", _guard)
    pg = context.new_page()
    pg.on(
        "console",
        lambda msg: browser_problems.console_errors.append(f"{msg.text} ({pg.url})") if msg.type == "error" else None,
    )
    pg.on("pageerror", lambda exc: browser_problems.page_errors.append(f"{exc} ({pg.url})"))
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        _save_failure_shot(pg, artifacts_dir, request.node.name)
    context.close()
    problems = browser_problems.summary()
    assert not problems, f"the browser reported problems during {request.node.name}:\n{problems}"


def _save_failure_shot(pg: Any, artifacts_dir: Path, test_name: str) -> None:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    try:
        pg.screenshot(path=str(artifacts_dir / f"e2e-FAILED-{name}.png"), full_page=True)
    except Exception as exc:  # the page may be gone; the test failure is what matters
        print(f"could not save a failure screenshot: {exc}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


@pytest.fixture
def screenshot(page: Any, artifacts_dir: Path) -> Callable[..., Path]:
    """``screenshot("01-register")`` saves test-artifacts/e2e-01-register.png (whole page)."""

    def take(name: str, *, target: Any = None) -> Path:
        path = artifacts_dir / f"e2e-{name}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0, f"empty screenshot {path}"
        return path

    return take


# --- accessibility: axe-core -------------------------------------------------------------------


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The pinned axe-core script (tests/support/browser); skips when its npm package is not installed."""
    if not AXE_JS.is_file():
        pytest.skip(
            f"accessibility tests need axe-core from npm: run `npm ci` in {BROWSER_SUPPORT} "
            "(scripts/test.sh does it when npm is installed)"
        )
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Any, source: str) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; its violations (rule id, impact, help, nodes...).

    ``page.evaluate`` goes through the DevTools protocol, which the page's Content Security Policy
    (script-src 'self', no eval) does not govern, so the portal's CSP stays as strict as in production.
    """
    if not page.evaluate("() => typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        page.evaluate(source)
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    assert result["testEngine"]["name"] == "axe-core", "axe-core did not run"
    return list(result["violations"])


def format_violations(violations: list[dict[str, Any]], where: str) -> str:
    """One line per rule (id, impact, help, link) and one per offending element (target, summary)."""
    lines = []
    for v in violations:
        lines.append(f"{where}: [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            summary = " ".join(str(node.get("failureSummary") or "").split())
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary[:300]}")
    return "\n".join(lines)


@pytest.fixture
def axe(axe_source: str) -> Callable[..., list[dict[str, Any]]]:
    """``axe(page)`` runs axe-core on the page and fails the test on any violation, listing each one."""

    def check(page: Any, where: str = "") -> list[dict[str, Any]]:
        violations = axe_violations(page, axe_source)
        report = format_violations(violations, where or page.url)
        if violations:
            print(report)
        assert not violations, f"axe-core found {len(violations)} accessibility violation(s):\n{report}"
        return violations

    return check
