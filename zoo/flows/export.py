"""``zoo export``: each component of a model through its recipe's chain, then parity.

PyTorch → TorchScript → PNNX → ncnn (→ int8) for the ncnn runtime, PyTorch → ONNX for the
onnxruntime baseline. Everything is written into a temporary sibling folder that replaces the
target only when every step and the manifest are done; an existing target is replaced only if it
is a zoo export holding nothing but what zoo wrote.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.convert.chain import ExportContext, run_chain
from zoo.convert.manifest import MANIFEST, ComponentArtifact, ExportManifest
from zoo.errors import ConfigError, InputError
from zoo.flows.artifacts import (
    ExportResult,
    Progress,
    default_export_dir,
    describe,
    int8_suffix,
    load_sessions,
    resolve_weights,
)
from zoo.flows.parity import compare_pipelines, parity_items, record_inputs, torch_sessions
from zoo.paths import atomic_dir
from zoo.registry import Registry, get_registry
from zoo.specs import SINGLE, ModelSpec, TensorSpec

Transform = Callable[[Any], tuple[Any, dict[str, Any]]]


def check_target(out: Path) -> None:
    """An existing ``out`` may be replaced only if it is a zoo export and holds only what zoo wrote."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is a file; choose a new or empty directory with -o")
    present = {p.name for p in out.iterdir()}
    if not present:
        return
    if MANIFEST not in present:
        raise InputError(f"{out}: exists and is not a zoo export folder; choose a new or empty directory with -o")
    try:
        manifest = ExportManifest.load(out)
        ours = {a.file for a in manifest.artifacts} | {MANIFEST}
        ours |= {f"{s['step']}.json" for s in manifest.steps}
        ours |= {f"{s.get('component', SINGLE)}.{s['step']}.json" for s in manifest.steps}
    except ConfigError:
        ours = {MANIFEST}
    foreign = sorted(present - ours)
    if foreign:
        raise InputError(
            f"{out}: holds files zoo did not write ({', '.join(foreign[:3])}{'…' if len(foreign) > 3 else ''}); "
            "re-exporting would delete them — move them out or choose another directory with -o"
        )


def check_keep_float(
    registry: Registry, spec: ModelSpec, runtime: str, weights: str | None, names: Sequence[str]
) -> None:
    """Unknown --keep-float layer names are refused before any work when an fp32 export of the same
    weights is at hand (its .param names every layer); otherwise the int8 step refuses them right
    after the fp32 conversion."""
    import difflib

    from zoo.flows.artifacts import find_export
    from zoo.runtimes.ncnn.param import read_param

    fp32 = find_export(spec, runtime, "fp32", weights, registry=registry)
    if fp32 is None:
        return
    known = {layer.name for role in fp32.manifest.components for layer in read_param(fp32.file("param", role)).layers}
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.4)
            hint = f"; did you mean {', '.join(close)}?" if close else "; zoo sensitivity lists the layers"
            raise InputError(f"--keep-float {name}: {spec.id} has no such layer{hint}")


def check_free_space(folder: Path, modules: dict[str, Any]) -> None:
    """Refuse to start when the disk cannot hold the export (TorchScript + artifacts ≈ 3× the fp32
    weights): torch aborts the whole process when a write fails mid-save."""
    params = sum(int(p.numel()) for m in modules.values() for p in m.parameters())
    need = 3 * 4 * params + (16 << 20)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise InputError(
            f"{folder}: {free / 1e6:.0f} MB free, the export needs about {need / 1e6:.0f} MB; free space or choose -o elsewhere"
        )


def calibration_source(registry: Registry, spec: ModelSpec, calib: str | Path | None) -> tuple[list[Any], str]:
    """Items int8 calibration runs through the predictor, and their description for the card."""
    if calib is not None:
        from zoo.images import list_images

        paths = list_images(calib)
        return list(paths), f"{len(paths)} images from {calib}"
    task = registry.task(spec.task)
    if task.calibration_items is not None:
        items = list(task.calibration_items(spec))
        return items, f"{len(items)} items of the {task.name} task's calibration set"
    from zoo.images import calibration_images

    items = list(calibration_images())
    return items, f"{len(items)} crops of the embedded sample photos (parity inputs held out)"


