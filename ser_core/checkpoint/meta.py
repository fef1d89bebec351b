"""A checkpoint's ``config.json`` as a typed, versioned dataclass: :class:`CheckpointMeta`.

Training writes one, inference and the app read one; both go through this module, so the
contract between them is these fields, not string keys spread over the code base.

Typed fields (what rebuilding and feeding the model needs, and what the app shows):

``model`` / ``model_config`` / ``num_classes`` / ``labels``
    registered model name, its resolved config dataclass as a dict, the class names.
``label_set``
    the label set's id (e.g. ``"ekman7"``), ``None`` for a hand-made checkpoint.
``sample_rate``, ``input_spec``, ``feature``
    the waveform rate, the model's :class:`~ser_core.models.base.InputSpec` (feature kind,
    segment length, hop, aggregation) and the resolved feature config (:class:`FeatureMeta`).
``normalization``
    ``None`` or the per-input mean/std statistics of the training split (format in
    :mod:`ser_core.checkpoint.inputs`).
``corpora`` / ``training_corpora`` / ``protocol`` / ``metrics`` / ``confusion_matrix``
    provenance and measured quality, as the trainer writes them (``ui.metrics`` reads them).

Everything else the trainer or ``ship`` records (recipe, versions, precision, shipping
command...) stays in ``extra`` and is written back unchanged, so
``CheckpointMeta.from_dict(d).to_dict() == d`` for every checkpoint this code wrote.

Versions: ``format_version`` 1 is the only format so far. A file without one is read as 1
(checkpoints written before it was recorded); a file without ``input_spec``/``feature``
(hand-made or older) gets its model class's defaults; a newer version, an unknown model, or
labels that do not match ``num_classes`` raise :class:`~ser_core.errors.CheckpointError`
with a sentence saying so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ser_core import DEFAULT_SAMPLE_RATE
from ser_core.errors import CheckpointError, ConfigError
from ser_core.models.base import InputSpec

FORMAT_VERSION = 1
REQUIRED = ("model", "num_classes", "labels")


@dataclass(frozen=True)
class FeatureMeta:
    """The feature kind a model eats and its full config (defaults + the model's params)."""

    kind: str
    config: dict

    @classmethod
    def resolved(cls, kind: str, params: Mapping[str, Any]) -> "FeatureMeta":
        """``kind``'s config with ``params`` applied, every field written out."""
        from ser_core.features.pipeline import feature_config

        return cls(kind, dataclasses.asdict(feature_config(kind, **dict(params))))


@dataclass
class CheckpointMeta:
    """Everything in a checkpoint's ``config.json`` (see the module docstring)."""

    model: str
    num_classes: int
    labels: list[str]
    input_spec: InputSpec
    feature: FeatureMeta
    model_config: dict = field(default_factory=dict)
    sample_rate: int = DEFAULT_SAMPLE_RATE
    normalization: dict | None = None
    label_set: str | None = None
    corpora: list[dict] = field(default_factory=list)
    training_corpora: list[str] = field(default_factory=list)
    protocol: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    confusion_matrix: dict | None = None
    format_version: int = FORMAT_VERSION
    weights_dtype: str = "float32"
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_model(cls, model: str, labels: list[str], spec: InputSpec, *,
                  sample_rate: int = DEFAULT_SAMPLE_RATE, feature_params: Mapping | None = None,
                  **fields: Any) -> "CheckpointMeta":
        """New metadata for a model trained on ``spec``'s input (feature config resolved from
        ``feature_params``, default: the spec's own params)."""
        params = spec.params if feature_params is None else feature_params
        return cls(model=model, num_classes=len(labels), labels=list(labels), input_spec=spec,
                   feature=FeatureMeta.resolved(spec.feature, params),
                   sample_rate=int(sample_rate), **fields)

    # -- JSON --------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "checkpoint") -> "CheckpointMeta":
        """Read ``config.json``'s content; ``where`` names the checkpoint in error messages."""
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise CheckpointError(f"{where}: config.json lacks {', '.join(missing)}; it was not "
                                  "written by ser_core.")
        version = int(data.get("format_version") or 1)
        if version > FORMAT_VERSION:
            raise CheckpointError(f"{where} was written in checkpoint format {version}; this "
                                  f"version of ser_core reads up to format {FORMAT_VERSION}.")
        labels = [str(x) for x in data["labels"]]
        if len(labels) != int(data["num_classes"]):
            raise CheckpointError(f"{where}: {len(labels)} labels for {data['num_classes']} classes.")
        spec = _input_spec(data, where)
        feature = data.get("feature")
        feature = (FeatureMeta(str(feature["kind"]), dict(feature["config"])) if feature
                   else FeatureMeta.resolved(spec.feature, spec.params))
        typed = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            model=str(data["model"]), num_classes=int(data["num_classes"]), labels=labels,
            input_spec=spec, feature=feature, model_config=dict(data.get("model_config") or {}),
            sample_rate=int(data.get("sample_rate") or DEFAULT_SAMPLE_RATE),
            normalization=data.get("normalization"), label_set=data.get("label_set"),
            corpora=list(data.get("corpora") or []),
            training_corpora=list(data.get("training_corpora") or []),
            protocol=dict(data.get("protocol") or {}), metrics=dict(data.get("metrics") or {}),
            confusion_matrix=data.get("confusion_matrix"), format_version=version,
            weights_dtype=str(data.get("weights_dtype") or "float32"),
            extra={k: v for k, v in data.items() if k not in typed})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``config.json`` holds (``extra`` keys last)."""
        return {"format_version": self.format_version, "weights_dtype": self.weights_dtype,
                "model": self.model, "model_config": self.model_config,
                "num_classes": self.num_classes, "labels": list(self.labels),
                "label_set": self.label_set, "sample_rate": self.sample_rate,
                "input_spec": dataclasses.asdict(self.input_spec),
                "feature": {"kind": self.feature.kind, "config": self.feature.config},
                "normalization": self.normalization, "corpora": self.corpora,
                "training_corpora": self.training_corpora, "protocol": self.protocol,
                "metrics": self.metrics, "confusion_matrix": self.confusion_matrix,
                **self.extra}


def _input_spec(data: Mapping[str, Any], where: str) -> InputSpec:
    """The stored input spec, or (older / hand-made checkpoints) the model class's own."""
    stored = data.get("input_spec")
    if not stored:
        from ser_core.models import model_class

        try:
            return model_class(str(data["model"])).input_spec
        except ConfigError as exc:
            raise CheckpointError(f"{where}: {exc}") from None
    known = {f.name for f in dataclasses.fields(InputSpec)}
    try:
        return InputSpec(**{k: v for k, v in stored.items() if k in known})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: input_spec is not valid ({exc}).") from None
