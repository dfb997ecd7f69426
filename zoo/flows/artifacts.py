"""Weights and export folders: where a model's weights come from, where its artifacts live, and
loading an export folder only after checking it.

An export folder is trusted for nothing: ``open_export`` checks that its manifest names the model,
runtime and precision asked for, that every file has the size and sha256 the manifest records,
and that the runtime accepts each component's files, before any runtime reads them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.card import Artifact, WeightsInfo
from zoo.convert.manifest import MANIFEST, ComponentArtifact, ExportManifest
from zoo.errors import ConfigError, InputError
from zoo.integrity import file_sha256
from zoo.paths import atomic_dir, cache_dir, sha256_file
from zoo.registry import Registry, get_registry
from zoo.specs import SINGLE, ModelSpec

RANDOM = "random"
RANDOM_SEED = 0
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportResult:
    """An export folder and its (checked) manifest."""

    folder: Path
    manifest: ExportManifest

    def files(self, role: str = SINGLE) -> dict[str, Path]:
        return self.manifest.files(self.folder, role)

    def file(self, kind: str, role: str = SINGLE) -> Path:
        return self.manifest.file(self.folder, kind, role)


# -- weights -----------------------------------------------------------------------------------
def resolve_weights(spec: ModelSpec, weights: str | None, offline: bool = False) -> tuple[str | None, WeightsInfo]:
    """Where the weights come from. ``None`` means the registry's; never silently random."""
    if weights == RANDOM:
        return None, WeightsInfo(source=RANDOM, random=True, seed=RANDOM_SEED)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise InputError(
                f"{weights}: no such weights file; pass --weights PATH to a checkpoint, or --weights random"
            )
        return str(path), WeightsInfo(source=str(path.resolve()), sha256=sha256_file(path))
    if spec.weights is None:
        raise ConfigError(
            f"{spec.id} has no published weights in registry.yaml; pass --weights PATH, or --weights random for latency only"
        )
    from zoo.sources import fetch

    path = fetch(spec.weights, offline=offline)
    return str(path), WeightsInfo(
        source=spec.weights.uri, sha256=file_sha256(path), license=spec.weights.license or spec.license
    )


def weights_tag(info: WeightsInfo) -> str:
    return RANDOM if info.random else (info.sha256 or "unknown")[:12]


def default_export_dir(spec: ModelSpec, runtime: str, precision: str, info: WeightsInfo, suffix: str = "") -> Path:
    return cache_dir() / "artifacts" / spec.id / f"{runtime}-{precision}{suffix}-{weights_tag(info)}"


def int8_suffix(spec: ModelSpec, runtime: str, precision: str, method: str | None) -> str:
    """int8 folders carry the calibration method: two methods are two different artifacts."""
    return f"-{method or spec.int8_method}" if (runtime, precision) == ("ncnn", "int8") else ""


