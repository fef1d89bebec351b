"""Features (teaching): seed 000 §3.1.1 step by step on the current clip, then the images of
seed 002 and the two resolutions of seed 004. Every number drawn here comes from
``ser_core.features`` (the chain's intermediates or a registered feature kind)."""

import streamlit as st

from ser_core.errors import SerError
from ser_core.features import functional as FF
from ser_core.features.chain import feature_chain
from ser_core.features.mel_pair import mel_pair_steps
from ser_core.features.spectral_images import spectral_image_steps
from ui import figures
from ui.widgets import require_clip

st.title("How speech becomes features")
st.caption("The chain of seed 000 §3.1.1, computed on your clip with the parameters below. "
           "Change a parameter and every step after it changes: that is the point.")

clip = require_clip()
if clip is None:
    st.stop()
audio = clip.audio
sr = audio.sample_rate

with st.container(border=True):
    st.markdown("**Parameters** (seed 000's values are the defaults)")
    c = st.columns(4)
    zscore = c[0].toggle("z-score the signal first", value=True, key="f_zscore")
    coeff = c[0].slider("pre-emphasis a", 0.0, 0.99, 0.97, 0.01, key="f_coeff")
    win_ms = c[1].slider("frame length (ms)", 5, 100, 25, 1, key="f_win")
    hop_ms = c[1].slider("frame shift (ms)", 2, 50, 10, 1, key="f_hop")
    window = c[2].selectbox("window", FF.WINDOWS, key="f_window")
    nfft_choice = c[2].selectbox("n_fft", ["next power of two", 256, 512, 1024, 2048, 4096],
                                 key="f_nfft")
    n_mels = c[3].slider("mel filters", 8, 128, 40, 1, key="f_mels")
    n_mfcc = c[3].slider("MFCCs", 1, 128, 40, 1, key="f_mfcc",
                         help="At most the number of mel filters.")
    delta = c[2].radio("delta", ["difference", "regression"], horizontal=True, key="f_delta",
                       help="difference: the seed's eqs. 7-8; regression: HTK/librosa over 5 frames")
    f_max = c[1].select_slider("mel f_max (Hz)", [2000, 4000, 5500, 8000], value=min(8000, sr // 2),
                               key="f_fmax", help="The band-limited corpora stop at 5.5 kHz.")

params = dict(zscore=zscore, preemphasis=coeff, win_length_s=win_ms / 1000, hop_s=hop_ms / 1000,
              window=window, n_fft=None if isinstance(nfft_choice, str) else int(nfft_choice),
              n_mels=n_mels, n_mfcc=min(n_mfcc, n_mels), delta=delta, f_max=float(f_max))
try:
    ch = feature_chain(audio.waveform, sr, **params)
except SerError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
if n_mfcc > n_mels:
    st.caption(f"MFCCs capped at {n_mels} (there are only {n_mels} mel filters).")

CHART = {"displayModeBar": False}
times = ch.frame_times()
loudest = int(ch.log_mel.mean(0).argmax())  # the default frame to look at: voiced, not silence

# 1 — z-score and pre-emphasis -------------------------------------------------------------------
st.header("1 · Normalise and pre-emphasise", divider="gray")
st.markdown("The signal is scaled to zero mean and unit variance, then a first-order high-pass "
            "filter lifts the high frequencies that the voice radiates weakly (seed 000 Figs. 3-4).")
st.latex(r"\hat x[n] = \frac{x[n]-\mu}{\sigma}, \qquad y[n] = \hat x[n] - a\,\hat x[n-1]"
         rf"\qquad (a = {coeff:.2f})")
a, b = st.columns(2)
a.plotly_chart(figures.waveform(ch.zscored, sr, "before pre-emphasis", height=200), config=CHART)
b.plotly_chart(figures.waveform(ch.preemphasized, sr, "after pre-emphasis", color="#d62728",
                                height=200), config=CHART)
dur = audio.duration_s
t0 = st.slider("Zoom: 20 ms starting at (s)", 0.0, max(0.0, round(dur - 0.02, 2)),
               round(min(max(0.0, float(times[loudest]) - 0.01), max(0.0, dur - 0.02)), 2), 0.01,
               key="f_zoom")
i0, i1 = int(t0 * sr), int(t0 * sr) + int(0.02 * sr)
zoom_t = [t0 + k / sr for k in range(i1 - i0)]
st.plotly_chart(figures.overlay([("before", ch.zscored[i0:i1], "#1f77b4"),
                                 ("after", ch.preemphasized[i0:i1], "#d62728")], x=zoom_t,
                                title="20 ms zoom: the fast wiggles grow, the slow swell shrinks",
                                xaxis="time (s)", height=240), config=CHART)

# 2 — framing and window ---------------------------------------------------------------------------
st.header("2 · Frames and the window", divider="gray")
st.markdown(f"The signal is cut into overlapping frames of **{ch.win_length} samples** "
            f"({win_ms} ms) every **{ch.hop_length} samples** ({hop_ms} ms): "
            f"**{ch.n_frames} frames**. Each frame is multiplied by a window that fades its edges "
            "so the DFT does not see a jump.")
formulas = {
    "hamming": r"w[n] = 0.54 - 0.46\cos\!\left(\tfrac{2\pi n}{N-1}\right)",
    "hann": r"w[n] = 0.5 - 0.5\cos\!\left(\tfrac{2\pi n}{N-1}\right)",
    "blackman": r"w[n] = 0.42 - 0.5\cos\!\left(\tfrac{2\pi n}{N-1}\right) + 0.08\cos\!\left(\tfrac{4\pi n}{N-1}\right)",
    "bartlett": r"w[n] = 1 - \left|\tfrac{2n}{N-1} - 1\right|",
    "rectangular": r"w[n] = 1",
}
st.latex(formulas.get(window, formulas["hamming"]) + rf",\quad 0 \le n < N = {ch.win_length}")
frame_idx = st.slider("Frame", 0, ch.n_frames - 1, min(loudest, ch.n_frames - 1), key="f_frame")
ft = float(times[frame_idx])
st.caption(f"Frame {frame_idx} is centred at {ft:.3f} s.")
a, b = st.columns(2)
a.plotly_chart(figures.overlay([("frame", ch.frames[frame_idx], "#1f77b4"),
                                ("window (scaled)", ch.window * float(ch.frames[frame_idx].abs().max()),
                                 "#999")], title="one frame, before the window",
                               xaxis="sample n", height=240), config=CHART)
b.plotly_chart(figures.overlay([("windowed frame", ch.windowed[frame_idx], "#d62728")],
                               title="after the window", xaxis="sample n", height=240), config=CHART)

# 3 — spectrum ---------------------------------------------------------------------------------------
st.header("3 · Power spectrum", divider="gray")
st.latex(rf"P[k] = \Big|\sum_{{n=0}}^{{N_{{fft}}-1}} w[n]\,y[n]\,e^{{-j 2\pi k n / N_{{fft}}}}\Big|^2,"
         rf"\quad N_{{fft}} = {ch.n_fft}")
freqs = ch.fft_frequencies()
spec_db = FF.power_to_db(ch.spectrum, ref=1.0, top_db=100.0)
a, b = st.columns(2)
a.plotly_chart(figures.overlay([("P[k] (dB)", spec_db[:, frame_idx], "#2ca02c")], x=freqs,
                               title=f"spectrum of frame {frame_idx}", xaxis="frequency (Hz)",
                               yaxis="dB", height=260), config=CHART)
b.plotly_chart(figures.heatmap(spec_db, x=times, y=freqs, title="all frames: the spectrogram (dB)",
                               yaxis="frequency (Hz)", height=260, colorbar="dB"), config=CHART)

# 4 — mel filterbank ---------------------------------------------------------------------------------
st.header("4 · Mel filterbank", divider="gray")
st.markdown(f"**{n_mels} triangular filters**, equally spaced on the mel scale (which follows "
            "how we hear pitch), summarise the spectrum into bands (seed 000 Fig. 6; eq. 2 with "
            "its missing log10 restored).")
st.latex(r"B(f) = 2595\,\log_{10}\!\left(1 + \frac{f}{700}\right),\qquad "
         r"H_m[k] = \begin{cases}\frac{k - f[m-1]}{f[m]-f[m-1]} & f[m-1]\le k\le f[m]\\"
         r"\frac{f[m+1]-k}{f[m+1]-f[m]} & f[m]\le k\le f[m+1]\\ 0 & \text{otherwise}\end{cases}")
st.plotly_chart(figures.filterbank(ch.filterbank, freqs, f"{n_mels} mel filters up to {f_max} Hz"),
                config=CHART)

# 5 — log-mel ---------------------------------------------------------------------------------------
st.header("5 · Log-mel spectrogram", divider="gray")
st.latex(r"S_t[m] = \ln\!\Big(\sum_k H_m[k]\,P_t[k]\Big)")
st.plotly_chart(figures.heatmap(ch.log_mel, x=times, title="log-mel (what ACRNN sees as channel 1)",
                                yaxis="mel band", height=280, colorbar="ln"), config=CHART)

# 6 — deltas ------------------------------------------------------------------------------------------
st.header("6 · Delta and delta-delta", divider="gray")
if delta == "difference":
    st.latex(r"\Delta S_t = S_t - S_{t-1},\qquad \Delta^2 S_t = \Delta S_t - \Delta S_{t-1}"
             r"\quad\text{(seed 000 eqs. 7-8)}")
else:
    st.latex(r"\Delta S_t = \frac{\sum_{n=1}^{2} n\,(S_{t+n} - S_{t-n})}{2\sum_{n=1}^{2} n^2},"
             r"\qquad \Delta^2 S_t = \Delta(\Delta S)_t")
a, b = st.columns(2)
a.plotly_chart(figures.heatmap(ch.delta, x=times, title="delta: how each band changes",
                               yaxis="mel band", height=260, zmid=0.0, robust=True), config=CHART)
b.plotly_chart(figures.heatmap(ch.delta_delta, x=times, title="delta-delta: how the change changes",
                               yaxis="mel band", height=260, zmid=0.0, robust=True), config=CHART)

# 7 — MFCC ---------------------------------------------------------------------------------------------
st.header("7 · MFCC", divider="gray")
st.markdown("A DCT of each log-mel frame decorrelates the bands; the first coefficients "
            "describe the spectral envelope (the vocal tract), the later ones finer detail "
            "(seed 000 §3.2.1, GLAM's input).")
st.latex(r"c_t[i] = \sqrt{\tfrac{2}{M}}\sum_{m=1}^{M} S_t[m]\cos\!\Big(\frac{\pi i\,(m - \tfrac12)}{M}\Big),"
         rf"\quad i = 0..{params['n_mfcc'] - 1}")
st.plotly_chart(figures.heatmap(ch.mfcc, x=times, title=f"{params['n_mfcc']} MFCCs",
                                yaxis="coefficient", height=260, zmid=0.0, robust=True), config=CHART)

# seed 002 — spectral images -----------------------------------------------------------------------------
st.header("Seed 002 · Spectral images for 2-D CNNs", divider="gray")
st.markdown("BulbaNET, CharmaNET and SquirtleNET see a clip as a small square picture: "
            "pre-emphasis, trim the leading and trailing zeros, a spectral feature (mel "
            "spectrogram, STFT chromagram or MFCC), amplitude to dB relative to the loudest "
            "value, then a bilinear resize to N x N (the seed's Fig. 1; 60 x 60 mel is its best).")
c1, c2 = st.columns(2)
source = c1.radio("Feature", ["mel", "chroma", "mfcc"], horizontal=True, key="f_img_source")
size = c2.select_slider("N", [30, 50, 60, 80, 128], value=60, key="f_size")
if source == "chroma":
    st.latex(r"\text{chroma}_c[t] = \sum_k C_c[k]\,P_t[k]\;(12\text{ pitch classes}),\qquad "
             r"\text{dB} = 20\log_{10}\frac{\text{chroma}}{\max\,\text{chroma}}")
elif source == "mel":
    st.latex(r"\text{dB} = 10\log_{10}\frac{\sum_k H_m[k] P_t[k]}{\max}\quad(\text{floor } -80\text{ dB})")
else:
    st.latex(r"\text{MFCC} = \mathrm{DCT}\big(10\log_{10} \text{mel}\big)\quad\text{(already logarithmic: no dB step)}")
img = spectral_image_steps(audio.waveform, sr, source=source, size=int(size))
st.caption(f"Trimming the zeros kept {img.trimmed.numel() / sr:.2f} s of {img.preemphasized.numel() / sr:.2f} s.")
a, b, c = st.columns([2, 2, 1.3])
a.plotly_chart(figures.heatmap(img.feature, title=f"{source}" + (" (power)" if source == "mel" else ""),
                               xaxis="frame", yaxis="bin", height=280, robust=True), config=CHART)
b.plotly_chart(figures.heatmap(img.db, title="in dB" if source != "mfcc" else "MFCC (no dB step)",
                               xaxis="frame", yaxis="bin", height=280, colorbar="dB" if source != "mfcc" else ""),
               config=CHART)
c.plotly_chart(figures.heatmap(img.image, title=f"resized to {size}x{size}", xaxis="", yaxis="",
                               height=280), config=CHART)

# seed 004 — two resolutions -----------------------------------------------------------------------------
st.header("Seed 004 · Two resolutions", divider="gray")
st.markdown("The dual-level model looks at the same clip through two mel-spectrograms of the raw "
            "waveform: a short window (n_fft 256: sharp in time, blurry in frequency) and a long "
            "one (n_fft 512: the reverse); hop = 50 % and mel bands = 25 % of n_fft. Each is then "
            "stretched or squeezed along time by nearest-neighbour interpolation to a fixed "
            "length (the training set's median) and logged.")
natural = mel_pair_steps(audio.waveform, sr)
c1, c2 = st.columns(2)
t_short = c1.slider("frames (n_fft 256)", 50, 1000, int(natural.mel["short"].shape[-1]), key="f_t_short")
t_long = c2.slider("frames (n_fft 512)", 25, 500, int(natural.mel["long"].shape[-1]), key="f_t_long")
pair = mel_pair_steps(audio.waveform, sr, n_frames_short=t_short, n_frames_long=t_long)
a, b = st.columns(2)
for col, r in ((a, "short"), (b, "long")):
    n_fft, hop, n_mels = pair.sizes[r]
    m = pair.log[r]
    col.plotly_chart(figures.heatmap(m, title=f"n_fft {n_fft}, hop {hop}: {n_mels} bands x {m.shape[-1]} frames "
                                              f"(natural {pair.mel[r].shape[-1]})",
                                     xaxis="frame", yaxis="mel band", height=300, colorbar="ln"),
                     config=CHART)
