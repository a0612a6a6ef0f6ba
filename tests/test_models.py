import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need litefer[train] (torch)")

from litefer.models import create_model, get_entry, list_models  # noqa: E402
from litefer.models.layers import count_buffers, count_params  # noqa: E402
from litefer.models.profile import count_macs  # noqa: E402
from litefer.errors import ModelNotFoundError  # noqa: E402


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_maps_its_spec_input_to_logits(name):
    model, spec = create_model(name)
    h, w = spec.input_size
    out = model.eval()(torch.randn(3, spec.channels, h, w))
    assert out.shape == (3, len(spec.labels))
    assert torch.isfinite(out).all()
    assert count_macs(model, spec) > count_params(model) > 0
    assert spec.arch == name == get_entry(name).name


def test_mini_xception_has_exactly_the_published_parameter_count():
    model, _ = create_model("mini_xception")
    assert count_params(model) == 56_951
    assert count_params(model) + count_buffers(model) == 58_423


def test_mini_xception_has_no_fully_connected_layer():
    model, _ = create_model("mini_xception")
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())


def test_count_macs_matches_hand_computation_for_a_conv_and_linear():
    from litefer.spec import ModelSpec

    spec = ModelSpec(name="t", arch="t", labels=("a", "b"), input_size=(4, 4))
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(),
                              torch.nn.Linear(32, 2))
    assert count_macs(net, spec) == 4 * 4 * 2 * 9 + 32 * 2


def test_unknown_model_name_lists_the_registered_ones():
    with pytest.raises(ModelNotFoundError, match="mini_xception"):
        create_model("no_such_net")


def test_models_for_other_label_spaces_and_colour():
    model, spec = create_model("mini_xception")
    m8, _ = create_model("mini_xception", spec.with_(labels=tuple("abcdefgh"), channels=3,
                                                      mean=(0.5,) * 3, std=(0.5,) * 3))
    assert m8(torch.zeros(1, 3, 48, 48)).shape == (1, 8)
    assert np.isclose(count_params(m8) - count_params(model), 3 * 3 * 2 * 8 + 9 * 128 + 1)