# -- opening a folder --------------------------------------------------------------------------
def open_export(
    folder: str | Path,
    spec: ModelSpec | None = None,
    runtime: str | None = None,
    precision: str | None = None,
    registry: Registry | None = None,
    probe: bool = True,
) -> ExportResult:
    """Read and check an export folder (see the module docstring); one line on any mismatch.

    ``probe`` loads and runs it once in a child process first, unless that was already done for
    this manifest (zoo.flows.probe): a crafted file can then only kill the child."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{folder}: no such export folder; pass the folder zoo export wrote (it holds {MANIFEST})")
    manifest = ExportManifest.load(folder)
    if spec is not None and manifest.model != spec.id:
        raise ConfigError(
            f"{folder}: this export is of {manifest.model!r}, not {spec.id!r}; run zoo run {manifest.model} "
            f"--artifacts {folder}, or pass an export of {spec.id}"
        )
    if runtime is not None and manifest.runtime != runtime:
        raise ConfigError(f"{folder}: this export is for runtime {manifest.runtime!r}, not {runtime!r}")
    if precision is not None and manifest.precision != precision:
        raise ConfigError(
            f"{folder}: this export is {manifest.precision}, not {precision}; drop --dtype or pass --dtype {manifest.precision}"
        )
    if spec is not None:
        check_against_spec(folder, manifest, spec)
    verify_files(folder, manifest)
    reg = registry or get_registry()
    rt = reg.runtime(manifest.runtime, usable=False)
    for role, comp in manifest.components.items():
        if comp.format not in rt.formats:
            raise ConfigError(f"{folder}: component {role!r} is {comp.format!r}, which runtime {rt.name!r} cannot load")
        rt.check(comp.format, manifest.files(folder, role))
    if probe:
        from zoo.flows.probe import probe_in_child

        reg.runtime(manifest.runtime)  # a runtime whose library is missing is said so, not probed
        probe_in_child(folder)
    return ExportResult(folder, manifest)


def check_against_spec(folder: Path, manifest: ExportManifest, spec: ModelSpec) -> None:
    """The folder's components, inputs and declared outputs are the model's: a manifest edited to
    name another model, or another model's export, is refused before anything runs."""
    partial = manifest.extra.get("components")
    if set(manifest.components) != set(spec.components) and not (
        partial and set(partial) == set(manifest.components) and set(partial) < set(spec.components)
    ):
        raise ConfigError(
            f"{folder}: components {sorted(manifest.components)} do not match {spec.id}'s {sorted(spec.components)}"
        )
    for role, comp in spec.components.items():
        if role not in manifest.components:
            continue  # an export of some components only (zoo export --component)
        got = manifest.components[role]
        if comp.inputs and got.inputs and [(t.name, t.shape) for t in got.inputs] != [
            (t.name, t.shape) for t in comp.inputs
        ]:
            raise ConfigError(
                f"{folder}: component {role!r} takes {[(t.name, list(t.shape)) for t in got.inputs]}, but "
                f"{spec.id} takes {[(t.name, list(t.shape)) for t in comp.inputs]}; this is not an export of {spec.id}"
            )
        declared = {t.name: t.shape for t in comp.outputs}
        exported = {t.name: t.shape for t in got.outputs}
        if declared and exported and any(exported.get(n) != s for n, s in declared.items()):
            raise ConfigError(
                f"{folder}: component {role!r} outputs {exported}, but {spec.id} declares {declared}; "
                f"this is not an export of {spec.id}"
            )


def verify_files(folder: Path, manifest: ExportManifest) -> None:
    """Every file a component uses is listed with its size and sha256, and has them."""
    recorded = {a.file: a for a in manifest.artifacts}
    for role, comp in manifest.components.items():
        for kind, name in comp.files.items():
            if Path(name).name != name or name in ("", ".", ".."):
                raise ConfigError(f"{folder}/{MANIFEST}: component {role!r} file {name!r} is not a plain file name")
            artifact = recorded.get(name)
            if artifact is None:
                raise ConfigError(f"{folder}/{MANIFEST}: {name} ({role} {kind}) has no recorded sha256; export again")
            path = folder / name
            if not path.is_file():
                raise InputError(f"{path}: missing from the export folder; export again or copy the whole folder")
            size = path.stat().st_size
            if size != artifact.size or file_sha256(path) != artifact.sha256:
                raise InputError(
                    f"{path}: does not match its manifest (size {size} vs {artifact.size} bytes, or sha256); "
                    "the file is corrupt or was changed — export again"
                )


def describe(path: Path) -> Artifact:
    return Artifact(file=path.name, sha256=file_sha256(path), size=path.stat().st_size)


