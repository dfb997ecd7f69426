"""The ``zoo`` command: parse, call zoo.api, print. ``--json`` prints data only, on stdout.

Every error a user can cause is one line on stderr (``zoo: error: ...``): a ZooError exits 1, a
usage error 2. The options a task takes (``--top-k``, ``--conf``, ``--labels``...) and the models a
model needs by role (``--detector MODEL``) come from the task plugin and the spec, parsed after the
model is known, so no core module names a task.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from zoo.errors import InputError, ZooError

PRECISION_HELP = "fp32, fp16, int8 (ncnn), or a GGUF file type such as q4_k_m."
EXTRAS = {"ignore_unknown_options": True, "allow_extra_args": True}


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    # Markup off: model names, paths and messages print as they are ('zoo[onnx]' stays). Piped
    # output is not hard-wrapped at 80 columns.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, markup=False, soft_wrap=True, width=width)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _csv_ints(value: str, what: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise click.BadParameter(f"{what} takes comma-separated integers, e.g. 1,4") from err
    if not items or any(v < 1 for v in items):
        raise click.BadParameter(f"{what} takes positive integers, e.g. 1,4")
    return items


def _csv_names(value: str | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise click.BadParameter(f"{what} takes comma-separated names, e.g. fp32,int8")
    return items


def _threads(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[int] | None:
    return None if value is None else _csv_ints(value, "--threads")


def _positive(_ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise click.BadParameter(f"must be at least 1, got {value}")
    return value


class ZooGroup(click.Group):
    """Turns every error into one line on stderr and an exit code, in and out of standalone mode."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.ClickException as err:
            ctx = getattr(err, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            click.echo(f"zoo: error: {where}{_one_line(err.format_message())}", err=True)
            sys.exit(err.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("zoo: interrupted", err=True)
            sys.exit(130)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZooError as err:
            click.echo(f"zoo: error: {_one_line(str(err))}", err=True)
            ctx.exit(err.exit_code)


@click.group(cls=ZooGroup)
@click.version_option(package_name="zoo")
def cli() -> None:
    """A model zoo for edge CPUs: pull, convert to ncnn, run and benchmark models."""


# -- task options and roles, parsed once the model is known ------------------------------------
def _extras_command(spec: Any, task: Any, command: str, positional: str | None) -> click.Command:
    params: list[click.Parameter] = []
    for opt in task.options:
        if command in opt.commands:
            if opt.type is bool:
                params.append(click.Option([opt.flag + "/" + opt.flag.replace("--", "--no-", 1)], default=None,
                                           help=opt.help))  # fmt: skip
            else:
                params.append(click.Option([opt.flag], type=opt.type, default=None, help=opt.help))
    for role, need in spec.roles.items():
        default = f" (default {need.default})" if need.default else ""
        params.append(click.Option([f"--{role.replace('_', '-')}", f"role__{role}"], metavar="MODEL",
                                   help=f"the {need.task} model to use as {role}{default}"))  # fmt: skip
    if positional:
        params.append(click.Argument([positional], nargs=-1))
    return click.Command(f"{command} {spec.id}", params=params, add_help_option=False)


def _parse_extras(
    ctx: click.Context, spec: Any, task: Any, command: str, args: Sequence[str], positional: str | None = None
) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """(positional inputs, task options, role → model) from what the main command left over."""
    sub = _extras_command(spec, task, command, positional)
    try:
        parsed = sub.make_context(f"{ctx.command_path} {spec.id}", list(args), parent=ctx)
    except click.UsageError as err:
        takes = ", ".join(p.opts[0] for p in sub.params if isinstance(p, click.Option)) or "no extra options"
        raise click.UsageError(f"{err.format_message()} ({spec.id} takes: {takes})", ctx) from None
    values = dict(parsed.params)
    inputs = list(values.pop(positional, ()) if positional else ())
    roles = {k.removeprefix("role__"): v for k, v in values.items() if k.startswith("role__") and v}
    options = {k: v for k, v in values.items() if not k.startswith("role__") and v is not None}
    for name, value in options.items():
        task.option(name).validate(value)  # a bad --conf fails before any export or inference
    problem = task.options_problem(options) if command == "run" else None
    if problem:  # options that only make sense together (one of --labels/--labels-file), checked as early
        raise InputError(problem)
    return inputs, options, roles


def _check_precisions(spec: Any, precisions: Sequence[str | None], runtimes: Sequence[str | None]) -> None:
    """An unknown --dtype/--runtime is a usage error (exit 2), refused before any work."""
    from zoo.registry import get_registry

    reg = get_registry()
    for runtime in runtimes:
        if runtime is not None and runtime not in reg.runtimes:
            known = ", ".join(reg.runtimes)
            raise click.BadParameter(f"unknown runtime {runtime} (registered: {known})", param_hint="--runtime")
        if spec.is_solution:
            continue
        have = spec.precisions(runtime or spec.runtime)
        for precision in precisions:
            if precision is not None and precision not in have:
                where = runtime or spec.runtime
                raise click.BadParameter(
                    f"unknown dtype {precision} for {spec.id} on {where}; choose from {', '.join(have) or 'none'}",
                    param_hint="--dtype",
                )


def _spec_and_task(name: str) -> tuple[Any, Any]:
    from zoo.registry import get_registry

    reg = get_registry()
    spec = reg.get(name)
    return spec, reg.task(spec.task)


class _Status:
    """Long steps (export, pnnx, calibration, parity) shown on stderr as they happen."""

    def __init__(self, enabled: bool, prefix: str = "") -> None:
        self.enabled, self.prefix = enabled, prefix
        self.status: Any = None

    def __call__(self, step: str) -> None:
        if not self.enabled:
            return
        if self.status is None:
            self.status = _console(stderr=True).status("")
            self.status.start()
        self.status.update(f"{self.prefix}{step}…")
        _console(stderr=True).print(f"… {self.prefix}{step}", style="dim")

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()


def _load_predictor(spec_id: str, show_steps: bool, **kwargs: Any) -> Any:
    """``api.load`` with its long steps (export, calibration, parity) shown on stderr as they happen."""
    from zoo import api

    status = _Status(enabled=show_steps, prefix=f"{spec_id}: ")
    try:
        return api.load(spec_id, progress=status, **kwargs)
    finally:
        status.close()


# -- registry views ----------------------------------------------------------------------------
@cli.command("list")
@click.option("--task", help="Only models of this task (e.g. classifier, detector).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
def list_cmd(task: str | None, as_json: bool) -> None:
    """Models from the registry and every installed plugin."""
    from zoo.registry import get_registry

    reg = get_registry()
    specs = reg.list(task)
    missing = list(reg.list_unavailable(task))
    if as_json:
        rows = [
            {
                "id": s.id,
                "task": s.task,
                "plugin": s.plugin,
                "aliases": list(s.aliases),
                "input": s.input_resolution,
                "components": list(s.components),
                "roles": {r: {"task": n.task, "default": n.default} for r, n in s.roles.items()},
                "runtime": s.runtime,
                "precisions": s.precisions(),
                "weights": s.weights.uri if s.weights else None,
                "status": s.status,
                "available": True,
            }
            for s in specs
        ] + [{"id": i, "task": e.task, "plugin": e.plugin, "available": False, "reason": r} for i, e, r in missing]
        _print_json(rows)
        return
    from rich.table import Table

    table = Table(title="zoo models")
    for col in ("model", "task", "aliases", "input", "runs on", "weights", "plugin", "status"):
        table.add_column(col)
    for s in specs:
        made_of = ", ".join(f"{r}: {n.default or '--' + r}" for r, n in s.roles.items())
        table.add_row(
            s.id,
            s.task,
            ", ".join(s.aliases),
            s.input_resolution if not s.is_solution else f"({made_of})",
            ", ".join(s.runtimes()) if not s.is_solution else "its parts",
            "yes" if (s.weights or s.artifacts) else ("n/a" if s.is_solution else "random only"),
            s.plugin or "",
            s.status,
        )
    for model_id, entry, reason in missing:
        table.add_row(model_id, entry.task, "", "", "", "", entry.plugin, f"unavailable: {reason}")
    _console().print(table)


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def info(name: str, as_json: bool) -> None:
    """Spec, what it runs on, and its cards."""
    from zoo import api

    data = api.info(name)
    if as_json:
        _print_json(data)
        return
    spec = data["spec"]
    c = _console()
    c.print(f"{spec['id']} — {spec['description']}", style="bold")
    c.print(
        f"  task: {spec['task']} (plugin {spec['plugin']}); options: {', '.join(data['task']['options']) or 'none'}"
    )
    if spec["source"]:
        c.print(f"  source: {spec['source']}")
    for role, comp in spec["components"].items():
        shapes = ", ".join(
            f"{t['name']} {'x'.join(map(str, t['shape']))}"
            + ("" if t.get("dtype", "float32") == "float32" else f" {t['dtype']}")
            + (f" (axes {', '.join(map(str, t['dynamic_axes']))}: any multiple of {t.get('size_multiple', 1)})"
               if t.get("dynamic_axes") else "")
            for t in comp["inputs"]
        ) or "no tensors"  # fmt: skip
        c.print(f"  component {role}: {shapes}")
    for role, need in spec["roles"].items():
        c.print(f"  needs a {need['task']} as {role}: default {need['default'] or 'none (pass --' + role + ' MODEL)'}")
    weights = spec["weights"]
    none = "the prebuilt artifact (below)" if spec["artifacts"] else "none published (use --weights random)"
    if not spec["components"]:
        c.print("  weights: none of its own (a solution: each model in its roles has its own)")
    else:
        c.print(f"  weights: {weights['uri'] if weights else none}"
                + (f" ({weights['license']})" if weights and weights.get("license") else ""))  # fmt: skip
    if spec["pre"]:
        pre = spec["pre"]
        c.print(
            f"  pre: {pre['kind']} {pre['size'][0]}x{pre['size'][1]}, {pre['channel_order']}, scale {pre['scale']:.4g}"
        )
    if spec["post"]:
        params = ", ".join(f"{k}={v}" for k, v in spec["post"]["params"].items() if not isinstance(v, list))
        c.print(f"  post: {spec['post']['decoder']}" + (f" ({params})" if params else ""))
    for runtime, states in data["runtimes"].items():
        for precision, state in states.items():
            recipe = next(
                (r for r in spec["recipes"].values() if r["runtime"] == runtime and precision in r["precisions"]), None
            )
            how = (
                " → ".join(list(recipe["steps"]) + list(recipe["precisions"][precision]["steps"]))
                if recipe
                else "prebuilt"
            )
            extra = f", calibration {data['int8_method']}" if precision == "int8" and runtime == "ncnn" else ""
            c.print(f"  {runtime} {precision}: {state} ({how}{extra})")
            artifact = spec["artifacts"].get(precision) if not recipe else None
            for role, ref in (artifact["files"].items() if artifact else []):
                facts = [f"sha256 {ref['sha256'][:12]}…" if ref.get("sha256") else "sha256 from the source's metadata",
                         f"{ref['size'] / 1e6:.1f} MB" if ref.get("size") else "",
                         f"{len(ref['parts'])} parts" if ref.get("parts") else "",
                         f"licence {ref['license']}" if ref.get("license") else ""]  # fmt: skip
                c.print(f"    {role}: {ref['uri']} ({', '.join(f for f in facts if f)})")
    c.print(f"  cards: {len(data['cards'])}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json: bool) -> None:
    """Loaded plugins and what each registered; plugins that failed, and why."""
    from zoo.registry import get_registry

    reg = get_registry()
    zpm = reg.zpm
    rows: list[dict[str, Any]] = []
    for name, plugin_info in zpm.infos.items():
        if not zpm.pm.has_plugin(name):
            continue
        rows.append(
            {
                "name": name,
                "distribution": plugin_info.distribution,
                "version": plugin_info.version,
                "module": plugin_info.module,
                "tasks": [t for t, o in reg.tasks.items() if o.plugin == name],
                "models": [m.id for m in reg.models.values() if m.plugin == name and not m.is_solution],
                "solutions": [m.id for m in reg.models.values() if m.plugin == name and m.is_solution],
                "exporters": [t for t, o in reg.exporters.items() if o.plugin == name],
                "runtimes": [t for t, o in reg.runtimes.items() if o.plugin == name],
                "power_meters": [t for t, o in reg.power_meters.items() if o.plugin == name],
            }
        )
    runtimes = {
        name: {"plugin": o.plugin, "formats": list(o.value.formats), "extra": o.value.extra,
               "unavailable": o.value.unavailable_reason()}
        for name, o in reg.runtimes.items()
    }  # fmt: skip
    failures = [
        {"name": f.name, "distribution": f.distribution, "stage": f.stage, "error": f.error} for f in zpm.failures
    ]
    if as_json:
        _print_json({"plugins": rows, "runtimes": runtimes, "failures": failures})
        return
    c = _console()
    for r in rows:
        c.print(f"{r['name']} ({r['distribution']} {r['version']}, {r['module']})", style="bold")
        for key in ("tasks", "models", "solutions", "exporters", "runtimes", "power_meters"):
            if r[key]:
                c.print(f"  {key}: {', '.join(r[key])}")
    for name, rt in runtimes.items():
        state = "ready" if rt["unavailable"] is None else f"unavailable: {rt['unavailable']}"
        c.print(f"runtime {name} ({', '.join(rt['formats'])}; extra {rt['extra']}): {state}")
    for f in failures:
        c.print(f"FAILED {f['name']} ({f['distribution']}) at {f['stage']}: {f['error']}", style="red")


# -- pull / export -----------------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("--offline", is_flag=True, help="Use the cache only; never touch the network.")
@click.option("--json", "as_json", is_flag=True)
def pull(name: str, offline: bool, as_json: bool) -> None:
    """Fetch a model's weights or prebuilt artifact (sha256-verified, cached), or with
    hf://ORG/REPO[@REV] the exports pushed there (then zoo run/bench use them, no torch needed)."""
    from zoo import api

    if api.is_repo_uri(name):
        from zoo.flows.hub import describe_pulled, pull_exports

        pulled = describe_pulled(pull_exports(name, offline=offline))
        if as_json:
            _print_json(pulled)
        else:
            for p in pulled:
                click.echo(f"{p['model']} {p['runtime']} {p['precision']} → {p['folder']}")
        return
    bar = _LazyDownloadBar(f"pull {name}", enabled=not as_json)
    try:
        path = api.pull(name, offline=offline, progress=bar.update)
    finally:
        bar.close()
    model = api.info(name)["spec"]["id"] if "://" in name else name
    if as_json:
        _print_json({"model": model, "name": name, "path": str(path)})
    else:
        click.echo(str(path))
        if model != name:
            _console(stderr=True).print(f"{name} is model {model}: zoo run {model} ... / zoo bench {model}", style="dim")


class _LazyDownloadBar:
    """A rich progress bar that appears only once bytes actually flow (not on a cache hit or error)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.bar: Any = None
        self.task_id: Any = None

    def update(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

            self.bar = Progress(
                *Progress.get_default_columns(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=_console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task_id = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task_id, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


_WEIGHTS_HELP = "Checkpoint PATH, or 'random' (latency only; the card says so). Default: the registry's weights."


@cli.command()
@click.argument("name")
@click.option("--dtype", "precision", help=PRECISION_HELP + " Default: fp32, or the model's first prebuilt artifact.")
@click.option("--runtime", help="Runtime to export for (default: the model's, usually ncnn; onnxruntime too).")
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default: the zoo cache).")
@click.option("--calib", type=click.Path(path_type=Path), help="int8: folder of calibration images.")
@click.option(
    "--method",
    type=click.Choice(["minmax", "kl", "aciq"]),
    help="int8 activation ranges (default: the model's own, see `zoo info`; kl unless its recipe says).",
)
@click.option("--keep-float", multiple=True, help="int8: ncnn layer name to keep in float (repeatable).")
@click.option("--no-parity", is_flag=True, help="Skip the PyTorch-vs-runtime parity check.")
@click.option(
    "--component", "components", multiple=True,
    help="Export only this component (repeatable), e.g. a CLIP's image tower for a board that only embeds images.",
)  # fmt: skip
@click.option("--offline", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def export(
    name: str,
    precision: str | None,
    runtime: str | None,
    weights: str | None,
    out_dir: Path | None,
    calib: Path | None,
    method: str | None,
    keep_float: tuple[str, ...],
    no_parity: bool,
    components: tuple[str, ...],
    offline: bool,
    as_json: bool,
) -> None:
    """PyTorch → TorchScript → PNNX → ncnn (or → ONNX), with a parity check against PyTorch."""
    from zoo import api
    from zoo.card import fmt_agreement

    _check_precisions(_spec_and_task(name)[0], [precision], [runtime])

    status = _Status(enabled=not as_json)
    try:
        result = api.export(
            name,
            precision,
            runtime=runtime,
            weights=weights,
            out_dir=out_dir,
            calib=calib,
            method=method,
            keep_float=keep_float,
            parity=not no_parity,
            offline=offline,
            progress=status,
            only_components=components or None,
        )
    finally:
        status.close()
    m = result.manifest
    if as_json:
        _print_json({"folder": str(result.folder), **m.model_dump(mode="json")})
        return
    c = _console()
    c.print(f"exported {m.model} ({m.runtime} {m.precision}) → {result.folder}")
    for a in m.artifacts:
        c.print(f"  {a.file}  {a.size / 1e6:.2f} MB  sha256 {a.sha256[:16]}…")
    c.print(f"  params {m.params or 0:,}  MACs {(m.macs or 0) / 1e9:.3f} G  weights {m.weights.source}")
    if m.parity:
        agree = ", ".join(f"{k} {fmt_agreement(k, v)}" for k, v in m.parity.agreement.items())
        c.print(
            f"  parity vs PyTorch: max|Δ| {m.parity.max_abs_diff:.3g}, min cosine {m.parity.min_cosine:.6f}, {agree}"
        )


# -- run -----------------------------------------------------------------------------------------
@cli.command(context_settings=EXTRAS)
@click.argument("name")
@click.option(
    "--dtype", "precision",
    help=PRECISION_HELP + " Default: fp32 (or the model's first prebuilt artifact), or what --artifacts holds.",
)  # fmt: skip
@click.option("--runtime", help="Runtime (default: the model's).")
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("--artifacts", type=click.Path(path_type=Path), help="An export folder to run (no torch needed).")
@click.option("--threads", type=int, callback=_positive, help="Threads (default: the physical cores).")
@click.option("--max-frames", type=int, callback=_positive, help="Stop after this many frames.")
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), help="Annotated image, folder or video.")
@click.option("--json", "as_json", is_flag=True, help="JSON only: one object, or JSON lines for many frames.")
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    precision: str | None,
    runtime: str | None,
    weights: str | None,
    artifacts: Path | None,
    threads: int | None,
    max_frames: int | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Run a model: zoo run NAME SOURCE [task options] — SOURCE an image, folder, glob, video or
    camera index; a prompt for text models. Prints the results (or draws them with -o)."""

    spec, task = _spec_and_task(name)
    _check_precisions(spec, [precision], [runtime])
    inputs, options, roles = _parse_extras(ctx, spec, task, "run", ctx.args, "inputs")
    if not inputs:
        what = "a prompt" if task.input == "text" else "a SOURCE (image, folder, glob, video or camera index)"
        raise click.UsageError(
            f"missing {what}: zoo run {spec.id} {'PROMPT' if task.input == 'text' else 'SOURCE'}", ctx
        )
    if task.input == "text":
        source, sink, item = None, None, " ".join(inputs)
    else:
        from zoo.media import open_sink, open_source

        source = open_source(inputs[0], max_frames=max_frames)  # a bad SOURCE fails before any export
        sink = open_sink(out, like=source) if out is not None else None
        if task.input == "image+text":
            if len(inputs) < 2:
                raise click.UsageError(f"missing a prompt: zoo run {spec.id} SOURCE PROMPT", ctx)
            options["prompt"] = " ".join(inputs[1:])
        elif len(inputs) > 1:
            raise click.UsageError(f"one SOURCE, got {len(inputs)}: {' '.join(inputs)}", ctx)
    predictor = _load_predictor(spec.id, not as_json, dtype=precision, runtime=runtime, threads=threads,
                                weights=weights, artifacts=artifacts, roles=roles)  # fmt: skip
    from zoo.flows.run import export_of

    exp = export_of(predictor)  # a solution's: its first part's
    random_note = exp is not None and exp.manifest.weights.random and not as_json
    meta = {"model": spec.id, "dtype": exp.manifest.precision if exp else precision, "runtime": exp.manifest.runtime
            if exp else runtime, "weights": exp.manifest.weights.source if exp else None}  # fmt: skip
    try:
        if source is None:
            streaming = None if as_json else getattr(predictor, "stream", None)
            if callable(streaming):
                _print_stream(streaming(item, **options))
                return
            result = predictor(item, **options)
            _print_json({**meta, "prompt": item, **result.to_dict()}) if as_json else click.echo(result.summary())
        else:
            _run_frames(predictor, source, sink, options, meta, as_json)
        if random_note:  # after the results: an error stays the only line on stderr
            _console(stderr=True).print("note: random weights — these results mean nothing", style="yellow")
    finally:
        predictor.close()
        if source is not None:
            source.close()
        if sink is not None:
            sink.close()
            if not as_json:
                _console(stderr=True).print(sink.description, style="dim")


@cli.command(context_settings=EXTRAS)
@click.argument("name")
@click.option(
    "--dtype", "precision", help=PRECISION_HELP + " Default: fp32 (or the model's first prebuilt artifact)."
)
@click.option("--runtime", help="Runtime (default: the model's).")
@click.option("--artifacts", type=click.Path(path_type=Path), help="An export folder to run.")
@click.option("--threads", type=int, callback=_positive, help="Threads (default: the physical cores).")
@click.pass_context
def chat(
    ctx: click.Context, name: str, precision: str | None, runtime: str | None, artifacts: Path | None,
    threads: int | None,
) -> None:  # fmt: skip
    """A conversation with a text model, in its own chat template: type a message and Enter; the
    answer streams. /reset starts over, /exit or Ctrl-D ends. Task options (e.g. --system) apply
    to every turn."""

    spec, task = _spec_and_task(name)
    cannot = f"{spec.id} is a {spec.task} model, whose predictor does not chat; use zoo run {spec.id}"
    from zoo.tasks import SimplePredictor

    factory = task.predictor or SimplePredictor
    if isinstance(factory, type) and not hasattr(factory, "chat"):
        raise InputError(cannot)  # said before any download or export
    _check_precisions(spec, [precision], [runtime])
    _, options, roles = _parse_extras(ctx, spec, task, "chat", ctx.args)
    predictor = _load_predictor(spec.id, True, dtype=precision, runtime=runtime, threads=threads,
                                artifacts=artifacts, roles=roles)  # fmt: skip
    try:
        if not callable(getattr(predictor, "chat", None)):
            raise InputError(cannot)
        _chat_loop(predictor, options)
    finally:
        predictor.close()


def _chat_loop(predictor: Any, options: dict[str, Any]) -> None:
    """Read a line, stream the answer, keep the history; a turn that fails (a conversation grown
    past the context) is one error line and the conversation goes on without it."""
    stdin = sys.stdin
    err = _console(stderr=True)
    interactive = stdin.isatty()
    if interactive:
        err.print("/reset starts over, /exit or Ctrl-D ends", style="dim")
    messages: list[dict[str, str]] = []
    while True:
        if interactive:
            click.echo("> ", nl=False, err=True)
        line = stdin.readline()
        if not line or line.strip() in ("/exit", "/quit"):
            return
        text = line.strip()
        if not text:
            continue
        if text == "/reset":
            messages.clear()
            predictor.reset()
            err.print("(new conversation)", style="dim")
            continue
        turn = [*messages, {"role": "user", "content": text}]
        try:
            _, answer = _print_stream(predictor.chat(turn, **options))
        except ZooError as error:
            click.echo(f"zoo: error: {_one_line(str(error))}", err=True)
            continue
        messages = [*turn, {"role": "assistant", "content": answer}]


def _print_stream(stream: Any) -> tuple[Any, str]:
    """Print a predictor's text pieces as they come, then the result's one-line stats on stderr;
    (the finished result, the whole text)."""
    out = sys.stdout
    pieces = []
    for piece in stream:
        pieces.append(piece)
        out.write(piece)
        out.flush()
    out.write("\n")
    out.flush()
    result = getattr(stream, "result", None)
    stats = getattr(result, "stats", None)
    if callable(stats):
        _console(stderr=True).print(f"[{stats()}]", style="dim")
    return result, "".join(pieces)


def _run_frames(predictor: Any, source: Any, sink: Any, options: dict[str, Any], meta: dict[str, Any],
                as_json: bool) -> None:  # fmt: skip
    """One result per frame, streamed: a summary (one line per frame for many frames) or JSON.
    A single image through a predictor that streams text (a VLM) prints the answer as it comes."""
    from zoo.flows.run import stream

    single = source.length == 1 and source.kind == "image"
    if single and not as_json and callable(getattr(predictor, "stream", None)):
        frame = next(iter(source))
        result, _ = _print_stream(predictor.stream(frame.image, **options))
        if sink is not None and result is not None:
            sink.write(frame, result.draw(frame.image))
        return
    bar, advance = _frame_progress(source, enabled=not single and not as_json)
    try:
        for frame, result in stream(predictor, source, **options):
            times = {k: round(v, 2) for k, v in predictor.times.items()}
            if as_json:
                record = {**meta, "image" if single else "frame": frame.name, **result.to_dict(), "times_ms": times}
                click.echo(json.dumps(record, default=str, indent=2 if single else None))
            elif single:
                click.echo(result.summary())
            else:
                first = result.summary().splitlines()
                click.echo(
                    f"{frame.name}: {first[0] if first else ''}"
                    + (f" (+{len(first) - 1} more)" if len(first) > 1 else "")
                )
            if sink is not None:
                sink.write(frame, result.draw(frame.image))
            advance()
    finally:
        if bar is not None:
            bar.stop()


def _frame_progress(source: Any, enabled: bool) -> tuple[Any, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    from rich.progress import Progress

    bar = Progress(console=_console(stderr=True), transient=True)
    task_id = bar.add_task(source.description, total=source.length)
    bar.start()
    return bar, lambda: bar.advance(task_id)


# -- embed ---------------------------------------------------------------------------------------
def _offers_embed(spec: Any) -> bool | None:
    """Whether the model's predictor has ``embed`` (asked of one built without sessions, before
    any export); None when that cannot be told before loading."""
    from zoo.registry import get_registry

    try:
        probe = get_registry().build_predictor(spec, {}, {})
    except Exception:  # a predictor that needs its sessions or parts to be built: ask it after loading
        return None
    return callable(getattr(probe, "embed", None))


@cli.command()
@click.argument("name")
@click.option("--image", "image_source", help="An image, folder, glob or video: one embedding per image or frame.")
@click.option("--text", "texts", multiple=True, help="A text to embed (repeatable).")
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), help="Save the (N, D) float32 matrix as .npy.")
@click.option("--dtype", "precision", help=PRECISION_HELP + " Default: fp32, or what --artifacts holds.")
@click.option("--runtime", help="Runtime (default: the model's).")
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("--artifacts", type=click.Path(path_type=Path), help="An export folder to run (no torch needed).")
@click.option("--threads", type=int, callback=_positive, help="Threads (default: the physical cores).")
@click.option("--max-frames", type=int, callback=_positive, help="Stop after this many images or frames.")
@click.option("--json", "as_json", is_flag=True, help="JSON only, every vector in full.")
def embed(
    name: str,
    image_source: str | None,
    texts: tuple[str, ...],
    out: Path | None,
    precision: str | None,
    runtime: str | None,
    weights: str | None,
    artifacts: Path | None,
    threads: int | None,
    max_frames: int | None,
    as_json: bool,
) -> None:
    """L2-normalised embeddings of images (--image SOURCE) or texts (--text "..."), printed or saved
    with -o as .npy; for models whose predictor offers ``embed`` (e.g. zero-shot models)."""
    from zoo.results import Embeddings

    spec, task = _spec_and_task(name)
    _check_precisions(spec, [precision], [runtime])
    if (image_source is None) == (not texts):
        raise click.UsageError("give --image SOURCE or --text TEXT (one kind per call)")
    if out is not None and out.suffix != ".npy":
        raise click.BadParameter(f"{out}: embeddings are saved as .npy; name the file *.npy", param_hint="-o")
    if _offers_embed(spec) is False:
        raise InputError(f"{spec.id} is a {task.name} model and has no embeddings; zoo embed takes models whose "
                         "predictor offers embed (e.g. zero-shot models: zoo list --task zero-shot)")  # fmt: skip
    source = None
    if image_source is not None:
        from zoo.media import open_source

        source = open_source(image_source, max_frames=max_frames)  # a bad SOURCE fails before any export
    predictor = _load_predictor(spec.id, not as_json, dtype=precision, runtime=runtime, threads=threads,
                                weights=weights, artifacts=artifacts)  # fmt: skip
    try:
        embed_one: Any = getattr(predictor, "embed", None)
        if not callable(embed_one):
            raise InputError(f"{spec.id} is a {task.name} model and has no embeddings (its predictor offers no embed)")
        parts = []
        if source is not None:
            for frame in source:
                parts.append(embed_one(frame.image).with_sources([frame.name]))
        else:
            parts = [embed_one(text) for text in texts]
        result = Embeddings.stack(parts)
    finally:
        predictor.close()
        if source is not None:
            source.close()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        result.save(out)
    if as_json:
        _print_json({"model": spec.id, **({"saved": str(out)} if out is not None else {}), **result.to_dict()})
        return
    click.echo(result.summary() + (f" → {out}" if out is not None else ""))
    if out is None:
        for source_name, row in zip(result.sources, result.vectors, strict=True):
            head = ", ".join(f"{v:.4f}" for v in row[:6])
            click.echo(f"{source_name}: [{head}{', …' if len(row) > 6 else ''}]")


# -- bench / table -----------------------------------------------------------------------------
@cli.command(context_settings=EXTRAS)
@click.argument("name", required=False)
@click.option("--task", help="Benchmark every model of this task.")
@click.option(
    "--dtype", "precisions",
    help="Comma-separated: fp32,fp16,int8 (or GGUF types). Default: fp32, or the model's first prebuilt artifact.",
)  # fmt: skip
@click.option("--runtime", "runtimes", help="Comma-separated runtimes, e.g. ncnn,onnxruntime (default: the model's).")
@click.option("--threads", callback=_threads, help="Comma-separated thread counts, e.g. 1,4 (default: physical cores).")
@click.option("--runs", type=int, callback=_positive, help="Timed runs (default: adaptive, ≥30 runs and ≥2 s).")
@click.option("--warmup", default=5, show_default=True, type=click.IntRange(min=0))
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("--artifacts", type=click.Path(path_type=Path), help="Benchmark this export folder (no torch needed).")
@click.option(
    "--calib", type=click.Path(path_type=Path), help="int8: calibration images (default: the embedded photos)."
)
@click.option("--no-pipeline", is_flag=True, help="Skip pre+post pipeline timing.")
@click.option("--cards", "cards_root", type=click.Path(path_type=Path), help="Cards folder (default $ZOO_CARDS_DIR).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def bench(
    ctx: click.Context,
    name: str | None,
    task: str | None,
    precisions: str | None,
    runtimes: str | None,
    threads: list[int] | None,
    runs: int | None,
    warmup: int,
    weights: str | None,
    artifacts: Path | None,
    calib: Path | None,
    no_pipeline: bool,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """Benchmark models and write their cards (one per runtime × precision × hardware)."""
    from zoo import api
    from zoo.card import markdown_table
    from zoo.registry import get_registry

    if (name is None) == (task is None):
        raise click.UsageError("give a model NAME or --task TASK (one of them)", ctx)
    roles: dict[str, str] = {}
    if name is not None:
        spec, task_def = _spec_and_task(name)
        _, _, roles = _parse_extras(ctx, spec, task_def, "bench", ctx.args)
        names = [spec.id]
    else:
        if ctx.args:
            raise click.UsageError(f"unexpected {' '.join(ctx.args)} (with --task, give no model options)", ctx)
        names = [s.id for s in get_registry().list(task)]
    precision_list = _csv_names(precisions, "--dtype")
    runtime_list = _csv_names(runtimes, "--runtime")
    for model in names:
        _check_precisions(get_registry().get(model), precision_list or [None], runtime_list or [None])
    err = _console(stderr=True)
    cards = []
    for model in names:
        status = _Status(enabled=not as_json, prefix=f"{model}: ")
        try:
            cards += api.bench(
                model,
                precision_list,
                threads,
                runtimes=runtime_list,
                runs=runs,
                warmup=warmup,
                weights=weights,
                calib=calib,
                pipeline=not no_pipeline,
                roles=roles,
                artifacts=artifacts,
                cards_root=cards_root,
                progress=status,
            )
        finally:
            status.close()
    if as_json:
        _print_json([c.model_dump(mode="json") for c in cards])
        return
    measured = set(threads or [])
    rows = [r for c in cards for r in c.rows() if not measured or r["threads"] in measured]
    click.echo(markdown_table(rows))
    for c in cards:
        err.print(f"card: {c.path(cards_root)}", style="dim")


def _parse_kv(items: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE pairs; values parsed as JSON where they parse (numbers, true/false), else strings."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: options are KEY=VALUE, e.g. -O sparsity=0.5")
        key, value = item.split("=", 1)
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value
    return out


@cli.command("compress")
@click.argument("name")
@click.option("--method", required=True, help="prune, prune-channels, kmeans, ternary, binary, lowrank, ptq.")
@click.option(
    "-O", "--option", "options", multiple=True, help="Method option KEY=VALUE (repeatable), e.g. -O sparsity=0.5."
)
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("--threads", callback=_threads, help="Comma-separated thread counts to bench.")
@click.option("--runs", type=int, callback=_positive)
@click.option("--no-bench", is_flag=True, help="Export only; no card.")
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def compress_cmd(
    name: str,
    method: str,
    options: tuple[str, ...],
    weights: str | None,
    threads: list[int] | None,
    runs: int | None,
    no_bench: bool,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """Compress a model, export it through the same chain, and give it its own card."""
    from zoo import api
    from zoo.card import markdown_table

    status = _Status(enabled=not as_json)
    try:
        exp, card = api.compress(
            name,
            method,
            _parse_kv(options),
            weights=weights,
            threads=threads,
            runs=runs,
            bench_it=not no_bench,
            cards_root=cards_root,
            progress=status,
        )
    finally:
        status.close()
    m = exp.manifest
    if as_json:
        _print_json(
            {
                "folder": str(exp.folder),
                "manifest": m.model_dump(mode="json"),
                "card": card.model_dump(mode="json") if card else None,
            }
        )
        return
    comp, fid = m.extra["compression"], m.extra["compression_fidelity"]
    c = _console()
    c.print(f"{m.model}@{m.extra.get('variant')} → {exp.folder}")
    c.print(
        f"  sparsity {comp['sparsity']:.1%}, params {comp['params_after']:,} (from {comp['params_before']:,}), "
        f"{comp['bits_per_weight']:.2f} bits/weight, est. {comp['compression_ratio']:.1f}× smaller"
    )
    c.print("  fidelity vs uncompressed: " + ", ".join(f"{k} {v:.4g}" for k, v in fid.items() if isinstance(v, float)))
    if card:
        click.echo(markdown_table(card.rows()))


@cli.command("eval", context_settings=EXTRAS)
@click.argument("name")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="A labelled dataset (e.g. COCO folder).")
@click.option("--dtype", "precision", help=PRECISION_HELP)
@click.option("--runtime", help="Runtime (default: the model's).")
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("--artifacts", type=click.Path(path_type=Path), help="Evaluate this export folder (no torch needed).")
@click.option("--threads", type=int, callback=_positive, help="Threads (default: the physical cores).")
@click.option("--limit", type=int, callback=_positive, help="Only the first N items.")
@click.option("--results", "results_file", type=click.Path(path_type=Path), help="Also write the raw results here.")
@click.option("--dataset-name", help="Name recorded in the card (default: the folder name).")
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    name: str,
    data: Path,
    precision: str | None,
    runtime: str | None,
    weights: str | None,
    artifacts: Path | None,
    threads: int | None,
    limit: int | None,
    results_file: Path | None,
    dataset_name: str | None,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """Accuracy on a labelled dataset (the task's metric), written into the model's card."""
    from zoo.flows.eval import card_folder, evaluate

    spec, task = _spec_and_task(name)
    _check_precisions(spec, [precision], [runtime])
    _, options, roles = _parse_extras(ctx, spec, task, "eval", ctx.args)
    bar = _CountBar(f"eval {spec.id}", enabled=not as_json)
    try:
        report = evaluate(
            spec.id,
            data,
            precision,
            runtime,
            weights,
            threads,
            limit,
            options,
            artifacts=artifacts,
            roles=roles,
            dataset_name=dataset_name,
            results_file=results_file,
            allow_random=weights == "random",
            cards_root=cards_root,
            progress=bar.update,
        )
    finally:
        bar.close()
    folder = card_folder(report, cards_root)
    if as_json:
        _print_json({"report": report.model_dump(mode="json"), "card": str(folder)})
        return
    for metric in report.metrics:
        split = f"/{metric.split}" if metric.split else ""
        click.echo(f"{metric.name}: {metric.value:.4f} ({metric.dataset}{split}, n={metric.n})")
    click.echo(f"card: {folder}")


class _CountBar:
    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self.bar: Any = None
        self.task_id: Any = None

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.progress import Progress

            self.bar = Progress(console=_console(stderr=True), transient=True)
            self.bar.start()
            self.task_id = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task_id, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@cli.command("verify")
@click.argument("name")
@click.option("--arm", is_flag=True, required=True, help="Compare against the aarch64 ncnn under qemu (cortex-a76).")
@click.option("--dtype", "precisions", help="Comma-separated (default: each of fp32, fp16, int8 the model has).")
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option(
    "--cpu", default="cortex-a76", show_default=True, help="QEMU_CPU: cortex-a76 is a Pi 5, cortex-a72 a Pi 4."
)
@click.option(
    "--inputs", "n_inputs", default=2, show_default=True, type=int, callback=_positive,
    help="How many embedded photos (emulation is slow).",
)  # fmt: skip
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def verify_cmd(
    name: str,
    arm: bool,
    precisions: str | None,
    weights: str | None,
    cpu: str,
    n_inputs: int,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """Run each artifact through emulated ARM ncnn and record how far it is from x86."""
    from zoo import api
    from zoo.card import fmt_agreement

    spec = _spec_and_task(name)[0]
    chosen = _csv_names(precisions, "--dtype") or [p for p in ("fp32", "fp16", "int8") if p in spec.precisions("ncnn")]
    _check_precisions(spec, chosen, ["ncnn"])
    results = api.verify_arm(
        name,
        chosen,
        weights=weights,
        cpu=cpu,
        n_inputs=n_inputs,
        cards_root=cards_root,
    )
    if as_json:
        _print_json(results)
        return
    for precision, runs in results.items():
        for label, p in runs.items():
            agree = ", ".join(f"{k} {fmt_agreement(k, v)}" for k, v in p["agreement"].items())
            click.echo(
                f"{precision:5} {label:12} max|Δ| {p['max_abs_diff']:.3g}  cosine {p['cosine']:.6f}  "
                f"bit-exact {p['bit_exact']}  {agree}"
            )
            for role, c in p.get("components", {}).items():  # several networks: each one's figures
                click.echo(f"{'':5} {'':12}   {role}: max|Δ| {c['max_abs_diff']:.3g}  cosine {c['cosine']:.6f}  "
                           f"bit-exact {c['bit_exact']}")  # fmt: skip


@cli.group()
def card() -> None:
    """Model cards: publish them to the Hugging Face Hub."""


@card.command("push")
@click.argument("name")
@click.option("--repo", required=True, help="Hub repository ORG/NAME (created if missing).")
@click.option("--dtype", "precision", help="Only this precision's cards.")
@click.option(
    "--artifacts", type=click.Path(path_type=Path), multiple=True,
    help="Export folder to upload (repeatable; default: each card's export found in the cache).",
)  # fmt: skip
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--private", is_flag=True)
def card_push(
    name: str, repo: str, precision: str | None, artifacts: tuple[Path, ...], cards_root: Path | None, private: bool
) -> None:
    """Upload a model's cards, their exports and a front page listing every row to the Hub."""
    from zoo.flows.hub import push_card
    from zoo.registry import get_registry

    model = get_registry().get(name).id if "@" not in name else name
    click.echo(push_card(model, repo, precision, list(artifacts), cards_root=cards_root, private=private))


@cli.command("sensitivity")
@click.argument("name")
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option(
    "--calib", type=click.Path(path_type=Path), help="Calibration images (default: crops of the embedded photos)."
)
@click.option(
    "--method", type=click.Choice(["minmax", "kl", "aciq"]), help="Activation ranges (default: the model's own)."
)
@click.option(
    "--samples", default=8, show_default=True, type=int, callback=_positive,
    help="Calibration samples used (one forward each per layer).",
)  # fmt: skip
@click.option("--component", default="model", show_default=True, help="Which network of the model.")
@click.option("--json", "as_json", is_flag=True)
def sensitivity_cmd(
    name: str, weights: str | None, calib: Path | None, method: str | None, samples: int, component: str, as_json: bool
) -> None:
    """int8 per-layer sensitivity: which layers to keep in float (zoo export --keep-float NAME)."""
    from zoo import api

    rows = api.int8_sensitivity(name, weights=weights, calib=calib, method=method, samples=samples, component=component)
    if as_json:
        _print_json(rows)
        return
    click.echo(f"{'layer':32} {'type':24} cosine vs fp32 (only this layer int8), worst first")
    for r in rows:
        click.echo(f"{r['name']:32} {r['type']:24} {r['cosine']:.6f}")


@cli.command()
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(["md", "csv", "json"]))
@click.option("--cards", "cards_root", type=click.Path(path_type=Path), help="Cards folder (default $ZOO_CARDS_DIR).")
def table(fmt: str, cards_root: Path | None) -> None:
    """The benchmark table, rendered from the cards."""
    from zoo.card import TABLE_COLUMNS, load_cards, markdown_table

    if cards_root is not None and not cards_root.is_dir():
        raise InputError(f"{cards_root}: no such cards folder; run zoo bench first or pass --cards DIR")
    rows = [row for c in load_cards(cards_root) for row in c.rows()]
    if fmt == "json":
        _print_json(rows)
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        click.echo(markdown_table(rows))


def main() -> None:
    cli(prog_name="zoo")


if __name__ == "__main__":
    main()
