"""The contract between training and inference: what a checkpoint is and how its model is fed.

* :mod:`~ser_core.checkpoint.meta` — :class:`CheckpointMeta`, the typed, versioned content of
  ``config.json`` (model, labels, input spec, feature config, normalisation, provenance).
* :mod:`~ser_core.checkpoint.format` — the directory format: ``model.safetensors`` +
  ``config.json``, atomic writes, loading without unpickling.
* :mod:`~ser_core.checkpoint.inputs` — waveform segments to model input
  (:func:`prepare_batch`: features, then the stored normalisation), used by the trainer and
  by inference alike.

This package sits above ``models`` and ``features`` (it rebuilds a model and computes its
features) and below ``training`` and ``inference``, which both import it and never each other.
"""

from ser_core.checkpoint.format import (CONFIG, FORMAT_VERSION, WEIGHTS, find_checkpoints,
                                        load_checkpoint, read_meta, save_checkpoint)
from ser_core.checkpoint.inputs import (RunningMoments, apply_normalization, featurize,
                                        prepare_batch, segment_for_model)
from ser_core.checkpoint.meta import CheckpointMeta, FeatureMeta

__all__ = ["CONFIG", "FORMAT_VERSION", "WEIGHTS", "CheckpointMeta", "FeatureMeta",
           "RunningMoments", "apply_normalization", "featurize", "find_checkpoints",
           "load_checkpoint", "prepare_batch", "read_meta", "save_checkpoint",
           "segment_for_model"]
