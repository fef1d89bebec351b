"""Recipes carry the seeds' optimisers; early stopping and seed 002's rules."""

from __future__ import annotations

import pytest
import torch

from ser_core.errors import ConfigError
from ser_core.training.recipes import Recipe, parse_set_options, recipe_for
from ser_core.training.stopping import EarlyStopping, Seed002Rules
from ser_core.training.optimization import build_optimizer, build_scheduler, class_weights


def test_seed_defaults():
    r = recipe_for("acrnn")
    assert (r.optimizer, r.lr, r.batch_size, r.normalize) == ("adam", 1e-4, 40, True)
    g = recipe_for("glam")
    assert (g.lr, g.weight_decay, g.scheduler, g.gamma, g.min_lr, g.batch_size) == \
        (1e-4, 1e-6, "exponential", 0.95, 1e-6, 32)
    s = recipe_for("serct")
    assert (s.lr, s.weight_decay, s.scheduler, s.step_size, s.gamma, s.batch_size, s.epochs) == \
        (1e-3, 5e-3, "step", 10, 0.1, 16, 20)
    assert recipe_for("serct_vanilla").lr == 1e-3  # family recipe for ablations
    q = recipe_for("squirtlenet")
    assert (q.lr, q.batch_size, q.weight_decay) == (6e-5, 32, 0.0)
    assert recipe_for("dual_dslstm").lr == 1e-4
    assert recipe_for("parallel_cnn_transformer").augment == "awgn"
    with pytest.raises(ConfigError, match="no training recipe is registered for model 'no_such_model'"):
        recipe_for("no_such_model")


def test_every_registered_model_has_its_recipe():
    from ser_core.models import list_models, model_class

    trained = [n for n in list_models() if model_class(n).fitted_by is None]
    assert "glam" in trained and "acoustic_stats" not in trained
    assert all(recipe_for(name).source for name in trained)


def test_a_model_fitted_in_closed_form_names_its_command():
    with pytest.raises(ConfigError, match="fit-acoustic"):
        recipe_for("acoustic_stats")


def test_overrides_and_set_options():
    r = recipe_for("glam", lr=3e-4, epochs=None)
    assert r.lr == 3e-4 and r.epochs == recipe_for("glam").epochs
    assert parse_set_options(["lr=0.5", "normalize=true", "epochs=3", "scheduler=step"]) == \
        {"lr": 0.5, "normalize": True, "epochs": 3, "scheduler": "step"}
    with pytest.raises(ConfigError):
        parse_set_options(["nope=1"])
    with pytest.raises(ConfigError):
        parse_set_options(["epochs=many"])
    with pytest.raises(ConfigError):
        recipe_for("glam", optimizer="rmsprop")


def test_schedules():
    p = [torch.nn.Parameter(torch.zeros(1))]
    g = recipe_for("glam", lr=1e-4)
    opt = build_optimizer(p, g)
    sched = build_scheduler(opt, g)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[1] == pytest.approx(0.95e-4)
    assert min(lrs) == pytest.approx(1e-6)  # floored
    s = recipe_for("serct")
    opt = build_optimizer(p, s)
    sched = build_scheduler(opt, s)
    lrs = []
    for _ in range(21):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[9] == pytest.approx(1e-3) and lrs[10] == pytest.approx(1e-4) and lrs[20] == pytest.approx(1e-5)
    assert isinstance(build_optimizer(p, recipe_for("parallel_cnn_transformer")), torch.optim.SGD)


def test_class_weights():
    w = class_weights(torch.tensor([0, 0, 0, 1]), 3)
    assert w.tolist() == pytest.approx([4 / 6, 2.0, 0.0])


def test_patience_max_and_min():
    es = EarlyStopping("ua", patience=2)
    assert es.step(1, 0.5) and not es.step(2, 0.4) and not es.should_stop
    assert not es.step(3, 0.5) and es.should_stop and es.best_epoch == 1
    es = EarlyStopping("loss", patience=1)
    assert es.step(1, 2.0) and es.step(2, 1.0) and not es.step(3, 1.5) and es.should_stop
    assert not EarlyStopping("ua", patience=0).should_stop


def test_seed002_rule_a():
    r = Seed002Rules()
    for e in range(1, 20):
        assert r.check(e, 1.0, 0.1) is None
    assert r.check(20, 1.0, 0.30) == ("abandon", "A1")
    r = Seed002Rules()
    assert r.check(125, 1.0, 0.50) == ("abandon", "A4")


def test_seed002_rule_b1_b2_b3():
    r = Seed002Rules()
    verdict = None
    for e in range(1, 57):  # loss rising every 4 epochs after 36, F1 high and moving
        loss = 1.0 if e < 36 else 1.0 + 0.01 * (e - 36)
        verdict = r.check(e, loss, 0.6 + 0.005 * (e % 7) + 0.02 * (e // 4 % 2))
        if verdict:
            break
    assert verdict == ("stop", "B1") and e == 52
    r = Seed002Rules()
    for e in range(1, 53):  # F1 flat: B2 at the first check with a full history
        verdict = r.check(e, 1.0 - 0.001 * (e % 2), 0.70)
        if verdict:
            break
    assert verdict == ("stop", "B2") and e == 52
    r = Seed002Rules()
    verdict = None
    for e in range(1, 121):  # F1 oscillating by 2 points (no B2), no net gain over 40 epochs
        f1 = 0.7 + (0.02 if (e // 4) % 2 == 0 else 0.0)
        verdict = r.check(e, 1.0 - e * 1e-3, f1)
        if verdict:
            break
    assert verdict == ("stop", "B3") and e == 120


def test_seed002_rule_c():
    r = Seed002Rules(c_macro_f1=0.6, c_accuracy=0.6)
    assert r.fold_fails(0.5, 0.5) and not r.fold_fails(0.7, 0.5)
