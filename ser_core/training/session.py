"""A protocol run's session: distributed setup, seeds, run folder, progress, waveform bank.

Every protocol (:mod:`~ser_core.training.protocols`, :mod:`~ser_core.training.finetune`)
runs inside :func:`in_session`, which records a failure or a cancel in the run folder.
"""

from __future__ import annotations

import time

import torch

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.training.datasets import Item, SegmentBank, load_waveforms
from ser_core.training.distributed import (init_distributed, seed_everything,
                                           shutdown_distributed)
from ser_core.training.progress import Progress
from ser_core.training.rundir import RunDir


def _bank_device(n_samples: int, device: torch.device) -> torch.device:
    if device.type != "cuda":
        return device
    free = torch.cuda.mem_get_info(device)[0]
    return device if n_samples * 4 < 0.25 * free else torch.device("cpu")


class Session:
    """What every protocol needs: distributed setup, run dir, progress, data, bank."""

    def __init__(self, opts) -> None:  # a TrainOptions
        self.opts = opts
        sigterm_as_interrupt()
        self.dist, self.device = init_distributed(opts.device)
        seed_everything(opts.seed, opts.deterministic)
        self.run = RunDir(opts.out, active=self.dist.is_main)
        self.progress = Progress(self.run.progress_path, active=self.dist.is_main,
                                 quiet=opts.quiet)
        self.sample_rate = DEFAULT_SAMPLE_RATE

    def make_bank(self, items: list[Item], spec, trim: bool = False) -> SegmentBank:
        t0 = time.time()
        waves = load_waveforms([it.path for it in items], self.sample_rate)
        if trim:  # the recipe's vad_trim: speech only, as the inference service cuts it
            from ser_core.vad import trim_waveforms

            waves = trim_waveforms(waves, self.sample_rate)
        total = sum(int(w.shape[0]) for w in waves)
        bank = SegmentBank(waves, [it.y for it in items], self.sample_rate, spec.segment_s,
                           spec.hop_s, device=_bank_device(total, self.device))
        self.progress.line(f"loaded {len(items)} utterances ({total / self.sample_rate / 60:.1f} "
                           f"min, {bank.n_segments} segments) in {time.time() - t0:.1f} s")
        return bank

    def close(self) -> None:
        self.progress.close()
        shutdown_distributed()


def sigterm_as_interrupt() -> None:
    """``jobs cancel`` sends SIGTERM: turn it into KeyboardInterrupt so the run directory is
    closed properly (``run.json`` status ``cancelled``, an ``error`` progress line)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        # once: a cancel can deliver SIGTERM twice (the job's supervisor and `jobs cancel`
        # both signal the group), and a second KeyboardInterrupt raised while the first is
        # being recorded would break off that clean-up (a traceback or exit 143 instead of
        # the CLI's "interrupted", 130);
        # a command that hangs still gets SIGKILL after the grace period
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        pass


def _fail(s: "Session", exc: BaseException) -> None:
    status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    message = "cancelled" if status == "cancelled" else f"{type(exc).__name__}: {exc}"
    s.progress.emit("error", message=message)
    s.run.finish(status, error=message)


def in_session(opts, body) -> dict:
    """Run ``body(session, opts)`` in a run session; a failure is recorded in the run folder."""
    s = Session(opts)
    try:
        return body(s, opts)
    except BaseException as exc:
        _fail(s, exc)
        raise
    finally:
        s.close()
