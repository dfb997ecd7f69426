"""registry.yaml: validation with readable errors, overlays, aliases, suggestions, missing plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

import zoo_classifier.plugin as classifier
from zoo.errors import ConfigError, PluginError, UnknownModelError, UnknownTaskError
from zoo.registry import default_registry_path, load_registry_file

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    return path


def test_the_shipped_registry_is_valid() -> None:
    data = load_registry_file(REPO / "registry.yaml")
    assert "resnet18" in data.models
    assert default_registry_path() is not None


def test_overlay_sets_weights_and_aliases(tmp_path: Path, make_registry) -> None:
    path = write(
        tmp_path,
        """
schema_version: 1
models:
  resnet18:
    task: classifier
    plugin: classifier
    aliases: [rn18]
    weights: {uri: "file:///w.pth", sha256_prefix: "abcdef01", format: torchvision}
""",
    )
    reg = make_registry(("classifier", classifier), registry_path=path)
    spec = reg.get("RN18")
    assert spec.id == "resnet18" and spec.weights is not None and spec.weights.uri == "file:///w.pth"
    assert spec.pre.size == (224, 224)  # untouched fields keep the plugin's values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema_version: 2\nmodels: {}\n", "schema_version is 2; this zoo reads schema_version: 1"),
        (
            "schema_version: 1\nmodels:\n  resnet18: {task: classifier, plugin: classifier, wieghts: {}}\n",
            "key 'models.resnet18.wieghts': Extra inputs are not permitted; remove it",
        ),
        (
            "schema_version: 1\nmodels:\n  resnet18:\n    task: classifier\n    plugin: classifier\n"
            "    weights: {uri: 'https://x/y.pth', sha256: 'zz', format: torchvision}\n",
            "key 'models.resnet18.weights.sha256'",
        ),
        (
            "schema_version: 1\nmodels:\n  resnet18:\n    task: classifier\n    plugin: classifier\n"
            "    weights: {uri: 'ftp://x/y.pth', format: torchvision}\n",
            "must start with https://",
        ),
        ("schema_version: 1\nmodels: [\n", "is not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
    ],
)
def test_malformed_registry_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_registry_file(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_entry_that_contradicts_the_plugin(tmp_path: Path, make_registry) -> None:
    path = write(tmp_path, "schema_version: 1\nmodels:\n  resnet18: {task: detector, plugin: classifier}\n")
    with pytest.raises(ConfigError, match=r"models.resnet18.task.*set task: classifier"):
        make_registry(("classifier", classifier), registry_path=path)


def test_model_whose_plugin_is_not_installed(tmp_path: Path, make_registry) -> None:
    path = write(
        tmp_path,
        "schema_version: 1\nmodels:\n  yolov8n: {task: detector, plugin: detector, distribution: zoo-detector}\n",
    )
    reg = make_registry(("classifier", classifier), registry_path=path)
    assert [m for m, _, _ in reg.list_unavailable()] == ["yolov8n"]
    with pytest.raises(PluginError, match=r"yolov8n.*not installed \(pip install zoo-detector\)"):
        reg.get("yolov8n")
    assert reg.list("detector") == []


def test_unknown_names_suggest_the_nearest(make_registry) -> None:
    reg = make_registry(("classifier", classifier))
    with pytest.raises(UnknownModelError, match="did you mean resnet18"):
        reg.get("resnet-18")
    with pytest.raises(UnknownTaskError, match="did you mean classifier"):
        reg.list("clasifier")
