"""Audio input: decode, validate, mix down, resample.

Decoding uses soundfile (libsndfile: WAV, FLAC, OGG/Vorbis/Opus, MP3 where the bundled
libsndfile supports it); resampling uses ``torchaudio.functional.resample``. Everything a
model or a feature sees is a mono float32 ``torch.Tensor`` of shape ``(time,)`` at
``target_sr`` (16 kHz by default).

Validation happens before any heavy work: the header is inspected with ``soundfile.info``
first, so a file declaring hours of audio is refused without being decoded. Every refusal is
an :class:`~ser_core.errors.AudioError` with a sentence a person can act on.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np
import soundfile as sf

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.audio_blocks import BLOCK, BlockResampler, mono_blocks
from ser_core.errors import AudioError

if TYPE_CHECKING:  # torch loads on first decode, so a header check stays light
    import torch

AudioSource = Union[str, Path, bytes, bytearray, BinaryIO]

#: Peak amplitude (full scale = 1.0) under which a clip counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4
#: Sample rates the lab resamples to (and checkpoints may declare), Hz.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 192_000


def check_sample_rate(rate, what: str = "sample rate") -> int:
    """``rate`` as an int when it is a whole number of Hz in the supported range; else
    :class:`~ser_core.errors.ConfigError`."""
    from ser_core.errors import ConfigError

    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != int(rate) \
            or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ConfigError(f"{what} must be a whole number of Hz from {MIN_SAMPLE_RATE} to "
                          f"{MAX_SAMPLE_RATE}, not {rate}.")
    return int(rate)


@dataclass(frozen=True)
class AudioLimits:
    """What the audio layer accepts. Durations in seconds."""

    min_duration_s: float = 0.25
    max_duration_s: float = 600.0
    #: frames x channels the decoder may produce (10 min of 96 kHz stereo); refused from the
    #: header, so a small file that decompresses to gigabytes is never decoded
    max_decoded_samples: int = 600 * 96_000 * 2


@dataclass(frozen=True)
class Audio:
    """A decoded, validated clip: mono float32 ``waveform`` of shape ``(time,)``."""

    waveform: "torch.Tensor"
    sample_rate: int
    original_sample_rate: int
    original_channels: int
    name: str = ""

    @property
    def duration_s(self) -> float:
        return self.waveform.shape[-1] / float(self.sample_rate)


def _describe(source: AudioSource) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return getattr(source, "name", None) or "the audio"


def _open(source: AudioSource):
    """Return something soundfile can read, and a display name."""
    name = _describe(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"{path} does not exist.")
        if path.is_dir():
            raise AudioError(f"{path} is a folder, not an audio file.")
        if path.stat().st_size == 0:
            raise AudioError(f"{name} is empty (0 bytes).")
        return str(path), name
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise AudioError("The audio is empty (0 bytes).")
        return io.BytesIO(bytes(source)), name
    data = source.read()
    if not data:
        raise AudioError(f"{name} is empty (0 bytes).")
    return io.BytesIO(data), name


def _rewind(handle) -> None:
    if hasattr(handle, "seek"):
        handle.seek(0)


def inspect(source: AudioSource, limits: AudioLimits = AudioLimits()) -> sf._SoundFileInfo:
    """Read and check only the header: format, rate, channels, declared length."""
    handle, name = _open(source)
    return _check_header(handle, name, limits)


def _check_header(handle, name: str, limits: AudioLimits):
    try:
        info = sf.info(handle)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(
            f"{name} is not an audio file this lab can read (WAV, FLAC, OGG, MP3): "
            f"{_reason(exc, handle, name)}."
        ) from None
    finally:
        _rewind(handle)
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError(f"{name} has an invalid header (rate {info.samplerate} Hz, "
                         f"{info.channels} channels).")
    if info.frames <= 0:
        raise AudioError(f"{name} contains no audio samples.")
    _check_declared_length(info, name)
    declared = info.frames / info.samplerate
    if declared > limits.max_duration_s:
        raise AudioError(
            f"{name} is {declared / 60:.2f} min long; the limit is "
            f"{limits.max_duration_s / 60:g} min. Cut it shorter and try again."
        )
    values = info.frames * info.channels
    if values > limits.max_decoded_samples:
        raise AudioError(
            f"{name} would decode to {values / 1e6:.0f} million samples ({declared:.0f} s "
            f"x {info.channels} channels x {info.samplerate / 1000:g} kHz); the limit is "
            f"{limits.max_decoded_samples / 1e6:.0f} million (10 min of 96 kHz stereo). Mix it "
            f"down to mono or resample it to 48 kHz first."
        )
    return info


_HANDLE_REPR = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


def _reason(exc: BaseException, handle, name: str) -> str:
    """libsndfile's message as part of a sentence: the file's name instead of a Python
    object's repr, and no final full stop (the caller's sentence ends it)."""
    text = _HANDLE_REPR.sub(name, str(exc)).replace(repr(handle), name)
    return text.strip().rstrip(".") or type(exc).__name__


#: WAV data sizes that streaming writers put in the header before they know the length.
_STREAMING_PLACEHOLDERS = {0xFFFFFFFF, 0x7FFFFFFF}
_DATA_SIZE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _human_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def _check_declared_length(info, name: str) -> None:
    """Refuse a WAV whose header declares more data than the file holds (truncated, or a
    bogus huge length). libsndfile reads what is there and notes ``data : N (should be M)``."""
    match = _DATA_SIZE.search(getattr(info, "extra_info", "") or "")
    if not match:
        return
    declared, actual = int(match.group(1)), int(match.group(2))
    if declared in _STREAMING_PLACEHOLDERS or actual <= 0:
        return
    if declared - actual <= max(64, actual // 100):  # a missing pad byte or a few samples
        return
    holds = info.frames / info.samplerate
    raise AudioError(
        f"{name} is truncated or corrupt: its header declares "
        f"{_human_duration(holds * declared / actual)} of audio but the file holds only "
        f"{_human_duration(holds)}."
    )


def load_audio(
    source: AudioSource,
    target_sr: int | None = DEFAULT_SAMPLE_RATE,
    limits: AudioLimits = AudioLimits(),
) -> Audio:
    """Decode ``source`` (path, bytes or binary file), validate, down-mix, resample.

    ``target_sr=None`` keeps the file's own rate. Raises :class:`AudioError` for any input
    that cannot be used, with a human sentence. Memory stays bounded: the header is checked
    first (:class:`AudioLimits`), then the file is decoded in blocks that are mixed down and
    resampled as they come (:mod:`ser_core.audio_blocks`).
    """
    if target_sr is not None:
        target_sr = check_sample_rate(target_sr, "the target sample rate")
    handle, name = _open(source)
    info = _check_header(handle, name, limits)
    sr = int(info.samplerate)
    resampler = BlockResampler(sr, target_sr) if target_sr is not None and sr != target_sr else None
    pieces, frames, peak = [], 0, 0.0
    hard_stop = int(limits.max_duration_s * sr) + BLOCK  # the header may understate the length
    try:
        with sf.SoundFile(handle) as f:
            for mono in mono_blocks(f):
                frames += len(mono)
                if frames > hard_stop:
                    raise AudioError(f"{name} holds more than {limits.max_duration_s / 60:g} min "
                                     "of audio (more than its header declares).")
                peak = max(peak, float(np.abs(mono).max(initial=0.0)))
                pieces.append(resampler.feed(mono) if resampler else mono)
    except ValueError as exc:
        if "non-finite" in str(exc):
            raise AudioError(f"{name} contains NaN or infinite sample values.") from None
        raise AudioError(f"{name} could not be decoded (truncated or corrupt?): "
                         f"{_reason(exc, handle, name)}.") from None
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{name} could not be decoded (truncated or corrupt?): "
                         f"{_reason(exc, handle, name)}.") from None
    if frames == 0:
        raise AudioError(f"{name} contains no audio samples.")
    duration = frames / sr
    if duration < limits.min_duration_s:
        length = (f"{frames} sample{'s' if frames > 1 else ''}"
                  if duration < 0.001 else f"{duration * 1000:.0f} ms")
        raise AudioError(
            f"{name} is only {length} long; at least "
            f"{limits.min_duration_s * 1000:.0f} ms of speech is needed."
        )
    if peak < SILENCE_PEAK:
        raise AudioError(f"{name} is silent (peak below -80 dBFS): there is no speech to analyse.")
    if resampler:
        pieces.append(resampler.flush())
    import torch  # only now: a file refused above never loads it

    waveform = torch.from_numpy(np.ascontiguousarray(np.concatenate(pieces), dtype=np.float32))
    return Audio(waveform=waveform, sample_rate=target_sr if resampler else sr,
                 original_sample_rate=sr, original_channels=int(info.channels), name=name)


def resample(waveform: "torch.Tensor", orig_sr: int, target_sr: int) -> "torch.Tensor":
    """Band-limited sinc resampling (torchaudio), keeps dtype float32. A long mono float32
    signal on the CPU goes through :class:`BlockResampler` (same samples, bounded memory)."""
    import torch
    import torchaudio.functional as AF

    if orig_sr == target_sr:
        return waveform
    if (waveform.dim() == 1 and waveform.numel() > 8 * BLOCK and waveform.device.type == "cpu"
            and waveform.dtype == torch.float32):
        r = BlockResampler(int(orig_sr), int(target_sr))
        x = waveform.numpy()
        parts = [r.feed(x[i:i + BLOCK]) for i in range(0, x.shape[0], BLOCK)] + [r.flush()]
        return torch.from_numpy(np.concatenate(parts))
    return AF.resample(waveform, orig_freq=int(orig_sr), new_freq=int(target_sr))


def to_wav_bytes(waveform: "torch.Tensor | np.ndarray", sample_rate: int) -> bytes:
    """Encode a mono waveform as 16-bit PCM WAV bytes (for playback widgets and tests)."""
    arr = waveform if isinstance(waveform, np.ndarray) else waveform.detach().cpu().numpy()
    buf = io.BytesIO()
    sf.write(buf, np.asarray(arr, dtype=np.float32), int(sample_rate), format="WAV",
             subtype="PCM_16")
    return buf.getvalue()
