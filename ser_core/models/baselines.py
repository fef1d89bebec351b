"""Seed 001's baselines: MLP, LSTM, CNN-BiLSTM, CNN (registered) and an SVM (scikit-learn).

Seed 001 §5.2 and Table 3 (results also in Table 4). The seed describes the baselines only in
words; where it is silent we follow the thesis' public code (``0105zhengsiqi/SERCT``,
``exps/*``) and say so.

Input: the seed feeds every baseline the same "Padded Time Series" as SERCT (§5.2: "for
simplicity and to allow for fair comparison, we use Padded Time Series as the raw input"),
so the input kind is ``"waveform"``: ``(batch, time)`` at 16 kHz, 3 s segments (48,000
samples), utterance posterior = mean over segments. ``mlp``, ``lstm`` and ``cnn`` have
layers whose size depends on the input length: they zero-pad or truncate their input to
``input_samples`` themselves (as the seed's collate function does); ``cnn_bilstm`` takes any
length.

Models (logits out; the public code's final softmax is the loss's):
    * ``mlp``: the public code uses scikit-learn's ``MLPClassifier`` with its defaults, i.e.
      one hidden layer of 100 ReLU units (L2 1e-4 belongs to the trainer). Here as a torch
      module: Linear(48000, 100) - ReLU - Linear(100, classes). 4,800,807 parameters (7).
    * ``lstm``: the public code runs ``nn.LSTM(8000, 8000)`` on one 8000-sample step and a
      32-unit dense layer (512 M parameters). We keep its 8000-sample step (0.5 s at 16 kHz;
      a 3 s segment is a sequence of 6 steps) and the 32-unit dense layer, with 128 LSTM
      cells: LSTM(8000, 128) - last hidden state - Dropout 0.5 - Linear(128, 32) - ReLU -
      Linear(32, classes).
    * ``cnn_bilstm`` (public ``TemporalCNNBiLSTM``): Conv1d(1, 32, 5) - ReLU - MaxPool(3) -
      Conv1d(32, 64, 5) - ReLU - MaxPool(3) - BiLSTM(64, 60) - Dropout 0.5 - Linear(120,
      classes). Deviation: the public code classifies ``output[:, -1]``, where the backward
      direction has seen one step only; we concatenate the final hidden states of both
      directions (forward at the last step, backward at the first).
    * ``cnn`` (public ``CNN1D``; it is also the seed's "W/o transformer" ablation row, whose
      numbers equal Table 3's CNN row): two blocks Conv1d(32 kernels, size 5, "same") - BN -
      ReLU - Dropout 0.5, flatten (32 x 48,000), Linear(1,536,000, 32) - BN - ReLU - Dropout
      0.5 - Linear(32, classes). 49,157,799 parameters (7 classes), almost all in the first
      dense layer. Deviation: the public forward applies its last dropout also in eval mode
      (``F.dropout`` without ``training``); ours is an ``nn.Dropout``.
    * :class:`SVMBaseline` (not an nn model): scikit-learn ``SVC(kernel="rbf", gamma="auto")``
      on the padded series with Platt-scaled posteriors, the public code's settings.

No attention weights: these models have no :class:`~ser_core.models.base.AttentionProbe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ser_core.models.base import InputSpec, SERModel
from ser_core.models.registry import register_model

WAVEFORM_INPUT = InputSpec(feature="waveform", params={}, segment_s=3.0, hop_s=None,
                           aggregation="mean")


def pad_or_truncate(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad at the end or cut the last axis to ``length`` (seed 001 §4.2)."""
    n = x.shape[-1]
    if n == length:
        return x
    if n > length:
        return x[..., :length]
    return nn.functional.pad(x, (0, length - n))


