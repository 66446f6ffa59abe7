"""Browser tests of the hosted pages: Debian chromium driven by Playwright against a live server.

One browser per test process, a new context (cookies, storage) per test. `web` builds an app with
authgear.yaml overrides, serves it on a free loopback port (`http.public_origin` = that origin) and
sends its mail to the session's test SMTP server. `shots.visit(page, name)` saves a screenshot in
the run's screenshot folder (printed at the end of the run) and runs axe-core on the page once per
page name and colour scheme: a serious or critical violation fails the test.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.config import deep_merge
from app.extensions import db
from app.i18n import TRANSLATIONS_DIR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS_ENV = "GATEHOUSE_SCREENSHOTS"


def compile_catalogs() -> None:
    """The pages read compiled catalogs (.mo, git-ignored); build any that are missing or stale."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        tmp = mo.with_suffix(f".mo.{os.getpid()}")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)


@pytest.fixture(scope="session", autouse=True)
def _catalogs() -> None:
    compile_catalogs()


# -- live server ------------------------------------------------------------------------------------
class LiveServer:
    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.app: Flask | None = None
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.origin = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _dispatch(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)

    def url(self, path: str) -> str:
        return self.origin + path

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def web(make_app: Callable[..., Flask], make_config: Any, smtp_server: Any) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def build(overrides: dict[str, Any] | None = None) -> LiveServer:
        server = LiveServer()
        servers.append(server)
        secrets = smtp_server.secrets(dict(make_config().secrets))
        merged = deep_merge({"http": {"public_origin": server.origin}}, overrides or {})
        server.app = make_app(merged, secrets=secrets)
        return server

    yield build
    for server in servers:
        server.stop()


@pytest.fixture
def in_app() -> Callable[[LiveServer], Any]:
    """`with in_app(server) as svc:` the services of the served app, committing at the end."""
    from contextlib import contextmanager

    @contextmanager
    def ctx(server: LiveServer) -> Iterator[Any]:
        assert server.app is not None
        with server.app.app_context():
            yield server.app.extensions["gatehouse"]
            db.session.commit()

    return ctx


# -- browser ----------------------------------------------------------------------------------------
# Other test folders import these fixtures (tests/settings); pytest then keeps one session fixture
# per folder, but Playwright's sync API allows one running instance per process: they share it.
_PLAYWRIGHT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not AXE.exists():
        pytest.skip("axe-core is missing (npm install in tests/web)")
    from playwright.sync_api import sync_playwright

    if not _PLAYWRIGHT:
        pw = sync_playwright().start()
        _PLAYWRIGHT.update(pw=pw, chromium=pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS), users=0)
    _PLAYWRIGHT["users"] += 1
    yield _PLAYWRIGHT["chromium"]
    _PLAYWRIGHT["users"] -= 1
    if not _PLAYWRIGHT["users"]:
        _PLAYWRIGHT["chromium"].close()
        _PLAYWRIGHT["pw"].stop()
        _PLAYWRIGHT.clear()


@pytest.fixture
def context_factory(browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def build(**options: Any) -> Any:
        options.setdefault("locale", "en-US")
        options.setdefault("viewport", {"width": 1000, "height": 900})
        context = browser.new_context(**options)
        # axe-core from npm, injected as an init script (the pages' CSP allows no inline script).
        context.add_init_script(path=str(AXE))
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield build
    for context in contexts:
        context.close()


@pytest.fixture
def page(context_factory: Callable[..., Any]) -> Any:
    return context_factory().new_page()


# -- screenshots and axe ----------------------------------------------------------------------------
def _screenshot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get(SCREENSHOTS_ENV)
    if configured:
        root = Path(configured)
    else:
        root = tmp_path_factory.getbasetemp() / "web-screenshots"
    root.mkdir(parents=True, exist_ok=True)
    return root


class Shots:
    """Screenshots of every page visited, and the accessibility check of each page."""

    checked: set[tuple[str, str]] = set()

    def __init__(self, root: Path, test_name: str) -> None:
        self.root = root
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:80]
        self.count = 0

    def visit(self, page: Any, name: str, axe: bool = True) -> None:
        page.wait_for_load_state("load")
        self.count += 1
        page.screenshot(path=str(self.root / f"{self.prefix}-{self.count:02d}-{name}.png"), full_page=True)
        scheme = page.evaluate("document.documentElement.getAttribute('data-color-scheme') || 'auto'")
        key = (name, scheme)
        if axe and key not in Shots.checked:
            violations = axe_violations(page)
            assert not violations, f"axe-core on {name} ({page.url}): {json.dumps(violations, indent=1)}"
            Shots.checked.add(key)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is now."""
    return page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _screenshot_root(tmp_path_factory)
    print(f"\nscreenshots of the hosted pages: {root}")  # noqa: T201 (where to look)
    return root


@pytest.fixture
def shots(screenshot_dir: Path, request: pytest.FixtureRequest) -> Shots:
    return Shots(screenshot_dir, request.node.name)
