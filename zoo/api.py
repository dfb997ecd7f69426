"""The public functions: list, info, pull, export, load, bench. The CLI is a thin layer over these."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.card import Artifact, BenchResult, ModelCard, Parity, Stability, WeightsInfo, find_card
from zoo.errors import ConfigError, InputError, ZooError
from zoo.export.manifest import MANIFEST, ExportManifest
from zoo.images import calibration_images, list_images, load_image, sample_images
from zoo.paths import atomic_dir, cache_dir, sha256_file
from zoo.registry import Registry, get_registry
from zoo.runtime.ncnn_session import OPTIONS_BY_DTYPE, NcnnSession, ncnn_version
from zoo.specs import DTYPES, ModelSpec
from zoo.tasks import Result, TaskDef

RANDOM = "random"
Progress = Callable[[str], None]


# -- registry views ----------------------------------------------------------------------------
def list_models(task: str | None = None, registry: Registry | None = None) -> list[ModelSpec]:
    return (registry or get_registry()).list(task)


def info(name: str, registry: Registry | None = None) -> dict[str, Any]:
    """Spec, recipes, supported dtypes, and the latest cards of a model."""
    reg = registry or get_registry()
    spec = reg.get(name)
    from zoo.card import load_cards

    cards = [c for c in load_cards() if c.model == spec.id]
    return {
        "spec": spec.model_dump(mode="json"),
        "dtypes": {d: spec.unsupported_reason(d) or "supported" for d in DTYPES},
        "int8_method": spec.int8_method,
        "cards": [c.model_dump(mode="json") for c in cards],
    }


# -- weights -----------------------------------------------------------------------------------
def resolve_weights(spec: ModelSpec, weights: str | None, offline: bool = False) -> tuple[str | None, WeightsInfo]:
    """Where the weights come from. ``None`` means the registry's; never silently random."""
    if weights == RANDOM:
        return None, WeightsInfo(source=RANDOM, random=True, seed=0)
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
    return str(path), WeightsInfo(source=spec.weights.uri, sha256=sha256_file(path))


def pull(name: str, offline: bool = False, registry: Registry | None = None, progress: Any = None) -> Path:
    """Fetch the model's source weights into the cache (sha256-verified); return the local path."""
    spec = (registry or get_registry()).get(name)
    if spec.weights is None:
        raise ConfigError(
            f"{spec.id} has no published weights in registry.yaml; use --weights random with export/bench"
        )
    from zoo.sources import fetch

    return fetch(spec.weights, offline=offline, progress=progress)


def _weights_tag(info: WeightsInfo) -> str:
    return RANDOM if info.random else (info.sha256 or "unknown")[:12]


def default_export_dir(spec: ModelSpec, dtype: str, info: WeightsInfo, variant: str = "") -> Path:
    return cache_dir() / "artifacts" / spec.id / f"{dtype}{variant}-{_weights_tag(info)}"


# -- export ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportResult:
    folder: Path
    manifest: ExportManifest

    def file(self, role: str) -> Path:
        return self.manifest.file(self.folder, role)


def _check_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).exists())):
        raise InputError(f"{out}: exists and is not a zoo export folder; choose a new or empty directory with -o")


def calibration_source(calib: str | Path | None) -> tuple[list[np.ndarray] | list[Path], str]:
    if calib is None:
        return calibration_images(), "20 crops of the 4 embedded sample photos (parity inputs held out)"
    paths = list_images(calib)
    return paths, f"{len(paths)} images from {calib}"


