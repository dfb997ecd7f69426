"""The plugin's model table agrees with the modules it builds; build_model answers only for its own ids."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from zoo_clip import plugin  # noqa: E402


def test_build_model_is_owner_only() -> None:
    assert plugin.build_model(spec=SimpleNamespace(id="resnet18"), weights=None) is None


@pytest.mark.parametrize("model_id", ["clip-vit-s32", "mobileclip2-s0"])
def test_components_match_the_modules(model_id: str) -> None:
    torch.set_num_threads(1)
    entry = plugin.MODELS[model_id]
    parts = plugin.build_model(spec=SimpleNamespace(id=model_id), weights=None)
    assert set(parts) == set(entry.components) == {"image", "text"}
    with torch.no_grad():
        for role, comp in entry.components.items():
            args = [torch.zeros(shape, dtype=getattr(torch, dtype)) for _, shape, dtype in comp.inputs]
            if role == "text":
                args[0][0, :2] = torch.tensor([49406, 49407])
                args[1][0, 1] = 1.0
            out = parts[role](*args)
            assert tuple(out.shape) == comp.outputs[0][1], (model_id, role)
