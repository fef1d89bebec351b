"""The Train page's form → the job's command: the input path and augmentation options."""

from __future__ import annotations

import argparse

from ser_core.cli import build_parser
from ser_core.cli import train as train_cli
from ser_core.cli import _training_args as A
from ser_core.options import parse_settings
from ui import train_form as TF


def _request(job_type: str = "Cross-validation", **kw) -> TF.TrainRequest:
    return TF.TrainRequest(job_type=job_type, corpora=["emodb"], roots=["/data/emodb"], model="glam",
                           checkpoint="/ckpt/glam", **kw)


def _parsed(job) -> argparse.Namespace:
    """The job's command line as ``python -m ser_core`` parses it."""
    return build_parser().parse_args([job.kind, *job.argv(), "--out", "/tmp/x"])


def test_defaults_are_the_shipped_input_path():
    job = _request().job()
    args = _parsed(job)
    assert args.vad_trim is True and args.augment is None
    assert parse_settings(args.feature_set, "--feature-set") == {"lowpass_hz": 5500.0,
                                                                "gain_normalize": True}
    opts = train_cli.build_options(args)  # the command itself takes them
    assert opts.feature_overrides == {"lowpass_hz": 5500.0, "gain_normalize": True}
    assert opts.recipe_overrides["vad_trim"] is True


def test_every_switch_reaches_the_command():
    job = _request(vad_trim=False, lowpass=False, gain_normalize=False, center_time=True,
                   augment_room=True, spec_mask=0.15, balance_corpora=True).job()
    args = _parsed(job)
    assert not args.vad_trim and args.augment == "room"
    assert A.recipe_overrides(args)["balance"] == "corpus_sampler"
    assert parse_settings(args.feature_set, "--feature-set") == {"center_time": True}
    assert A.recipe_overrides(args)["spec_mask"] == 0.15
    none = _request(vad_trim=False, lowpass=False, gain_normalize=False).job()
    assert none.options == ()


def test_fine_tuning_keeps_the_checkpoints_features():
    job = _request("Fine-tune a checkpoint", center_time=True, spec_mask=0.1,
                   balance_corpora=True).job()
    assert job.kind == "finetune" and "--feature-set" not in job.options
    assert job.options == ("--vad-trim", "--set", "spec_mask=0.1", "--balance", "corpus_sampler")
