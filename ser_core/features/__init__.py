"""Feature extraction: pure-torch functions, frozen configs, the teaching chain, feature kinds.

* :mod:`~ser_core.features.functional` – batched torch functions (z-score ... MFCC, chroma,
  dB, resizing, time interpolation);
* :mod:`~ser_core.features.configs` – frozen dataclass configs with the seeds' defaults;
* :mod:`~ser_core.features.chain` – the seed 000 chain with every intermediate
  (:func:`feature_chain`), which the app draws;
* :mod:`~ser_core.features.spectral_images`, :mod:`~ser_core.features.mel_pair` – seed 002's
  N x N images and seed 004's two resolutions, step by step (for the app);
* :mod:`~ser_core.features.pipeline` – the registry of feature kinds models name
  (:func:`extract`, :func:`feature_config`, :data:`FEATURE_KINDS`);
* :mod:`~ser_core.features.segments` – segmenting and posterior pooling.
"""

from ser_core.features.chain import FeatureChain, feature_chain
from ser_core.features.mel_pair import MelPairSteps, mel_pair_steps
from ser_core.features.pipeline import FEATURE_KINDS, extract, feature_config
from ser_core.features.spectral_images import SpectralImageSteps, spectral_image_steps

__all__ = ["FEATURE_KINDS", "FeatureChain", "MelPairSteps", "SpectralImageSteps", "extract",
           "feature_chain", "feature_config", "mel_pair_steps", "spectral_image_steps"]
