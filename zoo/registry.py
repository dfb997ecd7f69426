"""name[.alias] → ModelSpec, built once from the plugins' hooks with registry.yaml overlaid.

The registry calls each plugin's ``register_*`` implementation separately, with a callback that
knows the plugin's name, so it can say who registered what and name both owners of a duplicate.
A plugin whose hook raises is recorded as a failure and its registrations dropped.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import ConfigError, MissingRuntimeError, PluginError, UnknownModelError, UnknownTaskError, ZooError
from zoo.plugins import PluginFailure, ZooPluginManager, get_plugin_manager
from zoo.specs import SINGLE, ArtifactRef, ComponentSpec, ExportRecipe, ModelSpec, RoleSpec, WeightsRef
from zoo.tasks import Predictor, TaskDef

SCHEMA_VERSION = 1


class RegistryEntry(BaseModel):
    """One model in registry.yaml: what the project knows beyond the plugin's own spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(description="Task the model belongs to; must match the plugin's spec.")
    plugin: str = Field(description="Entry-point name of the plugin that defines the model.")
    distribution: str | None = Field(None, description="Package that provides the plugin, for install hints.")
    aliases: tuple[str, ...] | None = None
    description: str | None = None
    source: str | None = None
    weights: WeightsRef | None = None
    artifacts: dict[str, ArtifactRef] | None = None
    recipes: dict[str, ExportRecipe] | None = None
    components: dict[str, ComponentSpec] | None = None
    roles: dict[str, RoleSpec] | None = None
    license: str | None = None
    datasets: tuple[str, ...] | None = None
    base_model: str | None = None
    status: Literal["ok", "experimental", "random-weights-only", "unavailable"] | None = None
    notes: str | None = None

    def overlay(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, exclude={"task", "plugin", "distribution"})
        return data


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(description="Format version of registry.yaml; this zoo reads 1.")
    models: dict[str, RegistryEntry] = Field(default_factory=dict)


def default_registry_path() -> Path | None:
    """``$ZOO_REGISTRY``, else the registry.yaml shipped in the wheel, else the source checkout's."""
    env = os.environ.get("ZOO_REGISTRY")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "registry.yaml", here.parent / "registry.yaml"):
        if candidate.is_file():
            return candidate
    return None


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


MAX_REGISTRY_BYTES = 4 << 20
MAX_YAML_NODES = 200_000


def expanded_nodes(node: Any, memo: dict[int, int] | None = None) -> int:
    """How many nodes the YAML document becomes once aliases are expanded (an alias counts its
    whole target again): a few hundred bytes of nested aliases ("billion laughs") expand to
    billions, which any later traversal (validation, copies) would pay for."""
    memo = {} if memo is None else memo
    key = id(node)
    if key not in memo:
        memo[key] = 1  # cycles (recursive aliases) count once
        children: list[Any] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        memo[key] = 1 + sum(expanded_nodes(c, memo) for c in children)
    return memo[key]


def load_registry_file(path: Path) -> RegistryFile:
    """Parse and validate registry.yaml; every error names the file, the key and the fix.

    Bounded: at most MAX_REGISTRY_BYTES of UTF-8 text and MAX_YAML_NODES nodes once aliases expand."""
    try:
        if path.stat().st_size > MAX_REGISTRY_BYTES:
            raise ConfigError(
                f"{path}: {path.stat().st_size} bytes is too large for a registry file (limit {MAX_REGISTRY_BYTES})"
            )
        text = path.read_text(encoding="utf-8")
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None and expanded_nodes(node) > MAX_YAML_NODES:
                raise ConfigError(
                    f"{path}: expands to over {MAX_YAML_NODES} YAML nodes through its aliases (*refs); "
                    "a registry file needs far fewer — remove the nested aliases"
                )
            raw = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a text file (byte {err.start} is not UTF-8); ZOO_REGISTRY must name a registry.yaml"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror}); set ZOO_REGISTRY to a readable file") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({getattr(err, 'problem', err)}); fix the syntax") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping with schema_version and models")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(f"{path}: schema_version is {version!r}; this zoo reads schema_version: {SCHEMA_VERSION}")
    try:
        return RegistryFile.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = _loc(first["loc"])
        fix = "remove it or check its spelling" if first["type"] == "extra_forbidden" else "fix its value"
        raise ConfigError(f"{path}: key '{key}': {first['msg']}; {fix}") from err


