"""One parametrised test suite for every registered model (timm-style), written against the
interface of :mod:`ser_core.models.base` only.

Inputs: ``model.example_input(batch_size=..., generator=...)`` (every zoo model provides one;
a model without it gets pipeline features of generated tones); ``test_pipeline_features_fit_model``
checks separately that what ``ser_core.features.pipeline`` extracts for a model's
``input_spec`` is what the model eats.

Speed: every test but the pipeline one builds the model with ``SMALL`` overrides (narrow
layers, same structure; shorter inputs where the input size is a config field) so the file
runs in well under a minute on CPU. Add an entry for a new model whose default size makes a
CPU training step slower than ~0.05 s, and to ``OVERFIT`` if it needs other optimiser
settings to memorise four random inputs.
"""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from ser_core.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from ser_core.models import (capture_attention, count_parameters, create_model,
                             for_cpu_inference, freeze_all_but_last, list_models, model_class,
                             probe_axes)

#: config overrides that keep each architecture but make it cheap (and, where the input size
#: is a config field, the input shorter)
SMALL: dict[str, dict] = {
    "acrnn": dict(conv_channels=(4, 8, 8, 8, 8, 8), bottleneck=16, lstm_hidden=8, fc_hidden=8,
                  n_frames=60),
    "glam": dict(stem_channels=4),
    "glam_plus": dict(stem_channels=4),
    "dslstm": dict(cnn_channels=(8, 4), hidden=16, n_frames_short=60, n_frames_long=30,
                   mfcc_frames=30),
    "dual_dslstm": dict(cnn_channels=(8, 4), hidden=16, lstm_hidden=16, n_frames_short=60,
                        n_frames_long=30, mfcc_frames=30),
    "parallel_cnn_transformer": dict(conv_channels=(4, 4, 4), num_layers=2, dim_feedforward=32),
    "serct": dict(conv_channels=16, embed_dim=16, num_heads=2, ffn_dim=16, num_layers=1,
                  dense_dims=(16,)),
    "serct_vanilla": dict(conv_channels=16, embed_dim=16, num_heads=2, ffn_dim=16,
                          num_layers=1, dense_dims=(16,)),
    "serct_cnn": dict(conv_channels=16, embed_dim=16, dense_dims=(16,)),
    "serct_nocnn": dict(embed_dim=16, num_heads=2, ffn_dim=16, num_layers=1, dense_dims=(16,)),
    "mlp": dict(input_samples=8000, hidden=(16,)),
    "lstm": dict(input_samples=8000, step_samples=800, hidden=16, fc=8),
    "cnn": dict(input_samples=8000, channels=8, hidden=8),
    "cnn_bilstm": dict(conv_channels=(8, 8), hidden=8, pool=9),
    "bulbanet": dict(conv_channels=(8, 8, 8), fc_dims=(32, 16)),
    "charmanet": dict(conv_channels=(8, 8, 8), fc_dims=(32, 16)),
    "squirtlenet": dict(conv_channels=(8, 8, 8), fc_dims=(32, 16)),
}

#: optimiser settings of the overfit test where the default (Adam 1e-2, 30 steps) does not fit
OVERFIT: dict[str, dict] = {
    "serct": dict(lr=3e-3),
    "serct_vanilla": dict(lr=3e-3),
    # the example input is 0.1-amplitude white noise, which averages out over ~100 BiLSTM
    # steps before the final state; at unit amplitude (a z-scored waveform) it does not
    "cnn_bilstm": dict(lr=3e-2, steps=40, input_scale=10.0),
}

MODELS = list_models()
NUM_CLASSES = 4


def small_model(name: str, num_classes: int = NUM_CLASSES, seed: int = 0):
    torch.manual_seed(seed)
    return create_model(name, num_classes, **SMALL.get(name, {}))


def example(model, batch_size: int, seed: int = 0):
    """Random input of the model's shape: its ``example_input``, else pipeline features of
    generated tones (one pitch per item) for its ``input_spec``."""
    gen = torch.Generator().manual_seed(seed)
    if hasattr(model, "example_input"):
        return model.example_input(batch_size=batch_size, generator=gen)
    from ser_core.features.pipeline import extract
    from tests.conftest import tone

    spec = model.input_spec
    waves = torch.stack([torch.from_numpy(tone(freq=120.0 + 37.0 * i + 5.0 * seed,
                                               seconds=spec.segment_s or 3.0))
                         for i in range(batch_size)])
    return extract(spec.feature, waves, 16000, **spec.params)


