"""The ``zoo`` command: parse, call zoo.api, print. ``--json`` prints data only, on stdout.

Every ZooError becomes one line on stderr and exit code 1; usage errors exit 2 (click's rule).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from zoo.errors import InputError, ZooError


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _csv_ints(value: str, what: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise click.BadParameter(f"{what} takes comma-separated integers, e.g. 1,4") from err
    if not items or any(v < 1 for v in items):
        raise click.BadParameter(f"{what} takes positive integers, e.g. 1,4")
    return items


def _csv_dtypes(value: str) -> list[str]:
    from zoo.specs import DTYPES

    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in DTYPES]
    if bad or not items:
        raise click.BadParameter(f"unknown dtype {', '.join(bad) or '(none)'}; choose from {', '.join(DTYPES)}")
    return items


class ZooGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZooError as err:
            click.echo(f"zoo: error: {err}", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("zoo: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=ZooGroup)
@click.version_option(package_name="zoo")
def cli() -> None:
    """A model zoo for edge CPUs: pull, convert to ncnn, run and benchmark models."""


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
                "input": list(s.input.shape),
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
    for col in ("model", "task", "aliases", "input", "weights", "plugin", "status"):
        table.add_column(col)
    for s in specs:
        table.add_row(
            s.id,
            s.task,
            ", ".join(s.aliases),
            s.input.resolution,
            "yes" if s.weights else "random only",
            s.plugin or "",
            s.status,
        )
    for model_id, entry, reason in missing:
        table.add_row(model_id, entry.task, "", "", "", entry.plugin, f"unavailable: {reason}")
    _console().print(table)


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def info(name: str, as_json: bool) -> None:
    """Spec, recipes and latest cards of a model."""
    from zoo import api

    data = api.info(name)
    if as_json:
        _print_json(data)
        return
    spec = data["spec"]
    c = _console()
    c.print(f"[bold]{spec['id']}[/bold] ({spec['task']}, plugin {spec['plugin']}) — {spec['description']}")
    c.print(f"input: {spec['inputs'][0]['name']} {spec['inputs'][0]['shape']}  source: {spec['source']}")
    c.print(f"weights: {(spec['weights'] or {}).get('uri', 'none published (use --weights random)')}")
    c.print(f"pre: {spec['pre']}")
    c.print(f"post: {spec['post']}")
    for dtype, state in data["dtypes"].items():
        recipe = spec["recipes"].get(dtype)
        extra = f" (calibration: {data['int8_method']})" if dtype == "int8" and recipe else ""
        c.print(f"  {dtype}: {state}" + (f" — {' → '.join(recipe['steps'])}{extra}" if recipe else ""))
    c.print(f"cards: {len(data['cards'])}")


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
                "models": [m.id for m in reg.models.values() if m.plugin == name],
                "exporters": [t for t, o in reg.exporters.items() if o.plugin == name],
                "runtimes": [t for t, o in reg.runtimes.items() if o.plugin == name],
                "power_meters": [t for t, o in reg.power_meters.items() if o.plugin == name],
            }
        )
    failures = [
        {"name": f.name, "distribution": f.distribution, "stage": f.stage, "error": f.error} for f in zpm.failures
    ]
    if as_json:
        _print_json({"plugins": rows, "failures": failures})
        return
    c = _console()
    for r in rows:
        c.print(f"[bold]{r['name']}[/bold] ({r['distribution']} {r['version']}, {r['module']})")
        for key in ("tasks", "models", "exporters", "runtimes", "power_meters"):
            if r[key]:
                c.print(f"  {key}: {', '.join(r[key])}")
    for f in failures:
        c.print(f"[red]FAILED[/red] {f['name']} ({f['distribution']}) at {f['stage']}: {f['error']}")


@cli.command()
@click.argument("name")
@click.option("--offline", is_flag=True, help="Use the cache only; never touch the network.")
@click.option("--json", "as_json", is_flag=True)
def pull(name: str, offline: bool, as_json: bool) -> None:
    """Fetch a model's source weights (sha256-verified, cached)."""
    from zoo import api

    bar = _LazyDownloadBar(f"pull {name}", enabled=not as_json)
    try:
        path = api.pull(name, offline=offline, progress=bar.update)
    finally:
        bar.close()
    if as_json:
        _print_json({"model": name, "path": str(path)})
    else:
        click.echo(str(path))


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
@click.option("--dtype", default="fp32", show_default=True, type=click.Choice(["fp32", "fp16", "int8"]))
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), help="Output folder (default: the zoo cache).")
@click.option("--calib", type=click.Path(path_type=Path), help="int8: folder of calibration images.")
@click.option(
    "--method",
    type=click.Choice(["minmax", "kl", "aciq"]),
    help="int8 activation ranges (default: the model's own, see `zoo info`; kl unless its recipe says).",
)
@click.option("--keep-float", multiple=True, help="int8: ncnn layer name to keep in float (repeatable).")
@click.option("--no-parity", is_flag=True, help="Skip the PyTorch-vs-ncnn parity check.")
@click.option("--offline", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def export(
    name: str,
    dtype: str,
    weights: str | None,
    out_dir: Path | None,
    calib: Path | None,
    method: str | None,
    keep_float: tuple[str, ...],
    no_parity: bool,
    offline: bool,
    as_json: bool,
) -> None:
    """PyTorch → TorchScript → PNNX → ncnn, with a parity check against PyTorch."""
    from zoo import api

    err = _console(stderr=True)
    result = api.export(
        name,
        dtype,
        weights=weights,
        out_dir=out_dir,
        calib=calib,
        method=method,
        keep_float=keep_float,
        parity=not no_parity,
        offline=offline,
        progress=None if as_json else (lambda step: err.print(f"[dim]… {step}[/dim]")),
    )
    m = result.manifest
    if as_json:
        _print_json({"folder": str(result.folder), **m.model_dump(mode="json")})
        return
    c = _console()
    c.print(f"exported {m.model} ({m.dtype}) → {result.folder}")
    for a in m.artifacts:
        c.print(f"  {a.file}  {a.size / 1e6:.2f} MB  sha256 {a.sha256[:16]}…")
    c.print(f"  params {m.params or 0:,}  MACs {(m.macs or 0) / 1e9:.3f} G  weights {m.weights.source}")
    if m.parity:
        agree = ", ".join(f"{k} {v:.0%}" for k, v in m.parity.agreement.items())
        c.print(
            f"  parity vs PyTorch: max|Δ| {m.parity.max_abs_diff:.3g}, min cosine {m.parity.min_cosine:.6f}, {agree}"
        )


@cli.command()
@click.argument("name")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--dtype", default="fp32", show_default=True, type=click.Choice(["fp32", "fp16", "int8"]))
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("--artifacts", type=click.Path(path_type=Path), help="An export folder to run (no torch needed).")
@click.option("--threads", default=1, show_default=True, type=int)
@click.option("--top-k", type=int, help="classifier: how many labels.")
@click.option("--conf", type=float, help="detector: score threshold.")
@click.option("--iou", type=float, help="detector: NMS IoU threshold.")
@click.option("-o", "--out", "out_image", type=click.Path(path_type=Path), help="Write an annotated image here.")
@click.option("--json", "as_json", is_flag=True)
def run(
    name: str,
    image: Path,
    dtype: str,
    weights: str | None,
    artifacts: Path | None,
    threads: int,
    top_k: int | None,
    conf: float | None,
    iou: float | None,
    out_image: Path | None,
    as_json: bool,
) -> None:
    """pre → ncnn → post on one image; prints the results."""
    from zoo import api
    from zoo.images import load_image, save_image

    rgb = load_image(image)  # fail on a bad image before any export work
    pipe = api.load(name, dtype=dtype, threads=threads, weights=weights, artifacts=artifacts)
    result = pipe(rgb, top_k=top_k, conf=conf, iou=iou)
    if out_image is not None:
        save_image(out_image, pipe.draw(rgb, result))
    if as_json:
        _print_json(
            {
                "model": pipe.spec.id,
                "dtype": dtype,
                "image": str(image),
                "weights": pipe.export.manifest.weights.source if pipe.export else None,
                **result.to_dict(),
            }
        )
        return
    if pipe.export and pipe.export.manifest.weights.random:
        _console(stderr=True).print("[yellow]note: random weights — these labels mean nothing[/yellow]")
    click.echo(result.summary())


@cli.command()
@click.argument("name", required=False)
@click.option("--task", help="Benchmark every model of this task.")
@click.option("--dtype", "dtypes", default="fp32", show_default=True, help="Comma-separated: fp32,fp16,int8.")
@click.option("--threads", default="1", show_default=True, help="Comma-separated thread counts, e.g. 1,2.")
@click.option("--runs", type=int, help="Timed runs (default: adaptive, ≥30 runs and ≥2 s).")
@click.option("--warmup", default=5, show_default=True, type=int)
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option(
    "--calib", type=click.Path(path_type=Path), help="int8: calibration images (default: the embedded photos)."
)
@click.option("--no-pipeline", is_flag=True, help="Skip pre+post pipeline timing.")
@click.option(
    "--cards", "cards_root", type=click.Path(path_type=Path), help="Cards folder (default $ZOO_CARDS_DIR or ./cards)."
)
@click.option("--json", "as_json", is_flag=True)
def bench(
    name: str | None,
    task: str | None,
    dtypes: str,
    threads: str,
    runs: int | None,
    warmup: int,
    weights: str | None,
    calib: Path | None,
    no_pipeline: bool,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """Benchmark models with ncnn and write their cards."""
    from zoo import api
    from zoo.registry import get_registry

    if (name is None) == (task is None):
        raise click.UsageError("give a model NAME or --task TASK (one of them)")
    if runs is not None and runs < 1:
        raise click.BadParameter("--runs must be at least 1")
    names = [name] if name else [s.id for s in get_registry().list(task)]
    err = _console(stderr=True)
    cards = []
    for model in names:
        cards += api.bench(
            model,
            _csv_dtypes(dtypes),
            _csv_ints(threads, "--threads"),
            runs=runs,
            warmup=warmup,
            weights=weights,
            calib=calib,
            pipeline=not no_pipeline,
            cards_root=cards_root,
            progress=None if as_json else _progress_printer(err, model),
        )
    if as_json:
        _print_json([c.model_dump(mode="json") for c in cards])
        return
    _print_table([row for c in cards for row in c.rows()], "md")


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
@click.option("--threads", default="1", show_default=True, help="Comma-separated thread counts to bench.")
@click.option("--runs", type=int)
@click.option("--no-bench", is_flag=True, help="Export only; no card.")
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def compress_cmd(
    name: str,
    method: str,
    options: tuple[str, ...],
    weights: str | None,
    threads: str,
    runs: int | None,
    no_bench: bool,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """Compress a model, export it through the same chain, and give it its own card."""
    from zoo import api

    err = _console(stderr=True)
    exp, card = api.compress(
        name,
        method,
        _parse_kv(options),
        weights=weights,
        threads=_csv_ints(threads, "--threads"),
        runs=runs,
        bench_it=not no_bench,
        cards_root=cards_root,
        progress=None if as_json else (lambda s: err.print(f"[dim]… {s}[/dim]")),
    )
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
        _print_table(card.rows(), "md")


@cli.command("eval")
@click.argument("name")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="COCO-format folder or instances JSON.")
@click.option("--dtype", default="fp32", show_default=True, type=click.Choice(["fp32", "fp16", "int8"]))
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option("--threads", default=1, show_default=True, type=int)
@click.option("--limit", type=int, help="Only the first N images.")
@click.option(
    "--conf", default=0.001, show_default=True, type=float, help="Score threshold (COCO convention: very low)."
)
@click.option("--iou", default=0.6, show_default=True, type=float, help="NMS IoU threshold.")
@click.option("--results", "results_file", type=click.Path(path_type=Path), help="Also write COCO results JSON here.")
@click.option("--dataset-name", help="Name recorded in the card (default: the folder name).")
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def eval_cmd(
    name: str,
    data: Path,
    dtype: str,
    weights: str | None,
    threads: int,
    limit: int | None,
    conf: float,
    iou: float,
    results_file: Path | None,
    dataset_name: str | None,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """COCO mAP@[.5:.95] and mAP@.5 on a labelled dataset, written into the model's card."""
    from zoo import api
    from zoo.eval.api import evaluate
    from zoo.registry import get_registry

    report = evaluate(
        name,
        data,
        dtype=dtype,
        weights=weights,
        threads=threads,
        limit=limit,
        conf=conf,
        iou=iou,
        dataset_name=dataset_name,
        results_file=results_file,
        allow_random=weights == "random",
    )
    spec = get_registry().get(name)
    exp = api.ensure_export(spec.id, dtype, weights)
    fields: dict[str, Any] = {"accuracy": report.metrics, "accuracy_reason": None}
    if exp.manifest.weights.random:
        fields["accuracy_reason"] = "random weights: the metric is measured but not meaningful"
    card = api.find_or_new_card(spec, dtype, cards_root)
    eval_facts = {
        k: getattr(report, k) for k in ("library", "n_images", "n_detections", "conf", "iou", "category_scheme")
    }
    fields["extra"] = {**card.extra, "eval": eval_facts}
    card = api.update_card(spec, dtype, exp, cards_root, **fields)
    if as_json:
        _print_json({"report": report.model_dump(mode="json"), "card": str(card.path(cards_root))})
        return
    for metric in report.metrics:
        click.echo(f"{metric.name}: {metric.value:.4f} ({metric.dataset}/{metric.split}, n={metric.n})")
    click.echo(f"card: {card.path(cards_root)}")


@cli.command("verify")
@click.argument("name")
@click.option("--arm", is_flag=True, required=True, help="Compare against the aarch64 ncnn under qemu (cortex-a76).")
@click.option("--dtype", "dtypes", default="fp32,fp16,int8", show_default=True)
@click.option("--weights", help=_WEIGHTS_HELP)
@click.option(
    "--cpu", default="cortex-a76", show_default=True, help="QEMU_CPU: cortex-a76 is a Pi 5, cortex-a72 a Pi 4."
)
@click.option(
    "--inputs", "n_inputs", default=2, show_default=True, type=int, help="How many embedded photos (emulation is slow)."
)
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def verify_cmd(
    name: str,
    arm: bool,
    dtypes: str,
    weights: str | None,
    cpu: str,
    n_inputs: int,
    cards_root: Path | None,
    as_json: bool,
) -> None:
    """Run each artifact through emulated ARM ncnn and record how far it is from x86."""
    from zoo import api

    results = api.verify_arm(
        name, _csv_dtypes(dtypes), weights=weights, cpu=cpu, n_inputs=n_inputs, cards_root=cards_root
    )
    if as_json:
        _print_json(results)
        return
    for dtype, runs in results.items():
        for label, p in runs.items():
            click.echo(
                f"{dtype:5} {label:12} max|Δ| {p['max_abs_diff']:.3g}  cosine {p['cosine']:.6f}  "
                f"argmax {p['argmax_agreement']}  bit-exact {p['bit_exact']}"
            )


@cli.group()
def card() -> None:
    """Model cards: publish them to the Hugging Face Hub."""


@card.command("push")
@click.argument("name")
@click.option("--repo", required=True, help="Hub repository ORG/NAME (created if missing).")
@click.option("--dtype", help="Only this dtype's card.")
@click.option("--artifacts", type=click.Path(path_type=Path), help="Also upload this export folder's ncnn files.")
@click.option("--cards", "cards_root", type=click.Path(path_type=Path))
@click.option("--private", is_flag=True)
def card_push(
    name: str, repo: str, dtype: str | None, artifacts: Path | None, cards_root: Path | None, private: bool
) -> None:
    """Upload a model's cards (README.md with YAML header + card.json) to the Hub."""
    from zoo.publish import push_card
    from zoo.registry import get_registry

    model = get_registry().get(name).id if "@" not in name else name
    click.echo(push_card(model, repo, dtype=dtype, artifacts=artifacts, cards_root=cards_root, private=private))


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
    "--samples", default=8, show_default=True, type=int, help="Calibration samples used (one forward each per layer)."
)
@click.option("--json", "as_json", is_flag=True)
def sensitivity_cmd(
    name: str, weights: str | None, calib: Path | None, method: str | None, samples: int, as_json: bool
) -> None:
    """int8 per-layer sensitivity: which layers to keep in float (zoo export --keep-float NAME)."""
    from zoo import api

    rows = api.int8_sensitivity(name, weights=weights, calib=calib, method=method, samples=samples)
    if as_json:
        _print_json(rows)
        return
    click.echo(f"{'layer':32} {'type':24} cosine vs fp32 (only this layer int8), worst first")
    for r in rows:
        click.echo(f"{r['name']:32} {r['type']:24} {r['cosine']:.6f}")


def _progress_printer(console: Any, prefix: str) -> Any:
    def show(step: str) -> None:
        console.print(f"[dim]… {prefix}: {step}[/dim]")

    return show


def _print_table(rows: list[dict[str, Any]], fmt: str) -> None:
    from zoo.card import TABLE_COLUMNS, TABLE_HEADERS

    def cell(v: Any) -> str:
        return "" if v is None else str(v)

    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return
    click.echo("| " + " | ".join(TABLE_HEADERS[c] for c in TABLE_COLUMNS) + " |")
    click.echo("|" + "---|" * len(TABLE_COLUMNS))
    for r in rows:
        click.echo("| " + " | ".join(cell(r[c]).replace("|", "/") for c in TABLE_COLUMNS) + " |")


@cli.command()
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(["md", "csv", "json"]))
@click.option(
    "--cards", "cards_root", type=click.Path(path_type=Path), help="Cards folder (default $ZOO_CARDS_DIR or ./cards)."
)
def table(fmt: str, cards_root: Path | None) -> None:
    """The benchmark table, rendered from the cards."""
    from zoo.card import load_cards

    if cards_root is not None and not cards_root.is_dir():
        raise InputError(f"{cards_root}: no such cards folder; run zoo bench first or pass --cards DIR")
    rows = [row for card in load_cards(cards_root) for row in card.rows()]
    if fmt == "json":
        _print_json(rows)
    else:
        _print_table(rows, fmt)


def main() -> None:
    cli(prog_name="zoo")


if __name__ == "__main__":
    main()