def export(
    name: str,
    dtype: str = "fp32",
    weights: str | None = None,
    out_dir: str | Path | None = None,
    calib: str | Path | None = None,
    method: str | None = None,
    keep_float: Sequence[str] = (),
    parity: bool = True,
    offline: bool = False,
    registry: Registry | None = None,
    progress: Progress | None = None,
    transform: Callable[[Any], tuple[Any, dict[str, Any]]] | None = None,
    variant: str | None = None,
) -> ExportResult:
    """PyTorch → TorchScript → PNNX → ncnn (→ int8) for ``name`` in ``dtype``; returns the folder.

    ``transform`` (e.g. a compression method) maps the built torch model to the model to export
    plus facts for the manifest; ``variant`` names the result (its artifacts folder and card).
    """
    from zoo.bench.count import count_macs, count_params, count_sparsity
    from zoo.export.chain import describe_file, run_chain
    from zoo.export.steps import example_inputs, pnnx_version

    reg = registry or get_registry()
    spec = reg.get(name)
    method = method or spec.int8_method
    reason = spec.unsupported_reason(dtype)
    if reason:
        raise ConfigError(reason)
    task = reg.task(spec.task)
    calib_items: list[Any] = []
    calib_desc = ""
    if dtype == "int8":
        calib_items, calib_desc = calibration_source(calib)
    weights_path, winfo = resolve_weights(spec, weights, offline)
    suffix = (f"-{variant}" if variant else "") + (f"-{method}" if dtype == "int8" else "")
    out = Path(out_dir) if out_dir else default_export_dir(spec, dtype, winfo, suffix)
    _check_target(out)
    recipe = spec.recipes[dtype]
    step_options = {k: dict(v) for k, v in recipe.options.items()}
    if dtype == "int8":
        step_options["int8"] = {**step_options.get("int8", {}), "method": method, "keep_float": list(keep_float)}

    def calibration() -> Iterable[dict[str, np.ndarray]]:
        for item in calib_items:
            image = load_image(item) if isinstance(item, Path) else item
            tensor, _ = task.preprocess(image, spec.pre)
            yield {spec.input.name: tensor}

    from zoo.export.chain import ExportContext

    torch_model = reg.build_torch_model(spec, weights_path)  # fails fast on a bad checkpoint
    transform_facts: dict[str, Any] = {}
    if transform is not None:
        torch_model, transform_facts = transform(torch_model)
    with atomic_dir(out) as work:
        ctx = ExportContext(
            spec=spec,
            dtype=dtype,
            work_dir=work,
            model_factory=lambda: torch_model,
            step_options=step_options,
            calibration=calibration if dtype == "int8" else None,
        )
        files, records = run_chain(ctx, recipe.steps, reg.exporter, progress)
        if "param" not in files or "bin" not in files:
            raise ConfigError(f"{spec.id}: recipe {list(recipe.steps)} produced no ncnn param/bin; end it with 'pnnx'")
        for role, path in list(files.items()):
            if role not in ("param", "bin"):
                path.unlink(missing_ok=True)  # TorchScript is an intermediate: large and not needed on the Pi
                del files[role]
        model = ctx.model
        example = example_inputs(ctx)
        import torch

        extra: dict[str, Any] = dict(transform_facts)
        if variant:
            extra["variant"] = variant
        if dtype == "int8":
            extra |= {
                "int8_method": method,
                "calibration": calib_desc,
                "calibration_count": len(calib_items),
                "keep_float": list(keep_float),
            }
        manifest = ExportManifest(
            model=spec.id,
            task=spec.task,
            dtype=dtype,
            input_shapes=[list(s.shape) for s in spec.inputs],
            recipe={"steps": list(recipe.steps), "options": step_options},
            steps=records,
            files={role: path.name for role, path in files.items()},
            artifacts=[Artifact(**describe_file(p)) for p in files.values()],
            weights=winfo,
            params=count_params(model),
            macs=count_macs(model, example),
            sparsity=count_sparsity(model),
            tool_versions={"torch": torch.__version__, "pnnx": pnnx_version(), "ncnn": ncnn_version()},
            ncnn_options=OPTIONS_BY_DTYPE[dtype],
            extra=extra,
        )
        if parity:
            if progress:
                progress("parity")
            manifest.parity = check_parity(spec, task, model, files, dtype)
        else:
            manifest.parity_reason = "parity check skipped (--no-parity)"
        (work / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    return ExportResult(out, manifest)


def _flatten(outputs: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(o, np.float64).reshape(-1) for o in outputs])


def torch_outputs(model: Any, tensor: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(tensor))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return {name: o.numpy() for name, o in zip(names, outs, strict=False)}


