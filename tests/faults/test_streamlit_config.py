"""The shipped ``.streamlit/config.toml``: local only, no telemetry, no tracebacks in the
browser, an upload cap that fits the audio limits, and a start-up that asks no outside
service for this machine's address."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".streamlit" / "config.toml"


def test_shipped_settings():
    cfg = tomllib.loads(CONFIG.read_text())
    assert cfg["server"]["address"] == "localhost"
    assert cfg["server"]["headless"] is True
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["client"]["showErrorDetails"] == "none"
    from ser_core.audio import AudioLimits

    # a 10-minute (the audio limit) 48 kHz stereo 24-bit WAV fits; the cap stays near it
    longest_wav_mb = AudioLimits().max_duration_s * 48000 * 2 * 3 / 1e6
    assert longest_wav_mb <= cfg["server"]["maxUploadSize"] <= 2 * longest_wav_mb


def test_streamlit_reads_it_and_start_up_asks_nobody_for_the_external_ip():
    """Streamlit's own config loader in the repository, and its start-up banner with the
    function that would call checkip.amazonaws.com replaced by one that fails the test."""
    code = r"""
import sys
from streamlit import config, net_util
config.get_config_options(force_reparse=True)
assert config.get_option("server.address") == "localhost", config.get_option("server.address")
assert config.get_option("browser.gatherUsageStats") is False
assert config.get_option("client.showErrorDetails") == "none"
def boom():
    print("ASKED-FOR-EXTERNAL-IP"); sys.exit(3)
net_util.get_external_ip = boom
from streamlit.web import bootstrap
bootstrap._print_url(False)
print("OK")
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    assert "ASKED-FOR-EXTERNAL-IP" not in res.stdout
    assert "External URL" not in res.stdout