@dataclass(frozen=True)
class Owned:
    plugin: str
    value: Any


@dataclass
class Registry:
    """Everything the plugins registered, keyed by name, with owners remembered."""

    zpm: ZooPluginManager
    tasks: dict[str, Owned] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    exporters: dict[str, Owned] = field(default_factory=dict)
    runtimes: dict[str, Owned] = field(default_factory=dict)
    power_meters: dict[str, Owned] = field(default_factory=dict)
    unavailable: dict[str, tuple[RegistryEntry, str]] = field(default_factory=dict)
    registry_path: Path | None = None

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def build(cls, zpm: ZooPluginManager, registry_path: Path | None = None) -> Registry:
        reg = cls(zpm=zpm, registry_path=registry_path)
        reg._collect("register_tasks", reg._add_task)
        reg._collect("register_models", lambda owner, spec: reg._add_model(owner, spec, solution=False))
        reg._collect("register_solutions", lambda owner, spec: reg._add_model(owner, spec, solution=True))
        reg._collect(
            "register_exporters", lambda owner, name, obj: reg._add_named(reg.exporters, "exporter", owner, name, obj)
        )
        reg._collect("register_runtimes", reg._add_runtime)
        reg._collect(
            "register_power_meters",
            lambda owner, name, obj: reg._add_named(reg.power_meters, "power meter", owner, name, obj),
        )
        for spec in list(reg.models.values()):
            if spec.task not in reg.tasks:  # e.g. the task's plugin failed to import: skip, don't die
                reg._drop(spec, f"task {spec.task!r} is not defined by any loaded plugin", "(see zoo plugins)")
                continue
            problem = reg.task(spec.task).spec_problem(spec)
            if problem:
                reg._drop(spec, f"registered by plugin {spec.plugin!r} with {problem}", "— a bug in that plugin")
        if registry_path is not None:
            reg._overlay(load_registry_file(registry_path), registry_path)
        reg._check_roles()
        return reg

    def _drop(self, spec: ModelSpec, reason: str, hint: str) -> None:
        """Take ``spec`` out of the registry, remember why (zoo plugins shows it; zoo run says it)."""
        self.zpm.failures.append(
            PluginFailure(spec.plugin or "?", None, "register_models", f"model {spec.id!r} dropped: {reason}")
        )
        self.unavailable[spec.id] = (
            RegistryEntry(task=spec.task, plugin=spec.plugin or "?", distribution=None),
            f"{reason} {hint}",
        )
        del self.models[spec.id]
        for alias in spec.aliases:
            self.aliases.pop(alias, None)

    def _check_roles(self) -> None:
        """Every role's default model must exist and be of the role's task; else the model that
        needs it is unavailable (a solution whose component is missing)."""
        changed = True
        while changed:  # dropping one model can make another unavailable
            changed = False
            for spec in list(self.models.values()):
                for role, need in spec.roles.items():
                    if need.task not in self.tasks:
                        why = f"its {role} must be a {need.task} model, and no plugin defines that task"
                    elif need.default is None:
                        continue
                    elif need.default not in self.models:
                        why = f"its {role} model {need.default!r} is not available"
                    elif self.models[need.default].task != need.task:
                        why = f"its {role} model {need.default!r} is a {self.models[need.default].task}, not a {need.task}"
                    else:
                        continue
                    self._drop(spec, why, f"(pass --{role.replace('_', '-')} MODEL, or install what provides it)")
                    changed = True
                    break

    def _collect(self, hook_name: str, add: Callable[..., None]) -> None:
        hook = getattr(self.zpm.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order
            owner = impl.plugin_name
            staged: list[tuple[Any, ...]] = []
            try:
                impl.function(register=lambda *args, _into=staged: _into.append(args))
            except Exception as err:  # a plugin that raises is skipped, never fatal
                self.zpm.record_failure(owner, hook_name, err)
                continue
            for args in staged:
                add(owner, *args)

    def _add_task(self, owner: str, task: TaskDef) -> None:
        if not isinstance(task, TaskDef):
            raise PluginError(f"plugin {owner!r} registered a task that is not a zoo.tasks.TaskDef: {task!r}")
        self._add_named(self.tasks, "task", owner, task.name, task)

    def _add_runtime(self, owner: str, runtime: Any) -> None:
        missing = [
            a
            for a in ("name", "formats", "extra", "unavailable_reason", "version", "options_for", "check", "load")
            if not hasattr(runtime, a)
        ]
        if missing:
            raise PluginError(
                f"plugin {owner!r} registered a runtime without {', '.join(missing)}; see zoo.runtimes.Runtime"
            )
        self._add_named(self.runtimes, "runtime", owner, runtime.name, runtime)

    def _add_named(self, table: dict[str, Owned], what: str, owner: str, name: str, obj: Any) -> None:
        if name in table:
            raise PluginError(
                f"{what} {name!r} is registered by both plugin {table[name].plugin!r} and plugin {owner!r}; "
                "uninstall one, or choose plugins with ZOO_PLUGINS"
            )
        table[name] = Owned(owner, obj)

    def _add_model(self, owner: str, spec: ModelSpec, solution: bool) -> None:
        if not isinstance(spec, ModelSpec):
            raise PluginError(f"plugin {owner!r} registered a model that is not a zoo.specs.ModelSpec: {spec!r}")
        if solution and (not spec.is_solution or any(r.default is None for r in spec.roles.values())):
            raise PluginError(
                f"plugin {owner!r} registered solution {spec.id!r} with components or a role without a default "
                "model; a solution is roles=, each with default=, and no components (register a model otherwise)"
            )
        spec = spec.model_copy(update={"plugin": owner})
        for name in (spec.id, *spec.aliases):
            holder = self.models.get(name) or self.models.get(self.aliases.get(name, ""))
            if holder is not None:
                kind = "id" if name == spec.id else "alias"
                raise PluginError(
                    f"model {kind} {name!r} is registered by both plugin {holder.plugin!r} ({holder.id}) "
                    f"and plugin {owner!r} ({spec.id}); uninstall one, or choose plugins with ZOO_PLUGINS"
                )
        self.models[spec.id] = spec
        for alias in spec.aliases:
            self.aliases[alias] = spec.id

    def _overlay(self, data: RegistryFile, path: Path) -> None:
        for model_id, entry in data.models.items():
            spec = self.models.get(model_id)
            if spec is None and model_id in self.unavailable:
                continue
            if spec is None:
                hint = (
                    f"pip install {entry.distribution}"
                    if entry.distribution
                    else f"install the package that provides plugin {entry.plugin!r}"
                )
                reason = f"plugin {entry.plugin!r} is not installed ({hint})"
                self.unavailable[model_id] = (entry, reason)
                continue
            if entry.plugin != spec.plugin:
                raise ConfigError(
                    f"{path}: key 'models.{model_id}.plugin' is {entry.plugin!r} but plugin {spec.plugin!r} "
                    f"defines {model_id!r}; set plugin: {spec.plugin}"
                )
            if entry.task != spec.task:
                raise ConfigError(
                    f"{path}: key 'models.{model_id}.task' is {entry.task!r} but the model is a "
                    f"{spec.task!r}; set task: {spec.task}"
                )
            try:
                merged = spec.with_overlay(entry.overlay())
            except ValidationError as err:
                first = err.errors()[0]
                raise ConfigError(f"{path}: key 'models.{model_id}.{_loc(first['loc'])}': {first['msg']}") from err
            for alias in set(merged.aliases) - set(spec.aliases):
                if alias in self.models or self.aliases.get(alias, model_id) != model_id:
                    raise ConfigError(f"{path}: key 'models.{model_id}.aliases': {alias!r} is already taken")
                self.aliases[alias] = model_id
            self.models[model_id] = merged

    # -- lookups --------------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        key = name.strip().lower()
        key = self.aliases.get(key, key)
        if key in self.models:
            return key
        if key in self.unavailable:
            entry, reason = self.unavailable[key]
            raise PluginError(f"model {key!r} ({entry.task}) is not available: {reason}")
        raise UnknownModelError(name, [*self.models, *self.aliases, *self.unavailable])

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[self.resolve(name)]
        except UnknownModelError:
            spec = self._resolve_dynamic(name)
            if spec is None:
                raise
            return spec

    # -- models named by where they are (resolve_model) ------------------------------------------
    def _resolve_dynamic(self, name: str) -> ModelSpec | None:
        """A model a plugin's ``resolve_model`` finds for ``name`` (remembered in the cache), or one
        remembered under this id or name; None if neither."""
        remembered = remembered_models()
        by_id = remembered.get(name.strip().lower())
        if by_id is not None:
            return self._adopt(by_id[0], by_id[1], name=None)
        found: tuple[str, ModelSpec] | None = None
        try:
            for impl in reversed(self.zpm.pm.hook.resolve_model.get_hookimpls()):  # pluggy's call order
                spec = impl.function(name=name)
                if spec is not None:
                    if not isinstance(spec, ModelSpec):
                        raise PluginError(f"plugin {impl.plugin_name!r} resolved {name!r} to {spec!r}, not a ModelSpec")
                    found = (impl.plugin_name, spec)
                    break
        except ZooError:
            by_name = next((v for v in remembered.values() if name in v[2]), None)
            if by_name is None:
                raise
            return self._adopt(by_name[0], by_name[1], name=None)  # the source is out of reach: what it gave last
        if found is None:
            return None
        return self._adopt(found[0], found[1], name=name)

    def _adopt(self, owner: str, spec: ModelSpec, name: str | None) -> ModelSpec:
        """Add a resolved spec (checked against its task like a registered one); with ``name``,
        remember it in the cache."""
        if owner not in dict(self.zpm.pm.list_name_plugin()):
            raise PluginError(f"model {spec.id!r} was resolved by plugin {owner!r}, which is not loaded now")
        spec = spec.model_copy(update={"plugin": owner})
        held = self.models.get(spec.id)
        if held is not None and held.plugin != owner:
            raise PluginError(f"plugin {owner!r} resolved a model {spec.id!r}, an id plugin {held.plugin!r} registered")
        problem = self.task(spec.task).spec_problem(spec)
        if problem:
            raise PluginError(f"plugin {owner!r} resolved {spec.id!r} with {problem} — a bug in that plugin")
        self.models[spec.id] = spec
        if name is not None:
            remember_model(owner, spec, name)
        return spec

    def task(self, name: str) -> TaskDef:
        if name not in self.tasks:
            raise UnknownTaskError(name, self.tasks)
        task: TaskDef = self.tasks[name].value
        return task

    def list(self, task: str | None = None) -> list[ModelSpec]:
        if (
            task is not None
            and task not in self.tasks
            and not any(e.task == task for e, _ in self.unavailable.values())
        ):
            raise UnknownTaskError(task, self.tasks)
        return [s for s in sorted(self.models.values(), key=lambda s: (s.task, s.id)) if task in (None, s.task)]

    def list_unavailable(self, task: str | None = None) -> Iterable[tuple[str, RegistryEntry, str]]:
        for model_id, (entry, reason) in sorted(self.unavailable.items()):
            if task in (None, entry.task):
                yield model_id, entry, reason

    def exporter(self, name: str) -> Any:
        if name not in self.exporters:
            close = ", ".join(difflib.get_close_matches(name, list(self.exporters), n=3, cutoff=0.5))
            raise PluginError(
                f"unknown export step {name!r} in a recipe{f'; did you mean {close}?' if close else ''} "
                f"(registered steps: {', '.join(self.exporters)}; `zoo plugins` lists them)"
            )
        return self.exporters[name].value

    def runtime(self, name: str, *, usable: bool = True) -> Any:
        """The registered runtime ``name``; with ``usable``, refused with one line when its library
        is missing (naming the extra)."""
        if name not in self.runtimes:
            raise PluginError(
                f"no runtime {name!r} is registered (known: {', '.join(self.runtimes) or 'none'}); "
                "install the plugin that provides it — `zoo plugins` lists the runtimes"
            )
        runtime = self.runtimes[name].value
        if usable:
            reason = runtime.unavailable_reason()
            if reason:
                raise MissingRuntimeError(f"runtime {name!r} is not usable here: {reason}")
        return runtime

    def build_torch_modules(self, spec: ModelSpec, weights: str | None) -> dict[str, Any]:
        """Ask only the owning plugin to build ``spec``: role → torch module, weights loaded.

        A random build (``weights`` None) is seeded first (torch, numpy, random: seed 0), so two
        random exports of the same model are byte-identical, as the card claims."""
        from zoo.deps import require

        require("torch", "export", "to build PyTorch models for export")
        if weights is None:
            seed_everything(0)
        built = self._owner_hook("build_model", spec)(spec=spec, weights=weights)
        if built is None:
            raise PluginError(f"plugin {spec.plugin!r} registered {spec.id!r} but its build_model returned None")
        modules = built if isinstance(built, dict) else {SINGLE: built}
        if set(modules) != set(spec.components):
            raise PluginError(
                f"plugin {spec.plugin!r} built components {sorted(modules)} for {spec.id!r}, "
                f"whose spec declares {sorted(spec.components)}"
            )
        return modules

    def build_torch_model(self, spec: ModelSpec, weights: str | None) -> Any:
        """The single network of a one-component model (see ``build_torch_modules``)."""
        return self.build_torch_modules(spec, weights)[SINGLE]

    def build_predictor(
        self,
        spec: ModelSpec,
        sessions: Mapping[str, Any],
        parts: Mapping[str, Predictor] | None = None,
        facts: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Predictor:
        """The owning plugin's own predictor for ``spec`` if it has one, else its task's.

        ``facts`` (role → constants the export recorded beside the component, e.g. a logit scale)
        become ``predictor.facts(role)``."""
        task = self.task(spec.task)
        own = self._owner_hook("build_predictor", spec)(spec=spec, task=task, sessions=sessions, parts=parts or {})
        predictor = own if own is not None else task.build_predictor(spec, sessions, parts)
        if facts:
            predictor.component_facts = {role: dict(f) for role, f in facts.items()}
        return predictor

    def _owner_hook(self, name: str, spec: ModelSpec) -> Any:
        pm = self.zpm.pm
        others = [p for plugin_name, p in pm.list_name_plugin() if plugin_name != spec.plugin]
        return pm.subset_hook_caller(name, remove_plugins=others)


REMEMBERED_MAX_BYTES = 1 << 20


def _remembered_dir() -> Path:
    from zoo.paths import cache_dir

    return cache_dir() / "models"


def remembered_models() -> dict[str, tuple[str, ModelSpec, list[str]]]:
    """Models resolved earlier (``resolve_model``): id → (plugin, spec, the names it was resolved
    from). Unreadable records are skipped (a cache, not a source of truth)."""
    import json

    out: dict[str, tuple[str, ModelSpec, list[str]]] = {}
    folder = _remembered_dir()
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            if path.stat().st_size > REMEMBERED_MAX_BYTES:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            spec = ModelSpec.model_validate(data["spec"])
            out[spec.id] = (str(data["plugin"]), spec, [str(n) for n in data.get("names", [])])
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
            continue
    return out


def remember_model(owner: str, spec: ModelSpec, name: str) -> None:
    """Record a resolved spec under its id; artifacts of other precisions resolved before (another
    file of the same repository) are kept beside the new ones."""
    import contextlib
    import json

    from zoo.paths import atomic_write_text

    before = remembered_models().get(spec.id)
    names = [name]
    if before is not None and before[0] == owner:
        names = list(dict.fromkeys([*before[2], name]))
        spec = spec.model_copy(update={"artifacts": {**before[1].artifacts, **spec.artifacts}})
    record = {"plugin": owner, "names": names[-32:], "spec": spec.model_dump(mode="json")}
    with contextlib.suppress(OSError, ZooError):  # a read-only cache only costs asking the source again
        atomic_write_text(_remembered_dir() / f"{spec.id}.json", json.dumps(record, indent=1))


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random (what a random build may draw from)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry, built once on first use."""
    return Registry.build(get_plugin_manager(), default_registry_path())


def reset() -> None:
    """Forget the cached plugin manager and registry (tests, or after installing a plugin)."""
    get_registry.cache_clear()
    get_plugin_manager.cache_clear()
