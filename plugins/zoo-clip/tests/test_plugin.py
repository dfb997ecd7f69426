"""The plugin's specs agree with the modules it builds; build_model answers only for its own ids;
the text tower carries the logit scale the export records."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from zoo.plugins import new_plugin_manager  # noqa: E402
from zoo.registry import Registry  # noqa: E402
from zoo_clip import plugin  # noqa: E402


def test_build_model_is_owner_only() -> None:
    assert plugin.build_model(spec=SimpleNamespace(id="resnet18"), weights=None) is None


@pytest.mark.parametrize("model_id", ["clip-vit-s32", "mobileclip2-s0"])
def test_components_match_the_modules(model_id: str) -> None:
    torch.set_num_threads(1)
    zpm = new_plugin_manager(autoload=False)
    zpm.pm.register(plugin, name="clip")
    reg = Registry.build(zpm)
    spec = reg.get(model_id)
    parts = reg.build_torch_modules(spec, None)
    assert set(parts) == set(spec.components) == {"image", "text"}
    assert parts["text"].export_facts() == {"logit_scale": pytest.approx(math.log(1 / 0.07))}
    with torch.no_grad():
        for role, comp in spec.components.items():
            args = [torch.zeros(t.shape, dtype=getattr(torch, t.dtype)) for t in comp.inputs]
            if role == "text":
                args[0][0, :2] = torch.tensor([49406, 49407])
                args[1][0, 1] = 1.0
            out = parts[role](*args)
            assert tuple(out.shape) == comp.outputs[0].shape, (model_id, role)
    # the text tower holds the text side's parameters only (OpenAI's layout keeps them beside visual.*)
    assert not any(name.startswith("visual") for name, _ in parts["text"].named_parameters())
