"""Task definitions and predictors: what a task plugin registers through ``register_tasks``.

A ``TaskDef`` holds what the core needs to run, benchmark, check and evaluate any model of the task
without knowing what a classifier or a tracker is: the result type, how two results agree, the
options users may pass (the CLI builds ``--flags`` from them), the predictor that runs a model, its
evaluator and its Hub tags.

A ``Predictor`` runs one model on one item (an image, a frame, a prompt). It is built from the
model's components (role → Session) and, for a model made of others, its parts (role → Predictor),
so the same predictor runs PyTorch modules (parity), ncnn artifacts, or a mix. ``SimplePredictor``
is the one-network case: ``preprocess`` → session → ``postprocess``, two pure numpy functions.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from zoo.errors import InputError, PluginError
from zoo.results.base import Result
from zoo.specs import SINGLE, ModelSpec, PreSpec

if TYPE_CHECKING:
    from zoo.card import Metric
    from zoo.runtimes import Session

Preprocess = Callable[[np.ndarray, PreSpec], tuple[Any, dict[str, Any]]]
"""(RGB uint8 HxWx3 image, spec.pre) -> (network input, batch first — or a dict input name → array;
context for postprocess)."""

Postprocess = Callable[[Mapping[str, np.ndarray], dict[str, Any], ModelSpec, Mapping[str, Any]], Result]
"""(raw outputs by blob name, context, spec, options such as top_k or conf) -> Result."""

Agreement = Callable[[list[Any], list[Any]], dict[str, float]]
"""(reference results, candidate results) -> named agreement figures, e.g. {'top1_agreement': 1.0}."""


@dataclass(frozen=True)
class TaskOption:
    """An option users may pass for this task: ``zoo run ... --top-k 3``, ``predictor(img, top_k=3)``."""

    name: str
    """Python name; the CLI flag is ``--`` + name with '-' for '_'."""
    type: type = str
    default: Any = None
    """None: the model's own default (e.g. from spec.post.params)."""
    help: str = ""
    commands: tuple[str, ...] = ("run",)
    """Which CLI commands take it: run, bench, eval."""
    check: Callable[[Any], str | None] | None = None
    """Returns why a value is not allowed (e.g. 'must be in (0, 1]'), or None."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def validate(self, value: Any) -> Any:
        try:
            value = self.type(value) if value is not None and not isinstance(value, self.type) else value
        except (TypeError, ValueError):
            raise InputError(f"{self.flag} takes a {self.type.__name__}, got {value!r}") from None
        reason = self.check(value) if (self.check is not None and value is not None) else None
        if reason:
            raise InputError(f"{self.flag} {value!r}: {reason}")
        return value


def in_unit_interval(value: float) -> str | None:
    """A TaskOption check: a threshold in (0, 1]."""
    return None if 0.0 < value <= 1.0 else "must be in (0, 1]"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


@dataclass(frozen=True)
class Probe:
    """One thing ``zoo bench`` times: a call, and how many items (frames, tokens) it processes."""

    name: str
    """'model' (the networks alone: the card's latency), 'pipeline' (what a user feels), or task
    measures such as 'model:text' or 'tg128'."""
    fn: Callable[[], object]
    description: str = ""
    items: float = 1.0
    unit: str = "inference"
    input_shapes: tuple[tuple[int, ...], ...] = ()
    """Shapes of the network inputs one call feeds, in call order (recorded in the card)."""
    runs: int | None = None
    """Timed runs when the user gives no --runs; None: adaptive for the primary probe (≥30 runs and
    ≥2 s), as many as the primary took (10 to 50) for the others. A probe whose call takes seconds
    (128 generated tokens) fixes a small count."""
    warmup: int | None = None
    """Most untimed calls before timing (None: the bench's --warmup)."""


@dataclass(frozen=True)
class HubInfo:
    """How the Hugging Face Hub files this task's cards."""

    pipeline_tag: str | None = None
    """e.g. 'image-classification', 'object-detection' (None: no Hub pipeline fits)."""
    tags: tuple[str, ...] = ()


@dataclass
class EvalOutcome:
    metrics: list[Metric]
    """What goes into the card's accuracy column."""
    facts: dict[str, Any] = field(default_factory=dict)
    """How it was measured (library, counts, thresholds): the card's extra['eval']."""


class Evaluator(Protocol):
    """A task's accuracy measure on a labelled dataset."""

    metric: str

    def load(self, data: Path, *, limit: int | None, name: str | None) -> Any:
        """Read and check the dataset (one-line errors naming file and field) before any model loads."""
        ...

    def evaluate(
        self,
        dataset: Any,
        predictor: Predictor,
        *,
        options: Mapping[str, Any],
        results_file: Path | None,
        progress: Callable[[int, int], None] | None,
    ) -> EvalOutcome: ...


PredictorFactory = Callable[["ModelSpec", "TaskDef", Mapping[str, "Session"], Mapping[str, "Predictor"]], "Predictor"]


@dataclass(frozen=True)
class TaskDef:
    name: str
    description: str
    result_type: type
    default_metric: str
    agreement: Agreement
    predictor: PredictorFactory | None = None
    """Builds the predictor of a model of this task; None: ``SimplePredictor``."""
    preprocess: Preprocess | None = None
    postprocess: Postprocess | None = None
    pre_kinds: tuple[str, ...] = ()
    """PreSpec kinds this task's preprocessing takes; a spec with another is refused at registration."""
    check_spec: Callable[[ModelSpec], str | None] | None = None
    """Anything else a spec must satisfy; returns why not (refused at registration), or None."""
    check_options: Callable[[Mapping[str, Any]], str | None] | None = None
    """What the options must satisfy together (e.g. one of --labels/--labels-file is needed): gets
    the resolved options, returns why not, or None. ``zoo run`` asks before any export."""
    input: Literal["image", "text", "image+text"] = "image"
    """What ``zoo run NAME ...`` reads: a frame SOURCE, a prompt, or both."""
    options: tuple[TaskOption, ...] = ()
    parity_options: Mapping[str, Any] = field(default_factory=dict)
    """Options for the parity check (PyTorch vs runtime results), e.g. a detector's very low conf:
    at a deployment threshold a random-weights model yields no boxes, and agreement over nothing
    says nothing."""
    parity_items: Callable[[ModelSpec], list[Any]] | None = None
    """Items parity and ARM checks run on; None: the embedded photos and their mirrors."""
    calibration_items: Callable[[ModelSpec], list[Any]] | None = None
    """Items int8 calibration runs through the predictor; None: crops of the embedded photos."""
    bench_probes: Callable[[Predictor, Any], list[Probe]] | None = None
    """What ``zoo bench`` times on one item; None: 'model' and 'pipeline'."""
    primary_probe: str = "model"
    """The probe that gives the card's latency and FPS columns (and the stability flag), e.g. an
    LLM's 'tg128' (its FPS column is then tokens/s)."""
    evaluator: Evaluator | None = None
    hub: HubInfo = field(default_factory=HubInfo)

    def spec_problem(self, spec: ModelSpec) -> str | None:
        """Why ``spec`` cannot be a model of this task, or None."""
        if not spec.is_solution and spec.pre is not None and self.pre_kinds and spec.pre.kind not in self.pre_kinds:
            return f"preprocessing kind {spec.pre.kind!r} is not one the {self.name} task takes ({', '.join(self.pre_kinds)})"
        if self.predictor is None and not spec.is_solution:
            if set(spec.components) != {SINGLE} or self.preprocess is None or self.postprocess is None:
                return f"the {self.name} task runs one network named {SINGLE!r} through preprocess/postprocess"
            if spec.pre is None or spec.post is None:
                return "the spec needs pre= and post= for this task"
        return self.check_spec(spec) if self.check_spec is not None else None

    def option(self, name: str) -> TaskOption:
        for opt in self.options:
            if opt.name == name:
                return opt
        known = ", ".join(o.name for o in self.options) or "none"
        raise InputError(f"unknown option {name!r} for the {self.name} task (it takes: {known})")

    def resolve_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults, then the given values that are not None, each checked."""
        out = {o.name: o.default for o in self.options}
        for key, value in given.items():
            opt = self.option(key)
            if value is not None:
                out[key] = opt.validate(value)
        return out

    def options_problem(self, given: Mapping[str, Any]) -> str | None:
        """Why ``given`` (with the defaults) cannot run, judged together (``check_options``); None if it can."""
        return self.check_options(self.resolve_options(given)) if self.check_options is not None else None

    def build_predictor(
        self, spec: ModelSpec, sessions: Mapping[str, Session], parts: Mapping[str, Predictor] | None = None
    ) -> Predictor:
        factory = self.predictor or SimplePredictor
        return factory(spec, self, sessions, parts or {})


class Predictor:
    """Runs one model on one item; ``times`` holds the last call's stage times in ms.

    Subclasses implement ``predict(item, options)`` with ``self.infer(role, inputs)`` for every
    network call (timed as 'infer') and ``with self.stage('pre'):`` around their numpy stages.

    A predictor that produces text as it goes may also offer (the CLI uses them when present):
    ``stream(item, **options)`` -> an iterator of text pieces whose ``result`` attribute holds the
    finished Result once it is exhausted (``zoo run`` prints the pieces as they come), and
    ``chat(messages, **options)`` -> the same kind of stream for one assistant turn after
    ``messages`` ([{'role': 'system'|'user'|'assistant', 'content': str}, ...]; ``zoo chat``).
    """

    def __init__(
        self,
        spec: ModelSpec,
        task: TaskDef,
        sessions: Mapping[str, Session],
        parts: Mapping[str, Predictor] | None = None,
    ) -> None:
        self.spec, self.task = spec, task
        self.sessions: dict[str, Session] = dict(sessions)
        self.parts: dict[str, Predictor] = dict(parts or {})
        self.times: dict[str, float] = {}
        self.export: Any = None
        """The checked export folder the sessions came from (``zoo.flows.artifacts.ExportResult``)."""
        self.component_facts: dict[str, dict[str, Any]] = {}
        """Role → constants of the weights recorded beside the component at export (see ``facts``)."""

    def facts(self, role: str) -> dict[str, Any]:
        """Constants of component ``role``'s weights that live outside its network (a CLIP text
        tower's logit scale), as the export recorded them from the module's ``export_facts()``;
        {} when there are none (the predictor then uses its own defaults). The same facts reach
        the predictor on PyTorch modules (parity), runtime sessions and replayed outputs."""
        return dict(self.component_facts.get(role, {}))

    def __call__(self, item: Any, **options: Any) -> Any:
        opts = self.task.resolve_options(options)
        self.times = {}
        t0 = time.perf_counter_ns()
        result = self.predict(item, opts)
        self.times["total"] = (time.perf_counter_ns() - t0) / 1e6
        return result

    def predict(self, item: Any, options: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def infer(self, role: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run component ``role`` (a TensorSession) on named inputs; timed as 'infer'."""
        session = self.sessions[role]
        t0 = time.perf_counter_ns()
        outputs: dict[str, np.ndarray] = session.run(inputs)  # type: ignore[attr-defined]
        self.times["infer"] = self.times.get("infer", 0.0) + (time.perf_counter_ns() - t0) / 1e6
        return outputs

    def part(self, role: str, item: Any, **options: Any) -> Any:
        """Call the model in ``role`` (e.g. the detector); its whole call is timed under the role."""
        t0 = time.perf_counter_ns()
        result = self.parts[role](item, **options)
        self.times[role] = self.times.get(role, 0.0) + (time.perf_counter_ns() - t0) / 1e6
        return result

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter_ns()
        try:
            yield
        finally:
            self.times[name] = self.times.get(name, 0.0) + (time.perf_counter_ns() - t0) / 1e6

    def reset(self) -> None:
        """Forget state carried between items (trackers); parts too."""
        for part in self.parts.values():
            part.reset()

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        for part in self.parts.values():
            part.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimplePredictor(Predictor):
    """One network: ``task.preprocess`` → session → ``task.postprocess``."""

    def predict(self, item: Any, options: Mapping[str, Any]) -> Any:
        from zoo.images import as_image

        image = as_image(item)
        pre, post = self.task.preprocess, self.task.postprocess
        if pre is None or post is None or self.spec.pre is None:  # spec_problem refuses such specs
            raise PluginError(f"the {self.task.name} task has no preprocess/postprocess for {self.spec.id}")
        with self.stage("pre"):
            x, context = pre(image, self.spec.pre)
        feeds = x if isinstance(x, Mapping) else {self.spec.components[SINGLE].inputs[0].name: x}
        outputs = self.infer(SINGLE, feeds)
        with self.stage("post"):
            return post(outputs, context, self.spec, options)


def default_items(kind: str) -> Callable[[ModelSpec], Sequence[Any]]:
    """The embedded photos (parity: whole photos and mirrors; calibration: crops)."""
    from zoo.images import calibration_images, sample_images

    return (lambda spec: sample_images()) if kind == "parity" else (lambda spec: calibration_images())