def take(x, index):
    """Slice a batch (tensor or dict of tensors) along dim 0."""
    if isinstance(x, dict):
        return {k: v[index] for k, v in x.items()}
    return x[index]


def group_parameters(model) -> dict[str, list[torch.nn.Parameter]]:
    return {n: [p for m in mods for p in m.parameters()] for n, mods in model.layer_groups()}


def test_registry_is_not_empty():
    assert {"acrnn", "glam", "glam_plus", "parallel_cnn_transformer", "dslstm",
            "dual_dslstm"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_declares_the_interface(name):
    cls = model_class(name)
    assert cls.name == name
    assert cls.seed and cls.section, "seed and section locate the model in ../shared/seeds"
    assert cls.input_spec.feature
    assert cls.input_spec.aggregation in ("max", "mean")
    assert cls.seed_num_classes >= 2
    assert (cls.__doc__ or "").strip()
    module_doc = sys.modules[cls.__module__].__doc__ or ""
    assert "seed" in module_doc.lower(), "the model file starts with its seed section"


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_finite(name):
    model = small_model(name)
    model.train()
    x = example(model, 3)
    logits = model(x)
    assert logits.shape == (3, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads, "no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    head = model.layer_groups()[-1][1]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for m in head for p in m.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_batch_matches_single_in_eval(name):
    model = small_model(name).eval()
    x = example(model, 3, seed=1)
    with torch.no_grad():
        batched = model(x)
        singles = torch.cat([model(take(x, slice(i, i + 1))) for i in range(3)])
    torch.testing.assert_close(batched, singles, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_channels_last_inference_gives_the_same_logits(name):
    """The inference service runs CPU models with channels-last weights (faster pooling):
    every model must accept that layout and give the same answer."""
    model = small_model(name).eval()
    x = example(model, 2, seed=2)
    with torch.no_grad():
        expected = model(x)
        fast = for_cpu_inference(model)
        assert fast is model and not model.training
        got = fast(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_tiny_overfit(name):
    """Four samples are memorised: the training loss falls well below its start.

    Dropout is switched off (memorisation, not regularisation, is what is tested).
    """
    settings = {"lr": 1e-2, "steps": 30, "input_scale": 1.0, **OVERFIT.get(name, {})}
    model = small_model(name)
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    x = example(model, 4, seed=2)
    if settings["input_scale"] != 1.0:
        x = x * settings["input_scale"]
    y = torch.tensor([0, 1, 2, 3])
    opt = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    losses = []
    for _ in range(settings["steps"]):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-5:]) < 0.5 * losses[0], f"loss {losses[0]:.3f} -> {losses[-5:]}"


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip(name, tmp_path):
    model = small_model(name)
    model.train()
    with torch.no_grad():  # move batch-norm running statistics away from their init
        model(example(model, 4, seed=3))
    model.eval()
    x = example(model, 2, seed=4)
    with torch.no_grad():
        expected = model(x)
    meta = CheckpointMeta.for_model(name, [f"c{i}" for i in range(NUM_CLASSES)],
                                    type(model).input_spec, model_config=model.config_dict())
    directory = save_checkpoint(tmp_path / "ckpt", model, meta)
    json.loads((directory / "config.json").read_text())  # plain JSON, no pickle anywhere
    loaded, loaded_meta = load_checkpoint(directory)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", MODELS)
def test_attention_weights_sum_to_one(name):
    model = small_model(name).eval()
    axes = probe_axes(model)
    with torch.no_grad(), capture_attention(model) as maps:
        model(example(model, 2, seed=5))
    assert set(maps) == set(axes), "every probe reports once per forward (lists for loops)"
    for probe, value in maps.items():
        _, dim = axes[probe]
        for weights in value if isinstance(value, list) else [value]:
            assert weights.shape[0] == 2
            assert (weights >= 0).all()
            torch.testing.assert_close(weights.sum(dim), torch.ones_like(weights.sum(dim)),
                                       rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_layer_groups_partition_the_parameters(name):
    model = small_model(name)
    groups = model.layer_groups()
    names = [n for n, _ in groups]
    assert len(names) == len(set(names)) >= 2
    assert names[-1] == model.classifier_name()
    seen: dict[int, str] = {}
    for group, params in group_parameters(model).items():
        assert params, f"group {group} has no parameters"
        for p in params:
            assert id(p) not in seen, f"parameter in {seen.get(id(p))} and {group}"
            seen[id(p)] = group
    assert set(seen) == {id(p) for p in model.parameters()}, "some parameters are in no group"


@pytest.mark.parametrize("name", MODELS)
def test_freeze_all_but_last(name):
    model = small_model(name)
    groups = group_parameters(model)
    names = list(groups)
    for k in sorted({1, 2, len(names)}):
        chosen = freeze_all_but_last(model, k)
        assert chosen == names[-k:]
        for group, params in groups.items():
            assert all(p.requires_grad == (group in chosen) for p in params), group
    trainable = count_parameters(model, trainable_only=True)
    assert trainable == count_parameters(model)
    with pytest.raises(ValueError):
        freeze_all_but_last(model, len(names) + 1)


@pytest.mark.parametrize("name", MODELS)
def test_reset_classifier_changes_output_size(name):
    model = small_model(name)
    model.reset_classifier(7)
    assert model.num_classes == 7
    model.eval()
    with torch.no_grad():
        assert model(example(model, 2)).shape == (2, 7)
    freeze_all_but_last(model, 1)  # the new head is the last group and trains alone
    head = {id(p) for m in model.layer_groups()[-1][1] for p in m.parameters()}
    assert head and all(p.requires_grad == (id(p) in head) for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_full_size_builds_at_seed_class_count(name):
    cls = model_class(name)
    with torch.device("meta"):
        model = create_model(name, cls.seed_num_classes)
    assert count_parameters(model) > 0
    assert model.num_classes == cls.seed_num_classes


# ------------------------------------------------------------------------------------------
# features from the real pipeline fit the models (skipped until the pipeline exists)
# ------------------------------------------------------------------------------------------
def _pipeline():
    try:
        from ser_core.features import pipeline
    except ImportError:
        pytest.skip("ser_core.features.pipeline is not there yet")
    if not hasattr(pipeline, "extract"):
        pytest.skip("ser_core.features.pipeline has no extract()")
    return pipeline


@pytest.mark.parametrize("name", MODELS)
def test_pipeline_features_fit_model(name):
    pipeline = _pipeline()
    from tests.conftest import tone

    cls = model_class(name)
    spec = cls.input_spec
    seconds = spec.segment_s or 3.0
    wave = torch.from_numpy(tone(seconds=seconds, sr=16000))
    feats = pipeline.extract(spec.feature, wave, 16000, **spec.params)
    batch = ({k: v.unsqueeze(0) for k, v in feats.items()} if isinstance(feats, dict)
             else feats.unsqueeze(0))
    torch.manual_seed(0)
    model = create_model(name, cls.seed_num_classes).eval()  # full size: the real shapes
    with torch.no_grad():
        out = model(batch)
    assert out.shape == (1, cls.seed_num_classes)
    assert torch.isfinite(out).all()


# ------------------------------------------------------------------------------------------
# CLI: python -m ser_core models [--json]
# ------------------------------------------------------------------------------------------
def test_cli_models_json_lists_every_model(capsys):
    from ser_core.cli import main

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == MODELS
    for row in rows:
        assert {"name", "seed", "input", "params"} <= set(row)
        cls = model_class(row["name"])
        assert (row["seed"], row["input"]) == (cls.seed, cls.input_spec.feature)
        assert row["classes"] == cls.seed_num_classes and row["params"] > 0
    by_name = {r["name"]: r for r in rows}
    assert by_name["parallel_cnn_transformer"]["params"] == 248_488
    assert by_name["acrnn"]["params"] == count_parameters(create_model("acrnn", 4))


def test_cli_models_table(capsys):
    from ser_core.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["model", "seed", "section", "input", "classes",
                                           "params"]
    assert "248,488" in out
    for name in MODELS:
        assert f"\n{name} " in out


def test_a_config_its_model_refuses_is_one_sentence_not_a_traceback():
    from ser_core.errors import ConfigError
    from ser_core.models import create_model

    with pytest.raises(ConfigError, match=r"glam: n_pools cannot exceed n_blocks\.$"):
        create_model("glam", 4, n_blocks=1)
    with pytest.raises(ConfigError, match="has no option"):
        create_model("glam", 4, no_such_option=1)
