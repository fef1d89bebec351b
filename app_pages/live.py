"""Live: the browser microphone streamed over WebRTC, a prediction about once a second."""

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from ser_core.audio import to_wav_bytes
from ser_core.live import LiveAnalyzer, pump
from ui import figures, prob_html
from ui.my_voice import active_reference, my_voice_panel
from ui.widgets import accept_clip, icon, installed_models, md_escape

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


for update in pump(receiver_get, analyzer, lambda: ctx.state.playing, timeout_s=3.0):
    level = f"{update.level_dbfs:.0f} dBFS" if update.level_dbfs > -200 else "silence"
    status.success(f"Listening · {update.at_s:.0f} s streamed · level {level}",
                   icon=":material/graphic_eq:")
    pred = update.prediction
    if pred is not None and pred.consensus is not None:
        cons = pred.consensus
        unsure = " · not sure" if cons.uncertain else ""
        with top.container():  # labels can come from folder names: plain text, no HTML
            st.markdown(f"### {icon(cons.top)} {md_escape(cons.top)} · {cons.top_prob:.0%}{unsure}")
            st.caption(f"({cons.votes.get(cons.top, 0)} of {len(pred.models)} models)")
        bars.html(prob_html.bars_block(cons.labels, cons.probs))
    else:
        top.markdown(f"### … {md_escape(update.reason)}")
    # an image and HTML, redrawn every update: a new Plotly figure each second cost the browser
    if update.log_mel is not None:
        seconds = update.window.size / update.sample_rate
        picture.image(figures.heatmap_image(update.log_mel), width="stretch",
                      caption=f"Live log-mel (last window): {update.log_mel.shape[0]} mel bands, "
                              f"low at the bottom, {seconds:.1f} s up to {update.at_s:.0f} s")
    if analyzer.history:
        with history.container():
            st.caption("History, oldest first (each answer with its probability)")
            st.html(prob_html.history(analyzer.history))

status.info("The stream stopped. Press START to listen again.", icon=":material/mic_off:")
