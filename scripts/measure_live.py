"""Measure the Live page's delay: a sound enters the (fake) microphone -> the answer is on screen.

    python scripts/measure_live.py [--checkpoints DIR] [--cycles 6] [--silence 6] [--speech 3]

Makes a WAV of ``--silence`` seconds of silence then ``--speech`` seconds of espeak-ng speech
(a voiced tone where espeak-ng is missing) and gives it to headless Chromium as its
microphone (``--use-file-for-fake-audio-capture``; Chromium loops the file). Starts the app
(``scripts/measure_app.py``'s server), opens Live and presses START.

Two clocks in the browser, both ``performance.timeOrigin + performance.now()``:

* the sound's onset: a script injected into every frame wraps ``getUserMedia`` and taps the
  microphone stream with a WebAudio analyser (10 ms polls); the onset is the first poll whose
  level rises above -45 dBFS after at least 1 s below -60 dBFS. This is the signal WebRTC
  sends, before encoding, network, server and drawing;
* the answer: a MutationObserver on the page notes when the Live page's headline changes from
  "Too quiet"/"Listening" to a prediction ("label · NN%", the "(k of n models)" beneath it).

The delay of one cycle is answer - onset; cycles where no "quiet" headline came between two
answers (silence too short for the window to empty) are not counted. Prints every delay and
their median. Not a test: a measurement (needs chromium and playwright).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from measure_app import ARGS, serve  # noqa: E402

RATE = 48_000

TAP = """
(() => {
  const md = navigator.mediaDevices;
  if (!md || md.__serTapped) return;
  md.__serTapped = true;
  const orig = md.getUserMedia.bind(md);
  md.getUserMedia = async (c) => {
    const stream = await orig(c);
    try {
      const ctx = new AudioContext();
      const src = ctx.createMediaStreamSource(stream);
      const an = ctx.createAnalyser();
      an.fftSize = 1024;
      src.connect(an);
      const buf = new Float32Array(an.fftSize);
      let quietSince = null;
      const top = window.top;
      top.__serOnsets = top.__serOnsets || [];
      setInterval(() => {
        an.getFloatTimeDomainData(buf);
        let s = 0;
        for (const v of buf) s += v * v;
        const db = 10 * Math.log10(s / buf.length + 1e-20);
        const now = performance.timeOrigin + performance.now();
        if (db < -60) { if (quietSince === null) quietSince = now; }
        else if (db > -45) {
          if (quietSince !== null && now - quietSince > 1000) top.__serOnsets.push(now);
          quietSince = null;
        }
      }, 10);
    } catch (e) { window.top.__serTapError = String(e); }
    return stream;
  };
})();
"""

WATCH = """
() => {
  window.__serStates = [];
  const state = () => {
    for (const h of document.querySelectorAll('h3')) {
      const t = h.innerText || '';
      if (/·\\s*\\d+%/.test(t)) return 'answer';  // "label · NN%" (the model count is a caption below)
      if (/Too quiet|Listening/.test(t)) return 'quiet';
    }
    return null;
  };
  let last = null;
  new MutationObserver(() => {
    const s = state();
    if (s && s !== last) { last = s; window.__serStates.push([performance.timeOrigin + performance.now(), s]); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def fake_mic_wav(silence_s: float, speech_s: float) -> Path:
    """Silence then speech (or a voiced tone), 48 kHz mono 16-bit."""
    import soundfile as sf

    from ser_core.audio import load_audio
    from ser_core.demo import demo_wav_bytes

    speech = load_audio(demo_wav_bytes()[0], target_sr=RATE).waveform.numpy()
    n = int(speech_s * RATE)
    speech = np.resize(speech, n) if len(speech) < n else speech[:n]
    speech = 0.5 * speech / max(1e-6, float(np.abs(speech).max()))
    x = np.concatenate([np.zeros(int(silence_s * RATE), np.float32), speech.astype(np.float32)])
    path = Path(tempfile.mkdtemp()) / "fake_mic.wav"
    sf.write(path, x, RATE, subtype="PCM_16")
    return path


def delays(onsets: list[float], states: list[tuple[float, str]]) -> tuple[list[float], int]:
    """Per onset: the first quiet -> answer change after it, if the page was quiet at the onset."""
    out, skipped = [], 0
    for t in onsets:
        before = [s for ts, s in states if ts <= t]
        after = [ts for ts, s in states if ts > t and s == "answer"]
        if not before or before[-1] != "quiet" or not after:
            skipped += 1
            continue
        out.append((after[0] - t) / 1000.0)
    return out, skipped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    ap.add_argument("--cycles", type=int, default=6, help="speech onsets to time")
    ap.add_argument("--silence", type=float, default=6.0)
    ap.add_argument("--speech", type=float, default=3.0)
    args = ap.parse_args()
    wav = fake_mic_wav(args.silence, args.speech)
    cycle = args.silence + args.speech
    from playwright.sync_api import sync_playwright

    with serve(args.checkpoints) as (url, server), sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         f"--use-file-for-fake-audio-capture={wav}",
                         "--autoplay-policy=no-user-gesture-required",
                         "--disable-features=WebRtcHideLocalIpsWithMdns"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["microphone"], origin=url)
        context.add_init_script(TAP)
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/live")
        page.get_by_text("Live microphone").first.wait_for()
        page.evaluate(WATCH)
        page.frame_locator("iframe").get_by_role("button", name="START").click()
        page.get_by_text("streamed").first.wait_for()
        time.sleep(cycle * (args.cycles + 0.5))
        onsets = page.evaluate("() => window.top.__serOnsets || []")
        states = page.evaluate("() => window.__serStates || []")
        err = page.evaluate("() => window.top.__serTapError || null")
        browser.close()
    if err:
        print(f"the microphone tap failed: {err}")
        return 1
    got, skipped = delays(onsets, states)
    print(f"fake microphone: {args.silence:g} s silence + {args.speech:g} s speech, looped; "
          f"{len(onsets)} onsets, {len(got)} timed, {skipped} not countable")
    if got:
        print("sound onset -> answer on screen (s): " + ", ".join(f"{d:.2f}" for d in got))
        print(f"median {statistics.median(got):.2f} s, max {max(got):.2f} s")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    return 0 if got else 1


if __name__ == "__main__":
    raise SystemExit(main())
