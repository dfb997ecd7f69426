"""``zoo run`` / ``zoo.load``: a ready predictor for a model (and the models it is made of), and
streaming it over a frame source."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError, InputError
from zoo.flows.artifacts import ExportResult, Progress, ensure_export, load_sessions, open_export
from zoo.registry import Registry, get_registry
from zoo.specs import ModelSpec
from zoo.tasks import Predictor


def default_threads() -> int:
    from zoo.measure.host import physical_cores

    return physical_cores()


def load(
    name: str,
    precision: str | None = None,
    runtime: str | None = None,
    threads: int | None = None,
    weights: str | None = None,
    artifacts: str | Path | None = None,
    roles: Mapping[str, str | Predictor] | None = None,
    offline: bool = False,
    registry: Registry | None = None,
    progress: Progress | None = None,
    exports: Mapping[str, str | Path] | None = None,
    require_roles: bool = True,
) -> Predictor:
    """A ready predictor for ``name``.

    ``artifacts`` is an export folder (no torch needed: the board's way); otherwise the cached
    export for ``weights`` (exported first if needed). ``roles`` fills the models this one needs
    (``{"detector": "yolov8n"}``; a solution's defaults otherwise); each runs in the same
    precision and runtime. ``exports`` maps model ids to export folders for the parts (the bench
    worker's way). ``threads`` defaults to the physical cores. ``require_roles=False`` leaves a
    role without a default unfilled when none is given (a benchmark of the model's own networks,
    an evaluation on ground-truth boxes): the predictor then says itself if it needs it.
    """
    reg = registry or get_registry()
    spec = reg.get(name)
    threads = threads or default_threads()
    if threads < 1:
        raise InputError(f"--threads must be a positive integer, got {threads}")
    exports = dict(exports or {})
    check_roles(spec, roles or {}, require_roles, reg)  # a missing or wrong --ROLE fails before any export
    sessions: dict[str, Any] = {}
    exp: ExportResult | None = None
    if not spec.is_solution:
        folder = artifacts if artifacts is not None else exports.get(spec.id)
        if folder is not None:
            exp = open_export(folder, spec, runtime, precision, reg)
        else:
            exp = ensure_export(
                spec.id, precision or spec.default_precision(runtime), runtime, weights, offline=offline, registry=reg, progress=progress
            )
        sessions = load_sessions(exp, threads, reg)
    elif artifacts is not None:
        raise ConfigError(f"{spec.id} is a solution: pass each model's export folder, not --artifacts")
    try:
        parts = _load_parts(spec, roles or {}, precision or (exp.manifest.precision if exp else None), runtime,
                            threads, weights, offline, reg, progress, exports, require_roles)  # fmt: skip
    except BaseException:
        for session in sessions.values():
            session.close()
        raise
    predictor = reg.build_predictor(spec, sessions, parts, facts=exp.manifest.component_facts() if exp else None)
    predictor.export = exp
    return predictor


def check_roles(spec: ModelSpec, given: Mapping[str, str | Predictor], require_roles: bool, reg: Registry) -> None:
    """Every given role exists and names a model of the role's task; every required role is filled."""
    unknown = [r for r in given if r not in spec.roles]
    if unknown:
        takes = ", ".join(f"--{r.replace('_', '-')}" for r in spec.roles) or "none"
        raise InputError(f"{spec.id} has no {unknown[0]!r} role (it takes: {takes})")
    for role, need in spec.roles.items():
        choice = given.get(role) or need.default
        if choice is None and require_roles:
            examples = ", ".join(s.id for s in reg.list(need.task)[:3]) if need.task in reg.tasks else need.task
            raise InputError(
                f"{spec.id} needs a {need.task} to find what it runs on: pass --{role.replace('_', '-')} MODEL "
                f"(e.g. {examples})"
            )
        if isinstance(choice, str):
            part = reg.get(choice)
            if part.task != need.task:
                raise InputError(f"--{role.replace('_', '-')} {part.id}: a {part.task} model, not a {need.task}")


def _load_parts(
    spec: ModelSpec,
    given: Mapping[str, str | Predictor],
    precision: str | None,
    runtime: str | None,
    threads: int,
    weights: str | None,
    offline: bool,
    reg: Registry,
    progress: Progress | None,
    exports: Mapping[str, str | Path],
    require_roles: bool = True,
) -> dict[str, Predictor]:
    check_roles(spec, given, require_roles, reg)
    parts: dict[str, Predictor] = {}
    try:
        for role, need in spec.roles.items():
            choice = given.get(role) or need.default
            if choice is None:
                continue  # left empty (check_roles refused it where it was required)
            if isinstance(choice, Predictor):
                parts[role] = choice
                continue
            part = reg.get(choice)
            part_precision = precision if precision in part.precisions(runtime or part.runtime) else None
            # A part keeps the solution's weights choice only for random runs (a checkpoint is one model's).
            part_weights = weights if weights == "random" else None
            # A part's own roles without a default stay empty: the model composing it feeds it (a
            # detector + pose solution hands its top-down pose part the person boxes).
            parts[role] = load(part.id, part_precision, runtime if part_precision else None, threads, part_weights,
                               offline=offline, registry=reg, progress=progress, exports=exports,
                               require_roles=False)  # fmt: skip
    except BaseException:
        for p in parts.values():
            p.close()
        raise
    return parts


def export_of(predictor: Predictor) -> ExportResult | None:
    """The export a predictor runs: its own, or for a solution (nothing of its own) its first
    part's, which says the runtime, precision and weights it ran in."""
    own = getattr(predictor, "export", None)  # duck-typed predictors may have neither attribute
    if own is not None:
        return own  # type: ignore[no-any-return]
    parts = getattr(predictor, "parts", {})
    return next((found for p in parts.values() if (found := export_of(p)) is not None), None)


def stream(predictor: Predictor, source: Any, **options: Any) -> Iterator[tuple[Any, Any]]:
    """(frame, result) for every frame of ``source`` (a ``zoo.media`` source), in order; state
    (trackers) is reset first."""
    predictor.reset()
    for frame in source:
        yield frame, predictor(frame, **options)
