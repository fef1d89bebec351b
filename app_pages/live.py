"""Live: the browser microphone streamed over WebRTC, a prediction about once a second."""

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from ser_core.audio import to_wav_bytes
from ser_core.live import LiveAnalyzer, pump
from ui import figures, prob_html
from ui.my_voice import active_reference, my_voice_panel
from ui.widgets import accept_clip, icon, installed_models

st.title("Live microphone")
st.caption("Press **START**, allow the microphone and speak. The models listen to the last few "
           "seconds and update about once a second. Audio stays on this machine: the stream "
           "goes from your browser to this server only (no STUN/TURN servers).")

svc = installed_models(stop_if_none=False)

c1, c2 = st.columns(2)
window_s = c1.slider("Window (seconds analysed)", 1.0, 6.0, 3.0, 0.5, key="live_window")
interval_s = c2.slider("Update every (seconds)", 0.5, 3.0, 1.0, 0.25, key="live_interval")
my_voice_panel(key="live_mv")

try:
    ctx = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDONLY,
        audio_receiver_size=1024,
        rtc_configuration={"iceServers": []},
        media_stream_constraints={"audio": True, "video": False},
    )
except Exception as exc:  # no live server runtime (e.g. a script test) or no WebRTC stack
    st.warning("Live streaming is not available here: it needs the Streamlit server and a "
               f"browser ({type(exc).__name__}). Use Classify's microphone recorder instead.",
               icon=":material/mic_off:")
    st.stop()

status = st.empty()
top = st.empty()
col_bars, col_mel = st.columns([2, 3], gap="large")
bars = col_bars.empty()
picture = col_mel.empty()
history = st.empty()

if not ctx.state.playing:
    status.info("Stopped. Press START above to stream your microphone.", icon=":material/mic_off:")
    last = st.session_state.get("live_analyzer")
    if last is not None and last.buffer.seconds_available >= 0.5:
        held = last.buffer.seconds_available
        if st.button(f"Keep the last {held:.0f} s of the stream as the current clip",
                     icon=":material/save:", key="live_keep"):
            accept_clip(to_wav_bytes(last.buffer.latest(), last.sample_rate), "live.wav", "live",
                        f"live:{last.buffer.total_seconds}")
            st.success("Kept: open Classify, Features or Explain to look at it.")
    st.stop()

status.info("Connecting… waiting for the first audio frames.", icon=":material/hourglass_top:")
analyzer = LiveAnalyzer(svc, window_s=window_s, interval_s=interval_s)
analyzer.reference = active_reference()  # "my voice", set here or on Classify
st.session_state["live_analyzer"] = analyzer  # its buffer outlives the stream (keep as clip)


def receiver_get(timeout):
    return ctx.audio_receiver.get_frames(timeout=timeout)


for n, update in enumerate(pump(receiver_get, analyzer, lambda: ctx.state.playing, timeout_s=3.0)):
    level = f"{update.level_dbfs:.0f} dBFS" if update.level_dbfs > -200 else "silence"
    status.success(f"Listening · {update.at_s:.0f} s streamed · level {level}",
                   icon=":material/graphic_eq:")
    pred = update.prediction
    if pred is not None and pred.consensus is not None:
        cons = pred.consensus
        unsure = " · not sure" if cons.uncertain else ""
        top.markdown(f"### {icon(cons.top)} {cons.top} · {cons.top_prob:.0%}{unsure}  "
                     f"<small>({cons.votes.get(cons.top, 0)} of {len(pred.models)} models)</small>",
                     unsafe_allow_html=True)
        bars.html(prob_html.bars_block(cons.labels, cons.probs))
    else:
        top.markdown(f"### … {update.reason}")
    if update.log_mel is not None:
        lm = update.log_mel
        times = [update.at_s - update.window.size / update.sample_rate + 0.01 * i for i in range(lm.shape[-1])]
        picture.plotly_chart(figures.heatmap(lm, x=times, title="Live log-mel (last window)",
                                             yaxis="mel band", height=260, colorbar="ln"),
                             config={"displayModeBar": False}, key=f"live_mel_{n}")
    if analyzer.history:
        t, labs, probs = zip(*analyzer.history)
        history.plotly_chart(figures.overlay([("consensus top probability", probs, "#444")], x=t,
                                             title="History: " + " → ".join(labs[-8:]),
                                             xaxis="stream time (s)", yaxis="probability",
                                             height=220, mode="lines+markers"),
                             config={"displayModeBar": False}, key=f"live_hist_{n}")

status.info("The stream stopped. Press START to listen again.", icon=":material/mic_off:")
