"""Nano family: configs round-trip through JSON, every variant builds for any spec, budgets hold."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need litefer[train] (torch)")

from litefer.labels import CKPLUS, FER2013  # noqa: E402
from litefer.models import create_model, get_entry, list_models  # noqa: E402
from litefer.models.layers import count_params  # noqa: E402
from litefer.models.nano import NANO_CONFIGS, Mix, NanoConfig, NanoNet  # noqa: E402
from litefer.models.profile import count_macs  # noqa: E402

NANO = [n for n in list_models() if n.startswith("nano")]
BUDGETS = {"nano_a": 232_000, "nano_b": 136_000, "nano_c": 250_000}


def test_the_named_variants_are_registered():
    assert set(BUDGETS) <= set(NANO)


@pytest.mark.parametrize("name", NANO)
@pytest.mark.parametrize("space", [FER2013, CKPLUS])
def test_nano_variants_give_n_by_k_logits_for_either_label_space(name, space):
    spec = get_entry(name).spec.with_(labels=space.classes)
    model, _ = create_model(name, spec)
    out = model.eval()(torch.randn(5, 1, 48, 48))
    assert out.shape == (5, len(space)) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NANO)
def test_nano_variants_accept_other_label_counts_and_rgb(name):
    spec = get_entry(name).spec.with_(labels=tuple("abc"), channels=3, mean=(0.5,) * 3,
                                      std=(0.5,) * 3)
    model, _ = create_model(name, spec)
    assert model.eval()(torch.zeros(2, 3, 48, 48)).shape == (2, 3)


@pytest.mark.parametrize("name,budget", sorted(BUDGETS.items()))
def test_parameter_counts_are_within_ten_percent_of_the_budget(name, budget):
    model, spec = create_model(name)
    params = count_params(model)
    assert abs(params - budget) <= 0.1 * budget, params
    assert count_macs(model, spec) > params


def test_registered_spec_carries_the_config_for_the_onnx_metadata():
    spec = get_entry("nano_a").spec
    assert NanoConfig.from_dict(json.loads(spec.to_json())["extra"]["nano_config"]) == \
        NANO_CONFIGS["nano_a"]


@pytest.mark.parametrize("cfg", list(NANO_CONFIGS.values()) + [
    NanoConfig(8, (16, 24, 32, 48), (1, 3, 4, 2), (Mix(1, 2, (0, 1)), Mix(2, 3, (0, 2)),
                                                  Mix(2, 2, (1, 0))), 0.0),
    NanoConfig(8, (16, 24), (1, 3), (Mix(1, 2, (0, 1)),), strides=(1, 2))])
def test_config_round_trips_through_json(cfg):
    text = json.dumps(cfg.to_dict())
    back = NanoConfig.from_dict(json.loads(text))
    assert back == cfg and back.to_json() == cfg.to_json()
    assert NanoConfig.from_json(cfg.to_json()) == cfg


def test_config_errors_are_value_errors_naming_the_problem():
    with pytest.raises(ValueError, match="unknown NanoConfig keys"):
        NanoConfig.from_dict({"stem": 8, "widht": [8]})
    with pytest.raises(ValueError, match="one entry per stage"):
        NanoConfig(widths=(8, 16), depths=(1,))
    with pytest.raises(ValueError, match="does not fit"):
        NanoConfig(widths=(8,), depths=(2,), mixes=(Mix(0, 2, (0, 1)),))
    with pytest.raises(ValueError, match=">= 2 distinct sources"):
        Mix(0, 2, (1,))
    with pytest.raises(ValueError, match="two mixes"):
        NanoConfig(widths=(8,), depths=(4,), mixes=(Mix(0, 3, (0, 1)), Mix(0, 3, (1, 2))))
    with pytest.raises(ValueError, match="strides"):
        NanoConfig(widths=(8, 16), depths=(1, 1), strides=(2,))
    with pytest.raises(ValueError, match="strides"):
        NanoConfig(widths=(8,), depths=(1,), strides=(3,))


def test_strides_set_each_stages_map_size_and_default_to_halving():
    """The searched variants keep their dicts (no strides key); a stride-1 stage keeps the map."""
    assert "strides" not in NANO_CONFIGS["nano_a"].to_dict()
    assert NanoConfig(widths=(8, 16), depths=(1, 1)) == \
        NanoConfig(widths=(8, 16), depths=(1, 1), strides=())
    sizes = {}
    for strides in [(), (1, 2), (2, 1)]:
        net = NanoNet(NanoConfig(4, (8, 16), (2, 2), strides=strides)).eval()
        shapes = []
        for stage in net.stages:
            stage.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[2:])))
        net(torch.zeros(1, 1, 48, 48))
        sizes[strides] = shapes
    assert sizes == {(): [(24, 24), (12, 12)], (1, 2): [(48, 48), (24, 24)],
                     (2, 1): [(24, 24), (24, 24)]}
    # same weights, 4x the MACs: stride only moves where the convs run
    a, b = NanoNet(NanoConfig(4, (8, 16), (2, 2))), NanoNet(NanoConfig(4, (8, 16), (2, 2),
                                                                       strides=(1, 2)))
    spec = get_entry("nano_a").spec
    assert count_params(a) == count_params(b)
    assert count_macs(b, spec) > 3 * count_macs(a, spec)


def test_a_mixing_conv_takes_the_concatenated_earlier_outputs():
    plain = NanoConfig(8, (16,), (4,), ())
    mixed = NanoConfig(8, (16,), (4,), (Mix(0, 3, (0, 1, 2)),))
    extra = count_params(NanoNet(mixed)) - count_params(NanoNet(plain))
    assert extra == 3 * 16 * 16 + 2 * 16  # 1x1 conv over 3 concatenated maps + its BatchNorm
    seen = {}
    net = NanoNet(mixed).eval()
    net.stages[0].mixes["3"].register_forward_hook(lambda m, i, o: seen.update(shape=i[0].shape))
    net(torch.zeros(1, 1, 48, 48))
    assert tuple(seen["shape"]) == (1, 48, 24, 24)


def test_widths_grow_as_maps_shrink_in_the_named_variants():
    for cfg in NANO_CONFIGS.values():
        assert list(cfg.widths) == sorted(cfg.widths)


def test_nano_a_output_is_deterministic_in_eval_mode():
    model, _ = create_model("nano_a")
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 1, 48, 48)).astype(np.float32))
    assert torch.equal(model.eval()(x), model(x))