def check_parity(spec: ModelSpec, task: TaskDef, model: Any, files: dict[str, Path], dtype: str) -> Parity:
    """Same weights, same real photos: PyTorch fp32 vs the ncnn artifact, raw outputs and results."""
    images = sample_images()
    session = NcnnSession(files["param"], files["bin"], threads=1, options=OPTIONS_BY_DTYPE[dtype])
    names = sorted(session.output_names, key=lambda s: (len(s), s))
    max_abs = mean_abs = 0.0
    min_cos = 1.0
    ref_results: list[Result] = []
    got_results: list[Result] = []
    for image in images:
        tensor, context = task.preprocess(image, spec.pre)
        ref = torch_outputs(model, tensor, names)
        got = session.run({spec.input.name: tensor})
        a = _flatten([ref[n] for n in names])
        b = _flatten([got[n].reshape(ref[n].shape) for n in names])
        diff = np.abs(a - b)
        max_abs = max(max_abs, float(diff.max()))
        mean_abs += float(diff.mean()) / len(images)
        denom = float(np.linalg.norm(a) * np.linalg.norm(b)) or 1.0
        min_cos = min(min_cos, float(a @ b) / denom)
        opts = dict(task.parity_options)
        ref_results.append(task.postprocess(ref, context, spec, opts))
        got_results.append(task.postprocess({n: got[n].reshape(ref[n].shape) for n in names}, context, spec, opts))
    session.close()
    return Parity(
        reference="pytorch fp32, same weights",
        n_inputs=len(images),
        inputs="embedded sample photos and their mirrors",
        max_abs_diff=max_abs,
        mean_abs_diff=mean_abs,
        min_cosine=min_cos,
        agreement=task.agreement(ref_results, got_results),
        ncnn_options=OPTIONS_BY_DTYPE[dtype],
    )


