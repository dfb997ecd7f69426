"""Plugin loading: entry points, allow-list, off switch, failures, duplicates, hook docs."""

from __future__ import annotations

import importlib.metadata as md
import inspect
import sys
import types

import pytest

import zoo.hookspecs as hookspecs
from zoo import hookimpl
from zoo.errors import PluginError
from zoo.plugins import new_plugin_manager
from zoo.specs import ModelSpec, PostSpec, PreSpec, TensorSpec
from zoo.tasks import TaskDef


def _spec(model_id: str, aliases: tuple[str, ...] = (), task: str = "toy") -> ModelSpec:
    return ModelSpec(
        id=model_id,
        task=task,
        aliases=aliases,
        inputs=(TensorSpec(name="in0", shape=(1, 3, 8, 8)),),
        pre=PreSpec(kind="resize", size=(8, 8)),
        post=PostSpec(decoder="topk"),
    )


def _task(name: str = "toy") -> TaskDef:
    return TaskDef(
        name=name,
        description="",
        result_type=object,
        default_metric="top1",
        preprocess=lambda i, p: (i, {}),
        postprocess=lambda o, c, s, opts: o,
        agreement=lambda a, b: {},
    )


def _plugin(*specs: ModelSpec, task: TaskDef | None = None) -> types.SimpleNamespace:
    class P:
        @hookimpl
        def register_models(self, register):  # type: ignore[no-untyped-def]
            for s in specs:
                register(s)

        @hookimpl
        def register_tasks(self, register):  # type: ignore[no-untyped-def]
            if task is not None:
                register(task)

    return P()


def test_every_hookspec_is_documented() -> None:
    specs = [f for name, f in vars(hookspecs).items() if inspect.isfunction(f) and hasattr(f, "zoo_spec")]
    assert {f.__name__ for f in specs} >= {
        "register_tasks",
        "register_models",
        "register_exporters",
        "register_runtimes",
        "register_power_meters",
        "build_model",
    }
    for f in specs:
        assert f.__doc__ and len(f.__doc__.strip()) > 40, f"hookspec {f.__name__} needs a docstring"


def test_registry_records_who_registered_what(make_registry) -> None:
    reg = make_registry(("alpha", _plugin(_spec("m1"), task=_task())), ("beta", _plugin(_spec("m2"))))
    assert reg.get("m1").plugin == "alpha"
    assert reg.get("m2").plugin == "beta"
    assert reg.tasks["toy"].plugin == "alpha"
    assert reg.exporters["pnnx"].plugin == "zoo.builtin"


def test_duplicate_model_id_names_both_plugins(make_registry) -> None:
    with pytest.raises(PluginError, match=r"'m1'.*'alpha'.*'beta'"):
        make_registry(("alpha", _plugin(_spec("m1"), task=_task())), ("beta", _plugin(_spec("m1"))))


def test_duplicate_alias_names_both_plugins(make_registry) -> None:
    with pytest.raises(PluginError, match=r"alias 'shared'.*'alpha'.*'beta'"):
        make_registry(
            ("alpha", _plugin(_spec("m1", ("shared",)), task=_task())), ("beta", _plugin(_spec("m2", ("shared",))))
        )


def test_duplicate_task_names_both_plugins(make_registry) -> None:
    with pytest.raises(PluginError, match=r"task 'toy'.*'alpha'.*'beta'"):
        make_registry(("alpha", _plugin(task=_task())), ("beta", _plugin(task=_task())))


def test_model_for_unknown_task_is_dropped_and_reported(make_registry) -> None:
    reg = make_registry(("alpha", _plugin(_spec("m1", task="nosuch"))), ("beta", _plugin(_spec("m2"), task=_task())))
    assert [s.id for s in reg.list()] == ["m2"]
    assert "model 'm1' dropped: task 'nosuch'" in reg.zpm.failures[0].error
    with pytest.raises(PluginError, match="m1.*not available.*nosuch"):
        reg.get("m1")


def test_a_hook_that_raises_is_recorded_and_skipped(make_registry) -> None:
    class Broken:
        @hookimpl
        def register_models(self, register):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    reg = make_registry(("good", _plugin(_spec("m1"), task=_task())), ("broken", Broken()))
    assert [s.id for s in reg.list()] == ["m1"]
    failure = reg.zpm.failures[0]
    assert failure.name == "broken" and failure.stage == "register_models" and "boom" in failure.error


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, eps: list[md.EntryPoint]) -> None:
    import zoo.plugins as plugins_mod

    monkeypatch.setattr(plugins_mod, "entry_points", lambda group: [e for e in eps if e.group == group])


def test_plugin_that_fails_to_import_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    good = types.ModuleType("zoo_test_goodplugin")
    good.register_tasks = hookimpl(lambda register: register(_task()))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "zoo_test_goodplugin", good)
    _fake_entry_points(
        monkeypatch,
        [
            md.EntryPoint("good", "zoo_test_goodplugin", "zoo"),
            md.EntryPoint("bad", "zoo_test_no_such_module_xyz", "zoo"),
        ],
    )
    zpm = new_plugin_manager(autoload=True)
    assert zpm.pm.has_plugin("good")
    assert not zpm.pm.has_plugin("bad")
    assert zpm.failures[0].name == "bad" and "ModuleNotFoundError" in zpm.failures[0].error


def test_allow_list_and_off_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("one", "two"):
        mod = types.ModuleType(f"zoo_test_{name}")
        monkeypatch.setitem(sys.modules, f"zoo_test_{name}", mod)
    _fake_entry_points(
        monkeypatch, [md.EntryPoint("one", "zoo_test_one", "zoo"), md.EntryPoint("two", "zoo_test_two", "zoo")]
    )
    monkeypatch.setenv("ZOO_PLUGINS", "two")
    zpm = new_plugin_manager()
    assert zpm.pm.has_plugin("two") and not zpm.pm.has_plugin("one")
    monkeypatch.delenv("ZOO_PLUGINS")
    monkeypatch.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    zpm = new_plugin_manager()
    assert not zpm.pm.has_plugin("one") and not zpm.pm.has_plugin("two")
    assert zpm.pm.has_plugin("zoo.builtin")


def test_import_zoo_loads_no_plugins_and_no_torch() -> None:
    import subprocess

    code = (
        "import sys, zoo, zoo.registry, zoo.cli; "
        "print('torch' in sys.modules, 'ncnn' in sys.modules, 'zoo_classifier' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"]


def test_build_model_is_asked_of_the_owner_only(make_registry) -> None:
    calls = []

    class Owner:
        @hookimpl
        def register_tasks(self, register):  # type: ignore[no-untyped-def]
            register(_task())

        @hookimpl
        def register_models(self, register):  # type: ignore[no-untyped-def]
            register(_spec("m1"))

        @hookimpl
        def build_model(self, spec, weights):  # type: ignore[no-untyped-def]
            calls.append("owner")
            return "owner-model"

    class Hijacker:
        @hookimpl
        def build_model(self, spec, weights):  # type: ignore[no-untyped-def]
            calls.append("hijacker")
            return "hijacked"

    reg = make_registry(("owner", Owner()), ("hijacker", Hijacker()))
    assert reg.build_torch_model(reg.get("m1"), None) == "owner-model"
    assert calls == ["owner"]
