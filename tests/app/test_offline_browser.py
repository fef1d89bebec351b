"""The app as shipped (``.streamlit/config.toml``, no command-line flags) in a real Chromium:
every page is visited with a clip loaded and not one request leaves this machine.

Chromium's resolver is pointed nowhere (``--host-resolver-rules``) so nothing could reach
the internet anyway; Playwright still sees every request the page *tries* to make, and
those are what the test counts (a favicon from a font host, telemetry, ...).
"""

from __future__ import annotations

import os
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.app.conftest import wav_bytes
from tests.app.server_helpers import streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
PAGES = ["Classify", "Live", "Features", "Explain", "Compare", "Train", "Datasets", "Home"]
LOCAL = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def shipped_server(tiny_checkpoints, tmp_path_factory):
    """``streamlit run app.py --server.port P``: every other setting from the shipped config."""
    tmp = tmp_path_factory.mktemp("offline")
    env = {**os.environ, "SER_CHECKPOINTS_DIR": str(tiny_checkpoints), "SER_RUNS_DIR": str(tmp / "runs"),
           "SER_VAD": "off"}  # the clip is a generated tone: let it reach the models
    log_path = tmp / "server.log"
    with streamlit_server(env, log_path) as url:
        yield url, log_path


def test_every_page_makes_no_request_outside_this_machine(shipped_server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, log_path = shipped_server
    clip = tmp_path / "tone.wav"
    clip.write_bytes(wav_bytes(2.0))
    requested: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        page.on("request", lambda r: requested.append(r.url))
        page.goto(url)
        page.wait_for_selector('[data-testid="stSidebarNav"]')
        wait_idle(page)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Classify").first.click()
        wait_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(clip))
        page.get_by_text("Models agreeing").first.wait_for()
        for name in PAGES:
            page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
            wait_idle(page, 1.5)
            assert "Traceback" not in page.inner_text("body"), name
        time.sleep(2.0)  # late requests (favicons, fonts)
        browser.close()
    outside = sorted({u for u in requested
                      if urllib.parse.urlsplit(u).scheme in ("http", "https", "ws", "wss")
                      and urllib.parse.urlsplit(u).hostname not in LOCAL})
    assert len(requested) > 20  # the pages really loaded (scripts, styles, media)
    assert outside == [], outside
    assert "External URL" not in log_path.read_text()
