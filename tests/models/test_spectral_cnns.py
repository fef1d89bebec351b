"""BulbaNET / CharmaNET / SquirtleNET (seed 002): layer patterns, counts, freeze subsets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ser_core.models import count_parameters, create_model
from ser_core.models.spectral_cnns import FREEZE_SUBSETS, apply_freeze_subset, frozen_groups

SMALL = dict(conv_channels=(6, 5, 4), fc_dims=(12, 10))


@pytest.fixture(scope="module")
def squirtle():
    torch.manual_seed(0)
    return create_model("squirtlenet", 7)


def seed_param_count(channels, fc, classes, bn_after_conv1=True, n=60,
                     pool_kernels=(2, 3, 3), kernel=3) -> int:
    """Parameters from seed 002 Fig. 2 / Table 4: conv k x k (stride 1, padding 1, bias),
    pools of stride 2, BN (2 per channel), FC layers with bias.

    SquirtleNET at Table 4 values, 60x60 mel image:
      conv1 1->188: 188*9 + 188 = 1,880; BN(188): 376; 60 -> maxpool 2/2 -> 30
      conv2 188->156: 156*188*9 + 156 = 264,108; 30 -> avgpool 3/2 -> 14
      conv3 156->340: 340*156*9 + 340 = 477,700; 14 -> avgpool 3/2 -> 6; flatten 340*36 = 12,240
      FC1 12,240->3,634: 44,483,794; FC2 3,634->2,816: 10,236,160; FC3 2,816->7: 19,719
      total 55,483,737 (the seed's "~55 M").
    """
    side, total, in_ch = n, 0, 1
    for ch, pk in zip(channels, pool_kernels):
        total += ch * in_ch * kernel * kernel + ch
        side = (side - pk) // 2 + 1
        in_ch = ch
    flat = channels[-1] * side * side
    total += flat * fc[0] + fc[0] + fc[0] * fc[1] + fc[1] + fc[1] * classes + classes
    total += 2 * (channels[0] if bn_after_conv1 else fc[0])
    return total


def test_squirtlenet_table4_count(squirtle):
    assert seed_param_count((188, 156, 340), (3634, 2816), 7) == 55_483_737
    assert count_parameters(squirtle) == 55_483_737
    assert squirtle.config.spatial_sizes() == [30, 14, 6]


@pytest.mark.parametrize("name, channels, fc, bn_conv", [
    ("charmanet", (212, 148, 356), (3840, 2858), True),
    ("bulbanet", (188, 156, 340), (3634, 2816), False),
])
def test_other_nets_counts(name, channels, fc, bn_conv):
    model = create_model(name, 7)
    assert count_parameters(model) == seed_param_count(channels, fc, 7, bn_conv)


@pytest.mark.parametrize("name, pools, act", [
    ("squirtlenet", (nn.MaxPool2d, nn.AvgPool2d, nn.AvgPool2d), "relu"),
    ("charmanet", (nn.MaxPool2d, nn.MaxPool2d, nn.AvgPool2d), "leaky_relu"),
    ("bulbanet", (nn.AvgPool2d, nn.AvgPool2d, nn.AvgPool2d), "relu"),
])
def test_fig2_patterns_forward_backward(name, pools, act):
    torch.manual_seed(1)
    model = create_model(name, 7, **SMALL)
    assert tuple(type(p) for p in model.pool_layers) == pools
    assert model.conv_act == act
    assert isinstance(model.bn1, nn.BatchNorm1d if name == "bulbanet" else nn.BatchNorm2d)
    assert model.bn1.momentum == model.config.bn_momentum
    x = model.example_input(4)
    y = model(x)
    assert y.shape == (4, 7)
    y.logsumexp(-1).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ValueError, match="expects"):
        model(torch.zeros(2, 1, 50, 50))


def test_defaults_follow_the_seed():
    s = create_model("squirtlenet", 7, **SMALL).config
    assert (s.image_size, s.conv_kernels, s.pool_kernels, s.pool_strides, s.bn_momentum,
            s.dropout, s.conv_stride, s.conv_padding) == (60, (3, 3, 3), (2, 3, 3), (2, 2, 2),
                                                          0.4, 0.40, 1, 1)
    c = create_model("charmanet", 7, **SMALL).config
    assert (c.bn_momentum, c.dropout, c.leaky_slope) == (0.2, 0.45, 0.01)


@pytest.mark.parametrize("subset", list("abcdefg"))
def test_freeze_subsets(squirtle, subset):
    model = squirtle
    model.reset_classifier(5)  # the seed's new 5-way last layer for Greek AESDD
    trainable = apply_freeze_subset(model, subset)
    assert frozen_groups(model, subset) == list(FREEZE_SUBSETS[subset])
    expect_frozen = set(FREEZE_SUBSETS[subset])
    assert set(trainable) == {n for n, _ in model.layer_groups()} - expect_frozen
    assert "classifier" in trainable
    for name, mods in model.layer_groups():
        for m in mods:
            for p in m.parameters():
                assert p.requires_grad == (name not in expect_frozen), (subset, name)
    # (a) trains only the new last layer; (g) trains everything
    n_train = count_parameters(model, trainable_only=True)
    if subset == "a":
        assert n_train == 2816 * 5 + 5
    if subset == "g":
        assert n_train == count_parameters(model)


def test_freeze_subset_training_step_touches_only_trainable():
    torch.manual_seed(2)
    model = create_model("squirtlenet", 7, **SMALL)
    model.reset_classifier(5)
    apply_freeze_subset(model, "c")
    before = {k: v.clone() for k, v in model.named_parameters()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = nn.functional.cross_entropy(model(model.example_input(4)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    for name, p in model.named_parameters():
        changed = not torch.equal(before[name], p)
        assert changed == name.startswith(("fc1", "fc2", "classifier")), name
    with pytest.raises(ValueError):
        apply_freeze_subset(model, "h")


def test_bulbanet_subsets_follow_its_own_order():
    model = create_model("bulbanet", 7, **SMALL)
    assert [n for n, _ in model.layer_groups()] == ["conv1", "conv2", "conv3", "fc1", "bn1",
                                                    "fc2", "classifier"]
    assert frozen_groups(model, "(c)") == ["conv1", "conv2", "conv3", "fc1"]


def test_batch_equals_single_in_eval():
    torch.manual_seed(3)
    for name in ("squirtlenet", "charmanet", "bulbanet"):
        model = create_model(name, 7, **SMALL)
        model(model.example_input(8))  # move the BN running statistics off their init
        model.eval()
        x = model.example_input(3)
        with torch.no_grad():
            torch.testing.assert_close(model(x), torch.cat([model(x[i:i + 1]) for i in range(3)]))
