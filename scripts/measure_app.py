"""Measure the running app: server memory with every checkpoint loaded, and how long a
prediction on a 3 s clip takes to appear in a real browser.

    python scripts/measure_app.py [--checkpoints DIR] [--clip WAV] [--runs 5]

Starts ``streamlit run app.py`` on a free local port (``SER_CHECKPOINTS_DIR`` = DIR, default
the repository's ``checkpoints/``), opens it in headless Chromium, loads Home (every model
loads), then drops the clip on Classify ``--runs`` times (each drop replaces the previous
upload under a new name, so each run decodes and predicts afresh) and times from the drop to
every model's answer on screen; then drops 8 s of speech and times ``--picks`` changes of the
timeline's model (only Classify's result fragment reruns). Prints the
server's resident memory (VmRSS of the server process) after the models loaded and at the
end, the cold (first) and warm (median of the rest) page times, and the service's own
``Time for all models`` readings. Not a test: a measurement (needs chromium and playwright).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE = "document.querySelector('[data-testid=\"stApp\"]').dataset.testScriptState"
PLOT = ".st-key-timeline .sert"  # the timeline on Classify (HTML, ui/prob_html.timeline)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def speech_clip(seconds: float = 3.0) -> Path:
    """A 3 s WAV: espeak-ng speech padded/cut to length (a tone if espeak-ng is missing)."""
    import numpy as np
    import soundfile as sf

    from ser_core.audio import load_audio
    from ser_core.demo import demo_wav_bytes

    audio = load_audio(demo_wav_bytes()[0], target_sr=16000)
    x = audio.waveform.numpy()[: int(seconds * 16000)]
    x = np.pad(x, (0, int(seconds * 16000) - len(x)))
    path = Path(tempfile.mkdtemp()) / "clip3s.wav"
    sf.write(path, x, 16000, subtype="PCM_16")
    return path


def long_speech(seconds: float = 8.0) -> bytes:
    """The demo speech repeated to ``seconds`` (every model then has a timeline to pick)."""
    import io

    import numpy as np
    import soundfile as sf

    from ser_core.audio import load_audio
    from ser_core.demo import demo_wav_bytes

    x = load_audio(demo_wav_bytes()[0], target_sr=16000).waveform.numpy()
    buf = io.BytesIO()
    sf.write(buf, np.resize(x, int(seconds * 16000)), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def drop(page, data: bytes, name: str) -> None:
    """A real drag-and-drop of ``data`` as the file ``name`` on Classify's uploader."""
    page.wait_for_selector('[data-testid="stFileUploaderDropzone"]')
    page.eval_on_selector('[data-testid="stFileUploaderDropzone"]', """(zone, [b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: 'audio/wav'}));
        for (const t of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(t, {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", [base64.b64encode(data).decode(), name])


def time_timeline_picks(page, picks: int) -> list[float]:
    """Drop 8 s of speech, then pick another model in the timeline ``picks`` times: seconds
    from the pick to that model's timeline drawn (a rerun of Classify's result fragment)."""
    drop(page, long_speech(), "long.wav")
    page.wait_for_function(f"() => {STATE} === 'notRunning' && document.body.innerText.includes('long.wav ·')")
    combo = page.locator(".st-key-timeline_model").get_by_role("combobox")
    combo.wait_for()
    out = []
    for i in range(picks):
        page.evaluate(f"() => window.__serOld = document.querySelector({PLOT!r}).innerHTML")
        combo.focus()
        combo.press("ArrowDown")  # opens the list
        options = page.get_by_role("listbox").get_by_role("option")
        options.first.wait_for()
        names = [o.strip() for o in options.all_inner_texts()]
        target = names[(names.index(combo.input_value()) + 1) % len(names)]
        t0 = time.perf_counter()
        options.filter(has_text=target).first.click()
        page.wait_for_function(  # the new model's timeline is drawn
            f"() => {STATE} === 'notRunning' && document.querySelector({PLOT!r})?.innerHTML !== window.__serOld")
        out.append(time.perf_counter() - t0)
    return out


def variant(clip: Path, i: int) -> bytes:
    """The clip at a slightly different gain: new bytes, so nothing is served from a cache."""
    import io

    import soundfile as sf

    x, sr = sf.read(clip, dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, x * (1.0 - 0.01 * i), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@contextlib.contextmanager
def serve(checkpoints: str, env_extra: dict | None = None):
    """``streamlit run app.py`` on a free local port; yields ``(url, process)``, then stops it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SER_CHECKPOINTS_DIR": checkpoints,
           "SER_RUNS_DIR": tempfile.mkdtemp(prefix="ser_runs_"), **(env_extra or {})}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
                               "--server.headless", "true", "--server.address", "127.0.0.1",
                               "--server.port", str(port), "--browser.gatherUsageStats", "false",
                               "--server.fileWatcherType", "none"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        yield url, server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    ap.add_argument("--clip", default=None, help="a WAV to classify (default: 3 s of espeak-ng speech)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--picks", type=int, default=4,
                    help="then time this many model picks in the timeline of an 8 s clip (0: none)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    clip = Path(args.clip) if args.clip else speech_clip()

    with serve(args.checkpoints) as (url, server):
        print(f"server pid {server.pid}, RSS at start {rss_mb(server.pid):.0f} MB")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            t0 = time.perf_counter()
            page.goto(url)
            page.get_by_text("Models loaded").wait_for()
            page.wait_for_function(f"() => {STATE} === 'notRunning'")
            n_models = page.locator('[data-testid="stMetricValue"]').first.inner_text()
            print(f"Home with {n_models} models loaded in {time.perf_counter() - t0:.1f} s; "
                  f"server RSS {rss_mb(server.pid):.0f} MB")
            page.locator('[data-testid="stSidebarNav"] a', has_text="Classify").first.click()
            page.wait_for_url("**/classify")
            page_times, service_ms, busy_ms = [], [], []
            # the browser's main-thread work (layout, plotly drawing, script), as long tasks
            page.evaluate("""() => { window.__serBusy = [];
                new PerformanceObserver(l => l.getEntries().forEach(e => window.__serBusy.push(
                    [performance.timeOrigin + e.startTime, e.duration]))).observe({type: 'longtask'}); }""")
            for i in range(args.runs):
                data = variant(clip, i)
                page.wait_for_selector('[data-testid="stFileUploaderDropzone"]')
                t0 = time.perf_counter()
                w0 = page.evaluate("() => performance.timeOrigin + performance.now()")
                drop(page, data, f"run{i}.wav")
                # the upload starts a script run; it ends with this clip's predictions drawn
                page.wait_for_function(f"() => {STATE} !== 'notRunning'", timeout=10_000)
                page.wait_for_function(
                    f"([name]) => {STATE} === 'notRunning' && document.body.innerText.includes(name + ' ·')",
                    arg=[f"run{i}.wav"])
                page_times.append(time.perf_counter() - t0)
                busy_ms.append(page.evaluate(
                    "([w0]) => window.__serBusy.filter(e => e[0] >= w0).reduce((a, e) => a + e[1], 0)", [w0]))
                m = re.search(r"Time for all models\s*(\d+) ms", page.inner_text("body"))
                service_ms.append(int(m.group(1)) if m else float("nan"))
            picks = time_timeline_picks(page, args.picks) if args.picks else []
            browser.close()
        warm = page_times[1:] or page_times
        print(f"3 s clip, drop -> all predictions on screen: first {page_times[0] * 1000:.0f} ms, "
              f"warm median {statistics.median(warm) * 1000:.0f} ms (runs: "
              + ", ".join(f"{t * 1000:.0f}" for t in page_times) + ")")
        print("browser main thread busy in long tasks (ms, >50 ms each): "
              + ", ".join(f"{v:.0f}" for v in busy_ms))
        print("service time for all models (ms, as the page shows it): "
              + ", ".join(str(v) for v in service_ms))
        if picks:
            print(f"8 s clip, another model picked in the timeline -> its timeline on screen: median "
                  f"{statistics.median(picks) * 1000:.0f} ms (picks: "
                  + ", ".join(f"{t * 1000:.0f}" for t in picks) + ")")
        print(f"server RSS at the end {rss_mb(server.pid):.0f} MB; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
