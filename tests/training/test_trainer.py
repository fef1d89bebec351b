"""The trainer on synthetic clips: augmentation scope, determinism, fine-tuning freezes,
normalisation shared with inference, segment aggregation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ser_core.features.segments import aggregate_posteriors, segment_waveform, valid_samples
from ser_core.models import freeze_all_but_last
from ser_core.checkpoint import CheckpointMeta
from ser_core.checkpoint import inputs as fz
from ser_core.training import trainer as trainer_mod
from tests.training.conftest import SR, clip, make_trainer

TRAIN, VAL, TEST = list(range(8)), [8, 9], [10, 11]


def test_bank_segments_match_segment_waveform(synthetic_bank):
    bank, spec = synthetic_bank("glam")
    w = clip(1, 4)
    expected = segment_waveform(w, SR, spec.segment_s, spec.hop_s)
    idx = bank.segments_of([4])
    torch.testing.assert_close(bank.gather(idx), expected)
    assert int(bank.utt_n_seg[4]) == expected.shape[0]
    assert bank.seg_y(idx).tolist() == [1] * expected.shape[0]


@pytest.mark.slow
def test_augmentation_only_touches_training_batches(synthetic_bank, monkeypatch):
    bank, spec = synthetic_bank("glam")
    calls = []
    real = trainer_mod.augment_batch

    def spy(x, sr, cfg, gen):
        calls.append(x.shape[0])
        return real(x, sr, cfg, gen)

    monkeypatch.setattr(trainer_mod, "augment_batch", spy)
    tr = make_trainer(bank, spec, augment="awgn,p=1", epochs=2)
    fit = tr.fit(0, TRAIN, VAL)
    n_train_segments = len(bank.segments_of(TRAIN))
    assert sum(calls) == 2 * n_train_segments  # every training segment, each epoch, nothing else
    before = len(calls)
    tr.evaluate(fit.model, TEST, fit.normalization)
    assert len(calls) == before
    # evaluation features are the clean ones whatever the augmentation setting
    clean = make_trainer(bank, spec)
    idx = bank.segments_of(TEST)
    torch.testing.assert_close(tr.features(idx), clean.features(idx))


@pytest.mark.slow
def test_same_seed_same_first_epoch_loss(synthetic_bank):
    bank, spec = synthetic_bank("glam")
    losses = []
    for seed in (0, 0, 1):
        tr = make_trainer(bank, spec, augment="seed002,p=0.5")
        tr.seed = seed
        losses.append(tr.fit(0, TRAIN, VAL).history[0]["train_loss"])
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_finetune_changes_only_unfrozen_parameters(synthetic_bank):
    bank, spec = synthetic_bank("glam")
    tr = make_trainer(bank, spec, epochs=2, lr=1e-2)
    base = tr.build_model()
    init = {k: v.detach().clone() for k, v in base.state_dict().items()}
    probe = tr.build_model()
    trainable = freeze_all_but_last(probe, 2)
    fit = tr.fit(0, TRAIN, VAL, init_state=init, trainable_groups=trainable)
    model = fit.model
    names_in = {name: {id(p) for m in mods for p in m.parameters()}
                for name, mods in model.layer_groups()}
    after = model.state_dict()
    params = dict(model.named_parameters())
    changed, unchanged = set(), set()
    for key, value in after.items():
        (unchanged if torch.equal(value.cpu(), init[key]) else changed).add(key)
    for pname, p in params.items():
        group = next(g for g, ids in names_in.items() if id(p) in ids)
        if group in trainable:
            assert pname in changed, f"{pname} ({group}) should have trained"
        else:
            assert pname in unchanged, f"{pname} ({group}) is frozen but changed"
    # frozen groups' batch-norm running statistics stay put too (freeze_bn_stats)
    frozen_buffers = [k for k in after if k not in params and any(
        k.startswith(prefix) for prefix in _prefixes(model, trainable, frozen=True))]
    assert frozen_buffers and all(k in unchanged for k in frozen_buffers)
    assert fit.trainable_groups == trainable


def _prefixes(model, trainable, frozen):
    mod_names = {id(m): n for n, m in model.named_modules()}
    out = []
    for name, mods in model.layer_groups():
        if (name in trainable) != frozen:
            out += [mod_names[id(m)] + "." for m in mods]
    return out


def test_normalization_in_training_equals_inference_path(synthetic_bank):
    bank, spec = synthetic_bank("glam")
    tr = make_trainer(bank, spec, normalize=True)
    fit = tr.fit(0, TRAIN, VAL)
    norm = fit.normalization
    assert norm["type"] == "mean_std" and norm["inputs"]["x"]["shape"] == [1, 26]
    res = tr.evaluate(fit.model, TEST, norm)
    meta = CheckpointMeta(model="glam", num_classes=tr.num_classes, labels=tr.labels,
                          input_spec=spec, feature=tr.feature, sample_rate=SR, normalization=norm)
    for row, u in enumerate(TEST):
        segs = fz.segment_for_model(meta, clip(u % 3, u))
        with torch.no_grad():
            probs = fit.model(fz.prepare_batch(meta, segs)).softmax(-1)
        utt = aggregate_posteriors(probs, spec.aggregation)
        np.testing.assert_allclose(utt.numpy(), res.probs[row], atol=1e-5)


def test_balanced_sampler_and_history(synthetic_bank):
    bank, spec = synthetic_bank("glam")
    tr = make_trainer(bank, spec, balance="sampler", epochs=2, patience=1)
    fit = tr.fit(0, TRAIN, [])
    assert fit.epochs_run == 2 and fit.best_epoch in (1, 2)
    assert fit.history[0]["val"] is None
    assert set(fit.history[0]) >= {"epoch", "train_loss", "lr", "epoch_s", "best"}


def test_mixup_batch_mixes_inputs_and_targets_with_one_lambda():
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    y = torch.tensor([0, 1, 2, 3])
    xm, ym, lam = trainer_mod.mixup_batch(x, y, 0.5, np.random.default_rng(0),
                                          torch.Generator().manual_seed(0))
    assert 0.0 <= lam <= 1.0 and lam not in (0.0, 1.0)
    assert sorted(ym.tolist()) == [0, 1, 2, 3]  # a permutation of the batch's targets
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x[ym])  # partner = the permuted row


def test_mixup_loss_is_the_lambda_mix_of_both_cross_entropies():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    module = trainer_mod.TrainModule(model, None)
    x, y, y2 = torch.randn(6, 5), torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([2] * 6)
    loss, logits = module(x, y, y2, 0.3)
    expected = (0.3 * torch.nn.functional.cross_entropy(logits, y)
                + 0.7 * torch.nn.functional.cross_entropy(logits, y2))
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(module(x, y)[0], torch.nn.functional.cross_entropy(logits, y))


@pytest.mark.parametrize("option,value", [("mixup_alpha", 0.5), ("spec_mask", 0.2)])
def test_augmentation_trains_changes_the_training_loss_and_is_recorded(synthetic_bank, option, value):
    bank, spec = synthetic_bank("glam")
    plain = make_trainer(bank, spec, epochs=1).fit(0, TRAIN, VAL)
    tr = make_trainer(bank, spec, epochs=1, **{option: value})
    changed = tr.fit(0, TRAIN, VAL)
    assert np.isfinite(changed.history[0]["train_loss"])
    assert changed.history[0]["train_loss"] != plain.history[0]["train_loss"]
    assert tr.recipe.to_dict()[option] == value  # recorded with the run's recipe


def test_spec_mask_sets_bands_and_stretches_to_the_example_mean():
    x = torch.randn(64, 2, 40, 100, generator=torch.Generator().manual_seed(1)) + 3.0
    out = trainer_mod.spec_mask_batch(x, 0.2, torch.Generator().manual_seed(0))
    again = trainer_mod.spec_mask_batch(x, 0.2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)  # the run's generator makes it repeatable
    changed = out != x
    assert changed.any() and torch.equal(changed[:, 0], changed[:, 1])  # one mask for all channels
    for i in range(len(x)):
        rows, cols = changed[i, 0].all(dim=1), changed[i, 0].all(dim=0)  # masked bands / frames
        # every changed value lies in a masked band or stretch: up to 2 x 20 % of each axis
        assert torch.equal(changed[i, 0], rows[:, None] | cols[None, :])
        assert int(rows.sum()) <= 2 * 8 and int(cols.sum()) <= 2 * 20
        torch.testing.assert_close(out[i, :, changed[i, 0]], x[i].mean().expand(2, int(changed[i, 0].sum())))
    assert 0.02 < changed.float().mean() < 0.45
    wave, frames = torch.randn(4, 1, 16000), torch.randn(4, 39, 50)
    got = trainer_mod.spec_mask_batch({"w": wave, "f": frames, "m": x[:4]}, 0.2, torch.Generator())
    assert got["w"] is wave and got["f"] is frames and (got["m"] != x[:4]).any()


def test_spec_mask_out_of_range_is_refused():
    from ser_core.errors import ConfigError
    from ser_core.training.recipes import recipe_for

    with pytest.raises(ConfigError, match="spec_mask"):
        recipe_for("glam", spec_mask=0.7)


def test_mixup_refused_for_a_model_with_its_own_loss(synthetic_bank):
    from ser_core.errors import ConfigError

    bank, spec = synthetic_bank("dual_dslstm")
    with pytest.raises(ConfigError, match="mixup"):
        make_trainer(bank, spec, epochs=1, mixup_alpha=0.5, name="dual_dslstm").fit(
            0, TRAIN, VAL)


def test_mixup_batch_mixes_every_input_of_a_dict_with_the_same_partner():
    x = {"a": torch.arange(4.0)[:, None], "b": 10 * torch.arange(4.0)[:, None]}
    xm, ym, lam = trainer_mod.mixup_batch(x, torch.arange(4), 1.0, np.random.default_rng(1),
                                          torch.Generator().manual_seed(1))
    torch.testing.assert_close(xm["b"], 10 * xm["a"])
    torch.testing.assert_close(xm["a"][:, 0], lam * torch.arange(4.0) + (1 - lam) * ym.float())


def test_a_stopped_fit_resumes_after_its_last_completed_epoch(synthetic_bank, tmp_path):
    """Stopped during epoch 3 of 4, started again: epochs 3-4 run from the saved state and the
    result equals an uninterrupted run's (losses, validation, best weights)."""
    from ser_core.training import resume

    bank, spec = synthetic_bank("glam")
    ref = make_trainer(bank, spec, epochs=4, patience=0, augment="awgn").fit(0, TRAIN, VAL)

    first = make_trainer(bank, spec, epochs=4, patience=0, augment="awgn")
    first.resume_dir, first.resume_key = tmp_path / "resume", "k1"
    calls = {"n": 0}
    real_evaluate = first.evaluate

    def stop_in_epoch_3(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_evaluate(*a, **kw)

    first.evaluate = stop_in_epoch_3
    with pytest.raises(KeyboardInterrupt):
        first.fit(0, TRAIN, VAL)
    saved = resume.load(tmp_path / "resume", 0, "k1")
    assert saved["epoch"] == 2 and not saved["finished"] and len(saved["history"]) == 2
    assert resume.load(tmp_path / "resume", 0, "another configuration") is None

    again = make_trainer(bank, spec, epochs=4, patience=0, augment="awgn")
    again.resume_dir, again.resume_key = tmp_path / "resume", "k1"
    ran = []
    real = again.evaluate
    again.evaluate = lambda *a, **kw: ran.append(1) or real(*a, **kw)
    got = again.fit(0, TRAIN, VAL)
    assert len(ran) == 2  # epochs 3 and 4 only
    assert [h["epoch"] for h in got.history] == [1, 2, 3, 4]
    assert [h["train_loss"] for h in got.history] == pytest.approx([h["train_loss"] for h in ref.history])
    assert got.best_epoch == ref.best_epoch
    for k, v in ref.model.state_dict().items():
        assert torch.allclose(v, got.model.state_dict()[k], atol=1e-6), k
    # a finished fold only repeats its evaluation
    done = make_trainer(bank, spec, epochs=4, patience=0, augment="awgn")
    done.resume_dir, done.resume_key = tmp_path / "resume", "k1"
    assert done.fit(0, TRAIN, VAL).history == got.history


def test_centred_features_keep_the_padding_silent_under_augmentation(synthetic_bank, monkeypatch):
    """With ``center_time`` the augmented training segments keep zero padding, as inference's
    segments have it; without it augmentation is left as the recipes measured it."""
    import dataclasses

    bank, spec = synthetic_bank("glam")  # 2.5 s clips in 2 s windows every 1 s: padded
    seen = []
    real = fz.featurize

    def spy(feature, segments, sample_rate):
        seen.append(segments.clone())
        return real(feature, segments, sample_rate)

    monkeypatch.setattr(fz, "featurize", spy)
    idx = bank.segments_of([0, 1])
    clean = bank.gather(idx)
    padded = valid_samples(clean) < clean.shape[-1]
    assert padded.any()
    for center in (True, False):
        tr = make_trainer(bank, spec, augment="awgn,p=1")
        tr.feature = dataclasses.replace(tr.feature, config={**tr.feature.config,
                                                             "center_time": center})
        seen.clear()
        tr.features(idx, torch.Generator().manual_seed(0))
        padding = seen[-1][clean == 0][None]  # clips of pure tones: zeros are padding
        assert bool((padding == 0).all()) is center


def test_corpus_sampler_gives_each_class_and_each_corpus_within_it_equal_mass(synthetic_bank):
    bank, spec = synthetic_bank("glam")
    n_utt = bank.n_utterances
    # two corpora: the first utterances "big", the rest "small"; the sampler must not let the
    # bigger corpus set a class's draws
    domain = ["big" if i < n_utt * 3 // 4 else "small" for i in range(n_utt)]
    tr = make_trainer(bank, spec, balance="corpus_sampler")
    tr_domains = trainer_mod.Trainer(model_name=tr.model_name, labels=tr.labels, recipe=tr.recipe,
                                     bank=bank, spec=spec, sample_rate=tr.sample_rate,
                                     device=tr.device, model_config=tr.model_config,
                                     utt_domain=domain)
    segs = torch.arange(bank.n_segments)
    y = bank.seg_y(segs)
    w = tr_domains.sampling_weights(segs, y)
    d = torch.tensor([0 if domain[u] == "big" else 1 for u in bank.seg_utt.tolist()])
    classes = y.unique().tolist()
    for c in classes:
        in_class = y == c
        mass = float(w[in_class].sum())
        assert mass == pytest.approx(len(y) / len(classes))  # equal mass per class (mean 1)
        per_corpus = [float(w[in_class & (d == k)].sum()) for k in (0, 1) if (in_class & (d == k)).any()]
        assert len(per_corpus) == 2 and per_corpus == pytest.approx([mass / 2] * 2)
    # without corpora (or with balance="sampler") it is the class-balanced sampler
    w_plain = tr.sampling_weights(segs, y)
    counts = torch.bincount(y).double()
    torch.testing.assert_close(w_plain, len(y) / (len(classes) * counts[y]))
    assert not torch.allclose(w, w_plain)
    with pytest.raises(ValueError, match="utt_domain"):
        trainer_mod.Trainer(model_name=tr.model_name, labels=tr.labels, recipe=tr.recipe, bank=bank,
                            spec=spec, sample_rate=tr.sample_rate, device=tr.device,
                            model_config=tr.model_config, utt_domain=domain[:-1])
    fit = tr_domains.fit(0, TRAIN, [])  # and it trains
    assert fit.epochs_run == 1