def _as_waveform(model: SERModel, x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 2:
        raise ValueError(f"{model.name} expects a waveform (batch, time), got {tuple(x.shape)}")
    return x


class _WaveformBaseline(SERModel):
    seed = "001"
    section = "§5.2, Table 3"
    input_spec = WAVEFORM_INPUT
    seed_num_classes = 7

    def example_input(self, batch_size: int = 2, seconds: float = 0.5,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """A random waveform batch ``(batch, seconds * 16000)`` for tests."""
        return 0.1 * torch.randn(batch_size, int(round(seconds * 16000)), generator=generator)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        raise NotImplementedError


# -- MLP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPConfig:
    """``mlp``: scikit-learn ``MLPClassifier`` defaults (one hidden layer of 100 ReLU units)."""

    input_samples: int = 48000
    hidden: tuple[int, ...] = (100,)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


@register_model
class MLPBaseline(_WaveformBaseline):
    """Multi-layer perceptron on the padded waveform."""

    name = "mlp"
    config_cls = MLPConfig

    def __init__(self, num_classes: int, config: MLPConfig) -> None:
        super().__init__(num_classes, config)
        width = config.input_samples
        self.hidden = nn.ModuleList()
        for h in config.hidden:
            self.hidden.append(nn.Sequential(nn.Linear(width, h), nn.ReLU(),
                                             nn.Dropout(config.dropout)))
            width = h
        self.classifier = self._new_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        c = self.config
        return nn.Linear(c.hidden[-1] if c.hidden else c.input_samples, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_or_truncate(_as_waveform(self, x), self.config.input_samples)
        for layer in self.hidden:
            x = layer(x)
        return self.classifier(x)

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return ([(f"hidden{i + 1}", [m]) for i, m in enumerate(self.hidden)]
                + [("classifier", [self.classifier])])


# -- LSTM -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LSTMConfig:
    """``lstm``: 8000-sample steps (public code), 128 cells, 32-unit dense layer, dropout 0.5."""

    input_samples: int = 48000
    step_samples: int = 8000
    hidden: int = 128
    fc: int = 32
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.input_samples % self.step_samples:
            raise ValueError("input_samples must be a multiple of step_samples")


@register_model
class LSTMBaseline(_WaveformBaseline):
    """LSTM over the padded waveform cut into ``step_samples``-long steps."""

    name = "lstm"
    config_cls = LSTMConfig

    def __init__(self, num_classes: int, config: LSTMConfig) -> None:
        super().__init__(num_classes, config)
        self.lstm = nn.LSTM(config.step_samples, config.hidden, batch_first=True)
        self.fc = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.fc),
                                nn.ReLU())
        self.classifier = self._new_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        return nn.Linear(self.config.fc, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        x = pad_or_truncate(_as_waveform(self, x), c.input_samples)
        steps = x.reshape(x.shape[0], c.input_samples // c.step_samples, c.step_samples)
        _, (h, _) = self.lstm(steps)
        return self.classifier(self.fc(h[-1]))

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return [("lstm", [self.lstm]), ("fc", [self.fc]), ("classifier", [self.classifier])]


# -- CNN-BiLSTM -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNBiLSTMConfig:
    """``cnn_bilstm``: the public ``TemporalCNNBiLSTM`` values."""

    conv_channels: tuple[int, int] = (32, 64)
    kernel: int = 5
    pool: int = 3
    hidden: int = 60
    dropout: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))

    @property
    def min_samples(self) -> int:
        """Shortest input giving at least one BiLSTM step."""
        n = 1
        for _ in self.conv_channels:
            n = n * self.pool + self.kernel - 1
        return n


@register_model
class CNNBiLSTMBaseline(_WaveformBaseline):
    """Temporal CNN then bidirectional LSTM on the waveform (any length)."""

    name = "cnn_bilstm"
    config_cls = CNNBiLSTMConfig

    def __init__(self, num_classes: int, config: CNNBiLSTMConfig) -> None:
        super().__init__(num_classes, config)
        self.convs = nn.ModuleList()
        in_ch = 1
        for ch in config.conv_channels:
            self.convs.append(nn.Sequential(nn.Conv1d(in_ch, ch, config.kernel), nn.ReLU(),
                                            nn.MaxPool1d(config.pool, config.pool)))
            in_ch = ch
        self.bilstm = nn.LSTM(in_ch, config.hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = self._new_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        return nn.Linear(2 * self.config.hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_waveform(self, x)
        if x.shape[-1] < self.config.min_samples:
            raise ValueError(f"{self.name} needs at least {self.config.min_samples} samples, "
                             f"got {x.shape[-1]}")
        x = x.unsqueeze(1)
        for conv in self.convs:
            x = conv(x)
        _, (h, _) = self.bilstm(x.transpose(1, 2))
        last = torch.cat((h[-2], h[-1]), dim=-1)  # forward final, backward final
        return self.classifier(self.dropout(last))

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return ([(f"conv{i + 1}", [m]) for i, m in enumerate(self.convs)]
                + [("bilstm", [self.bilstm]), ("classifier", [self.classifier])])


# -- CNN ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNConfig:
    """``cnn``: the public ``CNN1D`` values (input 3 s at 16 kHz instead of 144,000 samples)."""

    input_samples: int = 48000
    channels: int = 32
    kernels: tuple[int, ...] = (5, 5)
    hidden: int = 32
    dropout: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernels", tuple(int(k) for k in self.kernels))


@register_model
class CNNBaseline(_WaveformBaseline):
    """1-D CNN with a dense layer over the whole flattened padded waveform."""

    name = "cnn"
    config_cls = CNNConfig

    def __init__(self, num_classes: int, config: CNNConfig) -> None:
        super().__init__(num_classes, config)
        self.convs = nn.ModuleList()
        in_ch = 1
        for k in config.kernels:
            self.convs.append(nn.Sequential(
                nn.Conv1d(in_ch, config.channels, k, padding="same"),
                nn.BatchNorm1d(config.channels), nn.ReLU(), nn.Dropout(config.dropout)))
            in_ch = config.channels
        self.fc = nn.Sequential(nn.Linear(config.channels * config.input_samples, config.hidden),
                                nn.BatchNorm1d(config.hidden), nn.ReLU(),
                                nn.Dropout(config.dropout))
        self.classifier = self._new_classifier(num_classes)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        return nn.Linear(self.config.hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_or_truncate(_as_waveform(self, x), self.config.input_samples).unsqueeze(1)
        for conv in self.convs:
            x = conv(x)
        return self.classifier(self.fc(x.flatten(1)))

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return ([(f"conv{i + 1}", [m]) for i, m in enumerate(self.convs)]
                + [("fc", [self.fc]), ("classifier", [self.classifier])])


# -- SVM ------------------------------------------------------------------------------------


class SVMBaseline:
    """Support-vector machine on padded waveforms (seed 001 Table 3 "SVM").

    The public code's ``SVC(kernel="rbf", gamma="auto", probability=True)``. scikit-learn 1.9
    deprecates ``probability=True`` in favour of ``CalibratedClassifierCV(SVC(),
    ensemble=False)``, which is what we build for ``probability=True``: the SVC fitted on all
    data, Platt (sigmoid) scaling fitted on cross-validated decision values (``calibration_cv``
    folds). Its ``predict`` is the argmax of the calibrated posteriors (libsvm's also may
    disagree with its own decision function). ``probability=False`` is a plain ``SVC``.

    Inputs are arrays or tensors ``(n, time)`` padded/truncated to ``input_samples``. Not a
    torch module and not registered; the training engine fits it directly. It is not saved in
    the checkpoint format (that would need pickling); refit it instead.
    """

    name = "svm"
    seed = "001"
    section = "§5.2, Table 3"
    input_spec = WAVEFORM_INPUT

    def __init__(self, input_samples: int = 48000, kernel: str = "rbf", C: float = 1.0,
                 gamma: str | float = "auto", probability: bool = True, calibration_cv: int = 5,
                 random_state: int | None = 0, **svc_kwargs: Any) -> None:
        from sklearn.calibration import CalibratedClassifierCV  # local: keep scikit-learn
        from sklearn.svm import SVC                             # off the zoo's import path

        self.input_samples = int(input_samples)
        svc = SVC(kernel=kernel, C=C, gamma=gamma, random_state=random_state, **svc_kwargs)
        self.model = (CalibratedClassifierCV(svc, method="sigmoid", cv=calibration_cv,
                                             ensemble=False) if probability else svc)

    def features(self, x) -> np.ndarray:
        """``(n, time)`` -> float64 ``(n, input_samples)``, zero-padded or cut."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2:
            raise ValueError(f"svm expects waveforms (n, time), got shape {x.shape}")
        n = x.shape[1]
        if n >= self.input_samples:
            return x[:, : self.input_samples]
        return np.pad(x, ((0, 0), (0, self.input_samples - n)))

    def fit(self, x, y) -> "SVMBaseline":
        self.model.fit(self.features(x), np.asarray(y))
        return self

    def predict(self, x) -> np.ndarray:
        return self.model.predict(self.features(x))

    def predict_proba(self, x) -> np.ndarray:
        """``(n, classes)`` posteriors (needs ``probability=True``)."""
        if not hasattr(self.model, "predict_proba"):
            raise ValueError("this SVM was built with probability=False")
        return self.model.predict_proba(self.features(x))

    def score(self, x, y) -> float:
        """Accuracy (WA) on ``(x, y)``."""
        return float(np.mean(self.predict(x) == np.asarray(y)))

    @property
    def classes_(self) -> np.ndarray:
        return self.model.classes_