def ensure_export(
    name: str,
    dtype: str,
    weights: str | None,
    calib: str | Path | None = None,
    method: str | None = None,
    offline: bool = False,
    registry: Registry | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """The cached export for these weights and dtype, exporting it first if there is none."""
    reg = registry or get_registry()
    spec = reg.get(name)
    method = method or spec.int8_method
    _, winfo = resolve_weights(spec, weights, offline)
    folder = default_export_dir(spec, dtype, winfo, f"-{method}" if dtype == "int8" else "")
    if (folder / MANIFEST).is_file() and calib is None:
        return ExportResult(folder, ExportManifest.load(folder))
    return export(
        name, dtype, weights, folder, calib=calib, method=method, offline=offline, registry=reg, progress=progress
    )


# -- run ---------------------------------------------------------------------------------------
class Pipeline:
    """pre → ncnn → post for one model; call it on an image path or an RGB uint8 array."""

    def __init__(
        self, spec: ModelSpec, task: TaskDef, session: NcnnSession, export: ExportResult | None = None
    ) -> None:
        self.spec, self.task, self.session, self.export = spec, task, session, export

    def __call__(self, image: str | Path | np.ndarray, **options: Any) -> Result:
        rgb = load_image(image) if not isinstance(image, np.ndarray) else image
        tensor, context = self.task.preprocess(rgb, self.spec.pre)
        outputs = self.session.run({self.spec.input.name: tensor})
        opts = {**self.task.run_options, **{k: v for k, v in options.items() if v is not None}}
        return self.task.postprocess(outputs, context, self.spec, opts)

    def draw(self, image: np.ndarray, result: Result) -> np.ndarray:
        if self.task.draw is None:
            raise ZooError(f"the {self.task.name} task does not draw results")
        return self.task.draw(image, result)

    def close(self) -> None:
        self.session.close()


def load(
    name: str,
    dtype: str = "fp32",
    threads: int = 1,
    weights: str | None = None,
    artifacts: str | Path | None = None,
    registry: Registry | None = None,
) -> Pipeline:
    """A ready pipeline. ``artifacts`` points at an export folder (no torch needed on the device);
    otherwise the cached export for ``weights`` is used, exporting first if needed."""
    reg = registry or get_registry()
    spec = reg.get(name)
    if artifacts is not None:
        result = ExportResult(Path(artifacts), ExportManifest.load(Path(artifacts)))
    else:
        result = ensure_export(spec.id, dtype, weights, registry=reg)
    m = result.manifest
    session = NcnnSession(result.file("param"), result.file("bin"), threads=threads, options=m.ncnn_options)
    return Pipeline(spec, reg.task(spec.task), session, result)


# -- bench -------------------------------------------------------------------------------------
UNSTABLE_CV = 0.15
UNSTABLE_LOAD = 0.25


def _run_worker(job: dict[str, Any]) -> dict[str, Any]:
    """Time in a fresh process: only ncnn and numpy loaded, so RSS and load time are the model's."""
    proc = subprocess.run(
        [sys.executable, "-m", "zoo.bench.worker"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise ZooError(
            f"benchmark worker failed for {job['model']} ({job['dtype']}, {job['threads']} threads): {tail[0]}"
        )
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def stability(latency_cv: float, p90_over_median: float, other_load: float | None) -> Stability:
    reasons = []
    if latency_cv > UNSTABLE_CV:
        reasons.append(f"high spread (cv {latency_cv:.0%})")
    if p90_over_median > 1.5:
        reasons.append(f"long tail (p90 {p90_over_median:.1f}× median)")
    if other_load is not None and other_load > UNSTABLE_LOAD:
        reasons.append(f"other processes used {other_load:.0%} of the CPU")
    return Stability(unstable=bool(reasons), reasons=reasons, cv=latency_cv, other_cpu_load=other_load)


def bench_export(
    spec: ModelSpec,
    exp: ExportResult,
    threads: Sequence[int] = (1,),
    runs: int | None = None,
    warmup: int = 5,
    pipeline: bool = True,
    cards_root: Path | None = None,
    progress: Progress | None = None,
    card_model: str | None = None,
) -> ModelCard:
    """Time one export folder at each thread count; merge the results into its card and save it."""
    from zoo.bench.host import probe
    from zoo.bench.timing import summarize

    if any(t < 1 for t in threads):
        raise InputError("--threads takes positive integers, e.g. --threads 1,4")
    m = exp.manifest
    dtype = m.dtype
    hardware = probe()
    model_name = card_model or spec.id
    card = find_card(model_name, dtype, hardware, cards_root) or ModelCard(
        model=model_name, task=spec.task, hardware=hardware, input_resolution=spec.input.resolution, dtype=dtype
    )
    comments = []
    if m.weights.random:
        comments.append("random weights (seed 0): latency only")
    if dtype == "int8":
        comments.append(f"int8 {m.extra.get('int8_method')} calibrated on {m.extra.get('calibration')}")
    if "compression" in m.extra:
        comp = m.extra["compression"]
        comments.append(
            f"compressed: {comp['method']} {comp['options']}, est. {comp['compression_ratio']:.1f}× smaller"
        )
    card = card.model_copy(
        update={
            "plugin": spec.plugin,
            "hardware": hardware,
            "params": m.params,
            "macs": m.macs,
            "gflops": None if m.macs is None else round(2 * m.macs / 1e9, 3),
            "sparsity": m.sparsity,
            "sparsity_reason": None if m.sparsity is not None else "not measured",
            "runtime_version": ncnn_version(),
            "ncnn_options": m.ncnn_options,
            "recipe": m.recipe,
            "tool_versions": m.tool_versions,
            "artifacts": m.artifacts,
            "weights": m.weights,
            "parity": m.parity,
            "parity_reason": m.parity_reason,
            "comments": comments,
            "extra": {**card.extra, **m.extra},
        }
    )
    if m.weights.random:
        card.accuracy, card.accuracy_reason = [], "random weights"
    elif not card.accuracy:
        card.accuracy_reason = "not evaluated yet (zoo eval)"
    for t in threads:
        if progress:
            progress(f"{dtype} × {t} thread{'s' if t > 1 else ''}")
        job = {
            "model": spec.id,
            "dtype": dtype,
            "threads": t,
            "runs": runs,
            "warmup": warmup,
            "param": str(exp.file("param")),
            "bin": str(exp.file("bin")),
            "options": m.ncnn_options,
            "input": spec.input.name,
            "shape": list(spec.input.shape),
            "pipeline": pipeline,
        }
        out = _run_worker(job)
        lat = summarize(out["samples_ns"], warmup)
        result = BenchResult(
            threads=t,
            latency=lat,
            fps=1000.0 / lat.median_ms,
            pipeline_latency=summarize(out["pipeline_ns"], warmup) if out.get("pipeline_ns") else None,
            stability=stability(
                lat.stdev_ms / lat.mean_ms if lat.mean_ms else 0.0, lat.p90_ms / lat.median_ms, out.get("other_load")
            ),
            peak_rss_mb=out["peak_rss_mb"],
            load_time_ms=out["load_ms"],
            energy_j_per_inference=out.get("energy_j"),
            energy_reason=out.get("energy_reason"),
            date=out["date"],
        )
        card.merge_result(result)
    card.save(cards_root)
    return card


def bench(
    name: str,
    dtypes: Sequence[str] = ("fp32",),
    threads: Sequence[int] = (1,),
    runs: int | None = None,
    warmup: int = 5,
    weights: str | None = None,
    calib: str | Path | None = None,
    pipeline: bool = True,
    cards_root: Path | None = None,
    registry: Registry | None = None,
    progress: Progress | None = None,
) -> list[ModelCard]:
    """Benchmark ``name`` for every dtype × thread count; write and return one card per dtype."""
    reg = registry or get_registry()
    spec = reg.get(name)
    for dtype in dtypes:
        reason = spec.unsupported_reason(dtype)
        if reason:
            raise ConfigError(reason)
    if any(t < 1 for t in threads):
        raise InputError("--threads takes positive integers, e.g. --threads 1,4")
    cards = []
    for dtype in dtypes:
        exp = ensure_export(spec.id, dtype, weights, calib=calib, registry=reg, progress=progress)
        cards.append(bench_export(spec, exp, threads, runs, warmup, pipeline, cards_root, progress))
    return cards


def find_or_new_card(spec: ModelSpec, dtype: str, cards_root: Path | None = None) -> ModelCard:
    """This host's card for ``spec``/``dtype``, or a new empty one (not saved)."""
    from zoo.bench.host import probe

    hardware = probe()
    return find_card(spec.id, dtype, hardware, cards_root) or ModelCard(
        model=spec.id, task=spec.task, hardware=hardware, input_resolution=spec.input.resolution, dtype=dtype
    )


def update_card(
    spec: ModelSpec,
    dtype: str,
    exp: ExportResult | None,
    cards_root: Path | None = None,
    **fields: Any,
) -> ModelCard:
    """Set fields (accuracy, ARM parity...) on this host's card for ``spec``/``dtype``, creating it if needed."""
    card = find_or_new_card(spec, dtype, cards_root)
    if exp is not None and card.params is None:
        m = exp.manifest
        card.params, card.macs, card.weights, card.parity = m.params, m.macs, m.weights, m.parity
        card.gflops = None if m.macs is None else round(2 * m.macs / 1e9, 3)
        card.artifacts, card.recipe, card.ncnn_options = m.artifacts, m.recipe, m.ncnn_options
    for key, value in fields.items():
        setattr(card, key, value)
    card.save(cards_root)
    return card


# -- compress ----------------------------------------------------------------------------------
def compress(
    name: str,
    method: str,
    options: dict[str, Any] | None = None,
    weights: str | None = None,
    dtype: str = "fp32",
    threads: Sequence[int] = (1,),
    runs: int | None = None,
    bench_it: bool = True,
    cards_root: Path | None = None,
    registry: Registry | None = None,
    progress: Progress | None = None,
) -> tuple[ExportResult, ModelCard | None]:
    """Compress ``name`` with a zoo.compress method, export it through the same chain, bench it.

    The result is a variant named ``<model>@<method>`` with its own artifacts and card; the
    manifest records the compression report and fidelity against the uncompressed model (task
    agreement and min cosine of the PyTorch outputs on the embedded photos).
    """
    from zoo.compress.api import compress as run_compression
    from zoo.compress.api import parse_options

    reg = registry or get_registry()
    spec = reg.get(name)
    task = reg.task(spec.task)
    opts = dict(options or {})
    parse_options(method, {k: v for k, v in opts.items() if k != "calibration"})  # fail before any work
    tag = method + "".join(f"-{k}{v}" for k, v in sorted(opts.items()) if k != "calibration")
    if method == "ptq" and "calibration" not in opts:
        opts["calibration"] = [task.preprocess(img, spec.pre)[0] for img in calibration_images()]

    def transform(model: Any) -> tuple[Any, dict[str, Any]]:
        compressed, report = run_compression(model, method, **opts)
        names = [o.name for o in spec.outputs] or ["out0"]
        ref, got, min_cos = [], [], 1.0
        for image in sample_images():
            tensor, context = task.preprocess(image, spec.pre)
            a, b = torch_outputs(model, tensor, names), torch_outputs(compressed, tensor, names)
            fa, fb = _flatten(list(a.values())), _flatten(list(b.values()))
            min_cos = min(min_cos, float(fa @ fb) / (float(np.linalg.norm(fa) * np.linalg.norm(fb)) or 1.0))
            ref.append(task.postprocess(a, context, spec, {}))
            got.append(task.postprocess(b, context, spec, {}))
        fidelity = {
            "reference": "uncompressed pytorch model, same weights",
            "min_cosine": min_cos,
            **task.agreement(ref, got),
        }
        report_data = report.model_dump(mode="json", exclude={"activation_ranges"})
        return compressed.eval(), {"compression": report_data, "compression_fidelity": fidelity}

    exp = export(spec.id, dtype, weights, registry=reg, progress=progress, transform=transform, variant=tag)
    card = None
    if bench_it:
        card = bench_export(spec, exp, threads, runs, 5, True, cards_root, progress, card_model=f"{spec.id}@{tag}")
    return exp, card


# -- ARM verification --------------------------------------------------------------------------
def verify_arm(
    name: str,
    dtypes: Sequence[str] = ("fp32", "fp16", "int8"),
    weights: str | None = None,
    cpu: str = "cortex-a76",
    n_inputs: int = 1,
    ncnn_defaults: bool = False,
    cards_root: Path | None = None,
    registry: Registry | None = None,
) -> dict[str, dict[str, Any]]:
    """x86 ncnn vs emulated-ARM ncnn on each dtype's artifact; the result goes into each card.

    Each dtype runs with the artifact's own Option flags (what zoo bench runs); with
    ``ncnn_defaults`` also with ncnn's defaults (what a plain ncnn program on the Pi runs: fp16
    arithmetic on a Cortex-A76, several times slower to emulate).
    """
    from zoo.verify.arm import verify_arm as run_verify

    reg = registry or get_registry()
    spec = reg.get(name)
    task = reg.task(spec.task)
    inputs = [{spec.input.name: task.preprocess(img, spec.pre)[0]} for img in sample_images(n_inputs)]
    results: dict[str, dict[str, Any]] = {}
    for dtype in dtypes:
        exp = ensure_export(spec.id, dtype, weights, registry=reg)
        m = exp.manifest
        runs: dict[str, Any] = {}
        variants: list[tuple[str, dict[str, bool] | None]] = [("zoo-options", m.ncnn_options)]
        if ncnn_defaults:
            variants.append(("ncnn-default", None))
        for label, options in variants:
            parity = run_verify(exp.file("param"), exp.file("bin"), inputs, options=options, cpu=cpu)
            runs[label] = parity.model_dump(mode="json")
        results[dtype] = runs
        extra = {**find_or_new_card(spec, dtype, cards_root).extra, "arm_parity": runs}
        update_card(spec, dtype, exp, cards_root, extra=extra)
    return results


# -- int8 sensitivity --------------------------------------------------------------------------
def int8_sensitivity(
    name: str,
    weights: str | None = None,
    calib: str | Path | None = None,
    method: str | None = None,
    samples: int | None = 8,
    registry: Registry | None = None,
) -> list[dict[str, Any]]:
    """Which layers lose most in int8: output cosine vs fp32 with only that layer quantized,
    worst first. Calibrates on the task's own preprocessing, like the int8 export."""
    from zoo.export.int8 import layer_sensitivity

    reg = registry or get_registry()
    spec = reg.get(name)
    task = reg.task(spec.task)
    fp32 = ensure_export(spec.id, "fp32", weights, registry=reg)
    items, _ = calibration_source(calib)
    inputs = [
        {spec.input.name: task.preprocess(load_image(i) if isinstance(i, Path) else i, spec.pre)[0]} for i in items
    ]
    rows = layer_sensitivity(
        fp32.file("param"), fp32.file("bin"), inputs, method=method or spec.int8_method, limit=samples
    )
    return [r.model_dump() for r in rows]