# -- ensuring one exists -----------------------------------------------------------------------
def ensure_export(
    name: str,
    precision: str | None = None,
    runtime: str | None = None,
    weights: str | None = None,
    calib: str | Path | None = None,
    method: str | None = None,
    offline: bool = False,
    registry: Registry | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """The cached export (or prebuilt artifact) for these weights, runtime and precision (default:
    the model's, ``ModelSpec.default_precision``), made first if there is none."""
    reg = registry or get_registry()
    spec = reg.get(name)
    runtime = runtime or spec.runtime
    precision = precision or spec.default_precision(runtime)
    reason = spec.unsupported_reason(precision, runtime)
    if reason:
        raise ConfigError(reason)
    if spec.recipe_for(runtime, precision) is None:
        return materialize_artifact(spec, precision, offline=offline, registry=reg, progress=progress)
    if calib is None:
        found = find_export(spec, runtime, precision, weights, method, registry=reg)
        if found is not None:
            return found
    _, winfo = resolve_weights(spec, weights, offline)
    folder = default_export_dir(spec, runtime, precision, winfo, int8_suffix(spec, runtime, precision, method))
    if (folder / MANIFEST).is_file() and calib is None:
        existing = open_export(folder, spec, runtime, precision, reg)
        if made_as_now(spec, existing.manifest, existing.manifest.extra.get("int8_method")):
            return existing  # else made by an older recipe or for other inputs: exported again below
    from zoo.flows.export import export

    return export(
        name, precision, runtime=runtime, weights=weights, out_dir=folder, calib=calib, method=method,
        offline=offline, registry=reg, progress=progress,
    )  # fmt: skip


def weights_match(spec: ModelSpec, weights: str | None, info: WeightsInfo) -> bool:
    """Whether an export made from ``info`` is one of ``weights`` (None: the registry's), decided
    without downloading the weights or importing torch."""
    if weights == RANDOM:
        return info.random
    if info.random:
        return False
    if weights is not None:
        path = Path(weights)
        return path.is_file() and info.sha256 == file_sha256(path)
    ref = spec.weights
    if ref is None or info.sha256 is None:
        return False
    if ref.sha256:
        return info.sha256 == ref.sha256
    return bool(ref.sha256_prefix) and info.sha256.startswith(ref.sha256_prefix or "") and info.source == ref.uri


def find_export(
    spec: ModelSpec,
    runtime: str,
    precision: str,
    weights: str | None,
    method: str | None = None,
    registry: Registry | None = None,
) -> ExportResult | None:
    """An export of ``spec`` for runtime/precision from these weights already in the cache — made
    here, or pulled from the Hub (``zoo pull hf://...``) — found without torch or a download.

    A model with no published weights (``weights`` None, none in the registry) runs from the
    export the user made from their own checkpoint (``zoo export NAME --weights PATH``): that is
    how such a model fills a role (``--detector yolov8n``); exports from several different
    checkpoints are one line naming them, never a silent pick."""
    root = cache_dir() / "artifacts" / spec.id
    if not root.is_dir():
        return None
    want_method = (method or spec.int8_method) if (runtime, precision) == ("ncnn", "int8") else None
    users_own = weights is None and spec.weights is None
    own: list[tuple[Path, ExportManifest]] = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        try:
            manifest = ExportManifest.load(folder)
        except ConfigError:
            continue
        if (manifest.runtime, manifest.precision) != (runtime, precision) or manifest.extra.get("variant"):
            continue
        if want_method is not None and manifest.extra.get("int8_method") != want_method:
            continue
        if not made_as_now(spec, manifest, want_method):
            continue
        if users_own:
            if not manifest.weights.random:
                own.append((folder, manifest))
        elif weights_match(spec, weights, manifest.weights):
            return open_export(folder, spec, runtime, precision, registry)
    checkpoints = {m.weights.sha256 or m.weights.source for _, m in own}
    if len(checkpoints) > 1:
        raise InputError(
            f"{spec.id} has no published weights and {root} holds {runtime} {precision} exports of it from "
            f"{len(checkpoints)} different checkpoints ({', '.join(sorted(m.weights.source for _, m in own))}); "
            f"pass --weights PATH to choose, or delete the exports you no longer want"
        )
    return open_export(own[0][0], spec, runtime, precision, registry) if own else None


def made_as_now(spec: ModelSpec, manifest: ExportManifest, method: str | None = None) -> bool:
    """Whether an export is what the spec's recipe would make now: the same recipe plan (steps and
    options, int8 method and options included) and each exported component traced for the inputs
    its spec declares (names, shapes, dtypes, dynamic axes). An export from an older zoo (other
    int8 options, a fixed shape where the spec is now dynamic) would run, but not as specified.
    A prebuilt artifact (no recipe) is what it is."""
    if not manifest.recipe:
        return True
    found = spec.recipe_for(manifest.runtime, manifest.precision)
    if found is not None:
        from zoo.flows.export import planned

        steps, options = planned(found[1], manifest.precision, method)
        if (manifest.recipe_steps, manifest.recipe_options) != (list(steps), json.loads(json.dumps(options))):
            return False
    declared = {role: comp.inputs for role, comp in spec.components.items()}
    return all(
        tuple(comp.inputs) == tuple(declared[role])
        for role, comp in manifest.components.items()
        if role in declared and comp.inputs
    )


def materialize_artifact(
    spec: ModelSpec,
    precision: str,
    offline: bool = False,
    registry: Registry | None = None,
    progress: Any = None,
) -> ExportResult:
    """A prebuilt artifact (a GGUF file...) as an export folder: each file fetched and verified
    (sha256 from the registry), hard-linked (or copied) into the folder, with a manifest whose
    recipe is None (nothing was exported)."""
    from zoo.sources import fetch

    reg = registry or get_registry()
    ref = spec.artifacts[precision]
    if set(spec.components) != {SINGLE}:
        raise ConfigError(f"{spec.id}: prebuilt artifacts are for one-component models")
    first = next(iter(ref.files.values()))
    tag = (first.sha256 or first.sha256_prefix or "prebuilt")[:12]  # a new upstream file is a new folder
    folder = cache_dir() / "artifacts" / spec.id / f"{ref.runtime}-{precision}-{tag}"
    if (folder / MANIFEST).is_file():
        return open_export(folder, spec, ref.runtime, precision, reg)
    fetched = {kind: fetch(w, offline=offline) for kind, w in ref.files.items()}
    rt = reg.runtime(ref.runtime, usable=False)
    rt.check(ref.format, fetched)  # a file that is not what it claims is named where it was downloaded to
    with atomic_dir(folder) as work:
        for path in fetched.values():
            target = work / path.name
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
        files = {kind: work / p.name for kind, p in fetched.items()}
        read_facts = getattr(rt, "describe", None)
        facts: dict[str, Any] = dict(read_facts(ref.format, files)) if callable(read_facts) else {}
        main = next(iter(ref.files.values()))
        manifest = ExportManifest(
            model=spec.id,
            task=spec.task,
            runtime=ref.runtime,
            precision=precision,
            recipe=None,
            components={
                SINGLE: ComponentArtifact(
                    format=ref.format,
                    precision=precision,
                    files={kind: p.name for kind, p in fetched.items()},
                    inputs=list(spec.component.inputs),
                    outputs=list(spec.component.outputs),
                    runtime_options=rt.options_for(precision),
                )
            },
            artifacts=[describe(work / p.name) for p in fetched.values()],
            weights=WeightsInfo(source=main.uri, sha256=file_sha256(next(iter(fetched.values()))),
                                license=main.license or spec.license),
            params=facts.get("params") if isinstance(facts.get("params"), int) else None,
            tool_versions={ref.runtime: rt.version()},
            parity_reason="prebuilt artifact: nothing was converted, so there is nothing to compare",
            extra={"model_facts": facts} if facts else {},
        )  # fmt: skip
        manifest.save(work)
    return open_export(folder, spec, ref.runtime, precision, reg)


# -- sessions ----------------------------------------------------------------------------------
def load_sessions(exp: ExportResult, threads: int, registry: Registry | None = None) -> dict[str, Any]:
    """One runtime session per component of a checked export folder; an exported one refuses inputs
    its export cannot take (``ShapeCheckedSession``)."""
    from zoo.runtimes import ShapeCheckedSession

    reg = registry or get_registry()
    rt = reg.runtime(exp.manifest.runtime)
    sessions: dict[str, Any] = {}
    try:
        for role, comp in exp.manifest.components.items():
            session = rt.load(comp.format, exp.files(role), threads=threads, options=comp.runtime_options,
                              outputs=comp.outputs, inputs=comp.inputs)  # fmt: skip
            names = getattr(session, "output_names", None)
            if comp.outputs and names is not None and sorted(names) != sorted(t.name for t in comp.outputs):
                session.close()
                raise ConfigError(
                    f"{exp.folder}: component {role!r} produces {sorted(names)}, its manifest says "
                    f"{sorted(t.name for t in comp.outputs)}; the files were changed — export again"
                )
            # inputs an exported graph cannot take fail in one line (one traced at a fixed shape would
            # compute garbage); a prebuilt artifact (no recipe) is its runtime's business
            checked = comp.inputs and exp.manifest.recipe is not None
            sessions[role] = (
                ShapeCheckedSession(session, comp.inputs, f"{exp.folder.name}/{role}") if checked else session
            )
    except BaseException:
        for session in sessions.values():
            session.close()
        raise
    return sessions
