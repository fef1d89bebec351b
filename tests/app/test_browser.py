"""The app in a real headless Chromium (Debian's, driven by Python playwright).

A Streamlit server runs on a free local port with tiny untrained checkpoints. Chromium's fake
microphone plays a WAV spoken by espeak-ng. Screenshots of every page go to
``artifacts/screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.app.server_helpers import streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--disable-features=WebRtcHideLocalIpsWithMdns"]
PAGES = ["Home", "Classify", "Live", "Features", "Explain", "Compare", "Train", "Datasets"]


def _needs(what: str) -> None:
    pytest.skip(f"needs {what}")


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> Path:
    exe = shutil.which("espeak-ng")
    if not exe:
        _needs("the espeak-ng program (apt-get install espeak-ng)")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run([exe, "-w", str(path), "-s", "140",
                    "Hello, this is a test of the emotion lab. I am speaking into a fake microphone."],
                   check=True, capture_output=True)
    return path


DATA_ROOT = Path(os.environ.get("SER_DATA_ROOT", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def server(tiny_checkpoints, tmp_path_factory, jobs_stopper):
    tmp = tmp_path_factory.mktemp("server")
    env = {**os.environ, "SER_CHECKPOINTS_DIR": str(tiny_checkpoints), "SER_RUNS_DIR": str(tmp / "runs"),
           "SER_DATA_ROOT": str(DATA_ROOT), "SER_JOBS_IDLE_EXIT": "5"}
    with streamlit_server(env, tmp / "server.log", "--server.headless", "true",
                          "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
                          "--server.fileWatcherType", "none") as url:
        yield url
    jobs_stopper(tmp / "runs")  # the training test's worker


@pytest.fixture(scope="module")
def browser(speech_wav):
    if not Path(CHROMIUM).exists():
        _needs("Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS + [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech_wav}"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.grant_permissions(["microphone"], origin=server)
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()




def open_page(page, server, name: str = "") -> None:
    page.goto(f"{server}/{name.lower() if name != 'Home' else ''}")
    page.wait_for_selector('[data-testid="stSidebarNav"]')
    wait_idle(page)


def go(page, name: str) -> None:
    """Navigate with the sidebar (keeps the session, hence the current clip)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
    if name != "Home":
        page.wait_for_url(f"**/{name.lower()}")
    wait_idle(page, 1.5)


def shot(page, name: str) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main container, so the
    viewport is stretched to the content's height first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    height = page.evaluate("""() => Math.max(...['stMain', 'stAppViewContainer', 'stMainBlockContainer']
        .map(id => document.querySelector(`[data-testid="${id}"]`))
        .filter(Boolean).map(e => e.scrollHeight), document.body.scrollHeight)""")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height + 40, 1000), 14000))})
    time.sleep(1.0)  # charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return path


def assert_predictions(page) -> None:
    page.get_by_text("Models agreeing").first.wait_for()
    wait_idle(page)
    body = page.inner_text("body")
    import re

    assert "Models agreeing" in body and re.search(r"\d of [45]\b", body), body[:3000]
    page.get_by_text("Every model").first.wait_for()
    for name in ("acrnn", "glam", "parallel_cnn_transformer", "serct"):  # every model's card
        page.locator(".serg .name", has_text=name).first.wait_for()
    assert "Traceback" not in body


def drop_file(page, selector: str, path: Path, mime: str = "audio/wav") -> None:
    """A real drag-and-drop: a ``drop`` event carrying the file on the dropzone."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.wait_for_selector(selector)
    page.eval_on_selector(selector, """(zone, [b64, name, mime]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: mime}));
        for (const type of ['dragenter', 'dragover', 'drop']) {
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
        }
    }""", [data, path.name, mime])


def test_drag_and_drop_upload_shows_predictions(page, server, speech_wav):
    open_page(page, server, "Classify")
    drop_file(page, '[data-testid="stFileUploaderDropzone"]', speech_wav)
    wait_idle(page)
    assert_predictions(page)
    assert "speech.wav" in page.inner_text("body")
    shot(page, "classify_upload")


def test_timeline_model_picker_redraws_the_timeline_in_place(page, server, speech_wav):
    """The picker lives in Classify's result fragment: choosing another model redraws that
    model's segments, and the rest of the page (clip card, answers) stays on screen."""
    open_page(page, server, "Classify")
    drop_file(page, '[data-testid="stFileUploaderDropzone"]', speech_wav)
    wait_idle(page)
    assert_predictions(page)
    axis = page.locator(".st-key-timeline .xtitle")
    before = axis.text_content()
    box = page.locator(".st-key-timeline_model")
    combo = box.get_by_role("combobox")
    current = combo.input_value()
    combo.focus()  # a first click on the scrolled-to picker only focuses it; the keyboard opens it
    combo.press("ArrowDown")
    listed = page.get_by_role("listbox").get_by_role("option")
    listed.first.wait_for()
    options = [o.strip() for o in listed.all_inner_texts()]
    assert len(options) == 4, options  # every model: 5.8 s of speech is two segments or more
    target = next(o for o in options if o != current)
    listed.filter(has_text=target).first.click()
    wait_idle(page)
    assert combo.input_value() == target
    page.wait_for_function("([sel, old]) => document.querySelector(sel)?.textContent !== old",
                           arg=[".st-key-timeline .xtitle", before])
    body = page.inner_text("body")
    assert "speech.wav" in body and "Models agreeing" in body and "Traceback" not in body
    shot(page, "classify_timeline_pick")