def export(
    name: str,
    precision: str = "fp32",
    runtime: str | None = None,
    weights: str | None = None,
    out_dir: str | Path | None = None,
    calib: str | Path | None = None,
    method: str | None = None,
    keep_float: Sequence[str] = (),
    parity: bool = True,
    offline: bool = False,
    registry: Registry | None = None,
    progress: Progress | None = None,
    transform: Transform | None = None,
    variant: str | None = None,
) -> ExportResult:
    """Export ``name`` for ``runtime`` (default: the model's) in ``precision``; return the folder.

    ``transform`` (e.g. a compression method) maps the built torch model to the model to export
    plus facts for the manifest; ``variant`` names the result (its artifacts folder and card).
    """
    from zoo.convert.count import count_macs, count_params, count_sparsity
    from zoo.convert.steps import example_inputs, pnnx_version

    reg = registry or get_registry()
    spec = reg.get(name)
    if spec.is_solution:
        roles = ", ".join(f"{r}: {need.default}" for r, need in spec.roles.items())
        raise ConfigError(f"{spec.id} is a solution made of other models ({roles}); export those models")
    runtime = runtime or spec.runtime
    found = spec.recipe_for(runtime, precision)
    if found is None:
        reason = spec.unsupported_reason(precision, runtime)
        raise ConfigError(reason or f"{spec.id} {precision} is a prebuilt artifact, not exported: zoo pull {spec.id}")
    recipe_name, recipe = found
    rt = reg.runtime(recipe.runtime)
    if recipe.runtime == "ncnn" and precision == "int8":
        method = method or spec.int8_method
    int8_roles = [r for r, c in spec.components.items() if c.export_as.get(precision, precision) == "int8"]
    calib_items, calib_desc = calibration_source(reg, spec, calib) if int8_roles else ([], "")
    if keep_float:
        check_keep_float(reg, spec, runtime, weights, keep_float)
    weights_path, winfo = resolve_weights(spec, weights, offline)
    suffix = (f"-{variant}" if variant else "") + int8_suffix(spec, runtime, precision, method)
    out = Path(out_dir) if out_dir else default_export_dir(spec, runtime, precision, winfo, suffix)
    out = out.absolute()
    check_target(out)
    modules = reg.build_torch_modules(spec, weights_path)  # fails fast on a bad checkpoint
    facts: dict[str, Any] = {}
    if transform is not None:
        if set(modules) != {SINGLE}:
            raise ConfigError(f"{spec.id} has several components; compression works on one-network models")
        modules[SINGLE], facts = transform(modules[SINGLE])
    for module in modules.values():
        module.eval()
    check_free_space(out, modules)
    recorded: dict[str, list[dict[str, np.ndarray]]] = {}

    def calibration_for(role: str) -> Callable[[], Iterable[dict[str, np.ndarray]]]:
        def samples() -> Iterable[dict[str, np.ndarray]]:
            if not recorded:
                from zoo.images import load_image

                items = [load_image(i) if isinstance(i, Path) else i for i in calib_items]
                recorded.update(record_inputs(reg, spec, modules, items))
            return recorded[role]

        return samples

    with atomic_dir(out) as work:
        work = work.resolve()
        records: list[dict[str, Any]] = []
        components: dict[str, ComponentArtifact] = {}
        for role, comp in spec.components.items():
            comp_precision = comp.export_as.get(precision, precision)
            if comp_precision not in recipe.precisions:
                raise ConfigError(f"{spec.id}: component {role!r} exports as {comp_precision!r}, not in its recipe")
            steps, options = recipe.plan(comp_precision)
            if comp_precision == "int8" and "int8" in steps:
                options["int8"] = {**options.get("int8", {}), "method": method, "keep_float": list(keep_float)}
            ctx = ExportContext(
                spec=spec,
                role=role,
                precision=comp_precision,
                work_dir=work,
                model_factory=_constant(modules[role]),
                step_options=options,
                calibration=calibration_for(role) if comp_precision == "int8" else None,
            )
            files, step_records = run_chain(ctx, steps, reg.exporter, progress)
            final = list(step_records[-1]["outputs"]) if step_records else list(files)
            keep = {files[kind] for kind in final}
            for record in step_records:  # intermediates (TorchScript, fp32 before int8) are not shipped
                for produced in record["outputs"].values():
                    if work / produced["file"] not in keep:
                        (work / produced["file"]).unlink(missing_ok=True)
            records += step_records
            example = example_inputs(ctx)
            components[role] = ComponentArtifact(
                format=rt.formats[0],
                precision=comp_precision,
                files={kind: files[kind].name for kind in final},
                inputs=list(comp.inputs),
                outputs=_output_specs(modules[role], example, comp.outputs),
                runtime_options=rt.options_for(comp_precision),
                params=count_params(modules[role]),
                macs=count_macs(modules[role], example),
            )
        import torch

        extra: dict[str, Any] = dict(facts)
        if variant:
            extra["variant"] = variant
        if int8_roles:
            extra |= {
                "int8_method": method,
                "calibration": calib_desc,
                "calibration_count": len(calib_items),
                "keep_float": list(keep_float),
            }
        steps_all, options_all = recipe.plan(precision)
        manifest = ExportManifest(
            model=spec.id,
            task=spec.task,
            runtime=rt.name,
            precision=precision,
            recipe=recipe_name,
            recipe_steps=list(steps_all),
            recipe_options=options_all,
            components=components,
            steps=records,
            artifacts=[describe(work / name) for c in components.values() for name in c.files.values()],
            weights=winfo,
            params=sum(c.params or 0 for c in components.values()),
            macs=sum(c.macs or 0 for c in components.values()),
            sparsity=_sparsity(modules, count_sparsity),
            tool_versions={"torch": torch.__version__, "pnnx": pnnx_version(), rt.name: rt.version()},
            extra=extra,
        )
        if parity:
            if progress:
                progress("parity")
            manifest.parity = check_parity(reg, spec, modules, ExportResult(work, manifest))
        else:
            manifest.parity_reason = "parity check skipped (--no-parity)"
        manifest.save(work)
        if parity:  # the artifacts just loaded and ran here: no need to probe them in a child
            from zoo.flows.probe import manifest_key
            from zoo.integrity import remember_probed

            remember_probed(manifest_key(work))
    return ExportResult(out, manifest)


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def check_parity(registry: Registry, spec: ModelSpec, modules: dict[str, Any], exp: ExportResult) -> Any:
    """PyTorch fp32 vs the exported artifact, through the task's own predictor on real photos."""
    items, described = parity_items(registry, spec)
    sessions = load_sessions(exp, threads=1, registry=registry)
    try:
        return compare_pipelines(
            registry,
            spec,
            torch_sessions(spec, modules),
            sessions,
            items,
            "pytorch fp32, same weights",
            described,
            exp.manifest.runtime_options,
        )
    finally:
        for session in sessions.values():
            session.close()


def _output_specs(module: Any, example: tuple[Any, ...], declared: Sequence[TensorSpec]) -> list[TensorSpec]:
    """Output names (declared, else pnnx's out0, out1...) with the shapes PyTorch returns."""
    import torch

    with torch.no_grad():
        out = module(*example)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    names = [t.name for t in declared] or [f"out{i}" for i in range(len(outs))]
    if len(names) != len(outs):
        raise ConfigError(f"the spec names outputs {names} but the module returns {len(outs)}")
    return [TensorSpec(name=n, shape=tuple(int(d) for d in o.shape) or (1,)) for n, o in zip(names, outs, strict=True)]


def _sparsity(modules: dict[str, Any], count: Callable[[Any], float]) -> float:
    import torch

    return count(torch.nn.ModuleList(list(modules.values())))