def test_microphone_recording_shows_predictions(page, server):
    open_page(page, server, "Classify")
    page.get_by_role("tab", name="Record").click()
    page.get_by_role("button", name="Record", exact=True).click()
    time.sleep(3.0)
    page.get_by_role("button", name="Stop recording").click()
    wait_idle(page)
    assert_predictions(page)
    body = page.inner_text("body")
    assert "microphone.wav" in body and "microphone" in body
    shot(page, "classify_microphone")


def test_my_voice_panel_records_a_reference_with_the_microphone(page, server):
    """Classify's My-voice panel: 6 s of (fake) microphone speech become the session's voice
    reference; the models then predict with it."""
    open_page(page, server, "Classify")
    panel = page.locator('[data-testid="stExpander"]', has_text="My voice").first
    panel.locator("summary").first.click()
    panel.get_by_role("button", name="Record", exact=True).click()
    time.sleep(6.5)
    panel.get_by_role("button", name="Stop recording").click()
    wait_idle(page)
    panel.get_by_text("Use my voice").first.wait_for()
    body = page.inner_text("body")
    assert "s of reference" in body and "Traceback" not in body
    shot(page, "classify_my_voice")


def test_live_webrtc_streams_the_microphone(page, server):
    open_page(page, server, "Live")
    frame = page.frame_locator("iframe[title*='streamlit_webrtc'], iframe").first
    frame.get_by_role("button", name="START").click()
    # the first frame arrives ~0.8 s after START; predictions about every second
    page.get_by_text("Listening ·").first.wait_for(timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('models)')", timeout=60_000)
    page.get_by_text("Live log-mel").first.wait_for()  # the live picture (plotly SVG text)
    time.sleep(2.5)
    shot(page, "live_streaming")
    frame.get_by_role("button", name="STOP").click()
    page.wait_for_function(
        "() => /stream stopped|Stopped\\. Press START/.test(document.body.innerText)", timeout=60_000)
    wait_idle(page)
    # what was streamed can become the current clip for the other pages
    page.get_by_role("button", name="as the current clip").click()
    page.get_by_text("Kept: open Classify").wait_for()
    go(page, "Features")
    assert "live.wav" in page.inner_text("body")


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def test_training_job_from_the_page_appears_in_compare(page, server, emodb_root):
    """Submit a small real cross-validation from the Train page, watch it finish, then find
    its checkpoint among the models of Compare."""
    open_page(page, server, "Train")
    choose(page, "Model", "parallel_cnn_transformer")
    page.get_by_role("spinbutton", name="Folds").fill("2")
    page.get_by_role("spinbutton", name="Epochs (0 = recipe default)").fill("1")
    speakers = page.get_by_role("spinbutton", name="Speakers per corpus (0 = all)")
    speakers.fill("4")
    speakers.press("Enter")
    wait_idle(page)
    assert page.get_by_role("textbox", name="emodb folder").input_value() == str(emodb_root)
    page.get_by_role("button", name="Submit job").click()
    page.get_by_text("queued:").first.wait_for()
    page.wait_for_function("() => /Job 1 · (succeeded|failed|cancelled)/.test(document.body.innerText)",
                           timeout=400_000)
    body = page.inner_text("body")
    assert "Job 1 · succeeded" in body, body[-2000:]
    page.get_by_text("validation UA").first.wait_for()
    shot(page, "train_finished_job")
    go(page, "Compare")
    assert "job 1 · parallel_cnn_transformer" in page.inner_text("body")


def test_screenshots_of_every_page(page, server, speech_wav):
    open_page(page, server, "Home")
    shot(page, "home")
    go(page, "Classify")
    # the clip uploader, not the My-voice panel's (both are on Classify)
    page.locator('[data-testid="stFileUploader"]', has_text="Drag and drop an audio file") \
        .locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(speech_wav))
    wait_idle(page)
    assert_predictions(page)
    shot(page, "classify")
    for name in PAGES[2:]:
        go(page, name)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Error" not in page.title()
        if name in ("Features", "Explain"):
            assert "speech.wav" in body  # the clip chosen on Classify is shared
        shot(page, name.lower())
        if name == "Explain":
            for model in ("parallel_cnn_transformer", "serct"):
                choose(page, "Model", f"{model} ({model})")
                shot(page, f"explain_{model}")
        if name == "Compare":
            for tab in ("Measured results", "Confusion matrices"):
                page.get_by_role("tab", name=tab).click()
                time.sleep(1.0)
                shot(page, f"compare_{tab.split()[0].lower()}")
    assert all((SHOTS / f"{n.lower()}.png").stat().st_size > 10_000 for n in PAGES)
