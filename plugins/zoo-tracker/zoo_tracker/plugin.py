"""Hook implementations of the tracker plugin. Imports no torch at module level.

Two tasks, because they take different inputs, options, data and measures:

* ``tracker`` (multi-object tracking): the ``bytetrack`` solution, any zoo detector in role
  ``detector`` (default ``yolox-s``, what ByteTrack was published with) followed by the numpy
  ByteTracker; options ``--track-thresh``, ``--match-thresh``, ``--track-buffer``,
  ``--frame-rate``; ``zoo eval`` scores HOTA/MOTA/IDF1 on MOTChallenge folders; ``zoo bench``
  times detector + tracker per frame and the tracker's own share. ``zoo bench --task tracker``
  therefore compares like with like: every row is a detector + tracker pipeline per frame.
* ``sot`` (single-object tracking): ``nanotrack``, two networks of its own (``template`` and
  ``search``), started from one box (``--init x,y,w,h``); ``zoo bench`` times the search network
  per frame and the template once per video.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo import hookimpl
from zoo.results import Tracks
from zoo.specs import ComponentSpec, ExportRecipe, ModelSpec, PostSpec, PrecisionRecipe, PreSpec, RoleSpec, TensorSpec
from zoo.tasks import HubInfo, TaskDef, TaskOption, in_unit_interval, positive
from zoo_tracker.result import agreement

TRACKER = "tracker"
SOT = "sot"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else "must be 0 or more frames"


def _needs_detector(spec: ModelSpec) -> str | None:
    role = spec.roles.get("detector")
    if role is None or role.task != "detector":
        return "a multi-object tracker runs over a detector: give it roles={'detector': RoleSpec(task='detector')}"
    return None


def _siamese_spec(spec: ModelSpec) -> str | None:
    if set(spec.components) != {"template", "search"}:
        return "a Siamese tracker has two components, 'template' and 'search'"
    return None


def _sot_parity_items(spec: ModelSpec) -> list[Any]:
    from zoo_tracker.bench import sot_clip

    return list(sot_clip(8)[0])


def _sot_parity_options() -> dict[str, Any]:
    """The parity clip's first box: given with every frame, used on the first (as ``zoo run`` does)."""
    from zoo_tracker.bench import sot_init

    return {"init": sot_init()}


def _tracker_predictor(spec: ModelSpec, task: TaskDef, sessions: Any, parts: Any) -> Any:
    from zoo_tracker.predictors import ByteTrackPredictor

    return ByteTrackPredictor(spec, task, sessions, parts)


def _sot_predictor(spec: ModelSpec, task: TaskDef, sessions: Any, parts: Any) -> Any:
    from zoo_tracker.predictors import NanoTrackPredictor
    from zoo_tracker.sot.siamese import SiameseConfig

    return NanoTrackPredictor(spec, task, sessions, parts, SiameseConfig.from_spec(spec))


def _tracker_probes(predictor: Any, item: Any) -> Any:
    from zoo_tracker.bench import tracker_probes

    return tracker_probes(predictor, item)


def _sot_probes(predictor: Any, item: Any) -> Any:
    from zoo_tracker.bench import sot_probes

    return sot_probes(predictor, item)


def _init_check(value: str) -> str | None:
    from zoo_tracker.predictors import init_problem

    return init_problem(value)


def _mot_evaluator() -> Any:
    from zoo_tracker.evaluate import MotEvaluator

    return MotEvaluator()


@hookimpl
def register_tasks(register: Callable[[TaskDef], None]) -> None:
    both = ("run", "eval")
    register(
        TaskDef(
            name=TRACKER,
            description="Multi-object tracking: a detector's boxes linked into tracks whose ids persist across frames.",
            result_type=Tracks,
            default_metric="HOTA",
            agreement=agreement,
            predictor=_tracker_predictor,
            check_spec=_needs_detector,
            options=(
                TaskOption("track_thresh", float, None, "detections above this score start and extend tracks; "
                           "lower ones only extend them (default 0.5)", both, in_unit_interval),
                TaskOption("match_thresh", float, None, "first association: match while 1 - IoU (fused with "
                           "the score) is below this (default 0.8)", both, in_unit_interval),
                TaskOption("track_buffer", int, None, "frames a lost track is kept at 30 fps (default 30)", both,
                           _non_negative),
                TaskOption("frame_rate", float, None, "the video's frames per second, for --track-buffer "
                           "(default 30; eval: seqinfo.ini's frameRate)", both, positive),
            ),  # fmt: skip
            bench_probes=_tracker_probes,
            evaluator=_mot_evaluator(),
            hub=HubInfo(pipeline_tag=None, tags=("multi-object-tracking", "object-tracking")),
        )
    )
    register(
        TaskDef(
            name=SOT,
            description="Single-object tracking: one object followed through a video from its box in the first frame.",
            result_type=Tracks,
            default_metric="success",
            agreement=agreement,
            predictor=_sot_predictor,
            pre_kinds=("siamese",),
            check_spec=_siamese_spec,
            options=(
                TaskOption("init", str, None, "the object's box in the first frame: x,y,w,h in pixels", ("run",),
                           _init_check),
            ),  # fmt: skip
            parity_items=_sot_parity_items,
            parity_options=_sot_parity_options(),
            bench_probes=_sot_probes,
            hub=HubInfo(pipeline_tag=None, tags=("single-object-tracking", "object-tracking")),
        )
    )


def _nanotrack() -> ModelSpec:
    from zoo_tracker.sot.nets import FEATURE_CHANNELS as C
    from zoo_tracker.sot.nets import SCORE_SIZE as S
    from zoo_tracker.sot.nets import SEARCH_SIZE, TEMPLATE_FEATURE, TEMPLATE_SIZE

    ncnn = ExportRecipe(runtime="ncnn", steps=("trace", "pnnx"),
                        precisions={"fp32": PrecisionRecipe(), "fp16": PrecisionRecipe(options={"pnnx": {"fp16": True}})})  # fmt: skip
    onnx = ExportRecipe(runtime="onnxruntime", steps=("onnx",), precisions={"fp32": PrecisionRecipe()})
    return ModelSpec(
        id="nanotrack",
        task=SOT,
        family="nanotrack",
        aliases=("nanotrackv3", "nanotrack-v3"),
        description="NanoTrack V3 Siamese single-object tracker (MobileNetV3-Small, depth-wise BAN head), 0.54 M params: a backbone both components share.",
        source="HonglinChu/SiamTrackers NanoTrack (models/config/configv3.yaml, nanotrackv3.pth)",
        components={
            "template": ComponentSpec(
                inputs=(TensorSpec(name="in0", shape=(1, 3, TEMPLATE_SIZE, TEMPLATE_SIZE)),),
                outputs=(TensorSpec(name="out0", shape=(1, C, TEMPLATE_FEATURE, TEMPLATE_FEATURE)),),
                description="127x127 exemplar crop (BGR 0..255) -> template features",
            ),
            "search": ComponentSpec(
                inputs=(TensorSpec(name="in0", shape=(1, 3, SEARCH_SIZE, SEARCH_SIZE)),
                        TensorSpec(name="in1", shape=(1, C, TEMPLATE_FEATURE, TEMPLATE_FEATURE))),
                outputs=(TensorSpec(name="out0", shape=(1, 2, S, S)), TensorSpec(name="out1", shape=(1, 4, S, S))),
                description="255x255 search crop + template features -> class logits, box distances (l, t, r, b)",
            ),
        },  # fmt: skip
        pre=PreSpec(kind="siamese", size=(SEARCH_SIZE, SEARCH_SIZE), scale=1.0, channel_order="BGR",
                    params={"exemplar_size": TEMPLATE_SIZE, "context_amount": 0.5}),  # fmt: skip
        post=PostSpec(decoder="siamese-ban", params={"stride": 16, "score_size": S, "penalty_k": 0.138,
                                                     "window_influence": 0.455, "lr": 0.348}),  # fmt: skip
        # fp32 and fp16: the two depth-wise cross-correlations take their kernel at run time (ncnn
        # keeps such layers in float under int8), and a template calibrated from one frame per video
        # is not a calibration; the whole tracker is 0.1 GMACs per frame.
        recipes={"ncnn": ncnn, "onnx": onnx},
        license="Apache-2.0",
        datasets=("GOT-10k", "ImageNet-VID", "YouTube-BB", "COCO", "ImageNet-DET", "LaSOT"),
        notes="Tracking hyper-parameters from configv3.yaml (penalty_k 0.138, window_influence 0.455, lr 0.348).",
    )


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(_nanotrack())


@hookimpl
def register_solutions(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            id="bytetrack",
            task=TRACKER,
            family="bytetrack",
            description="ByteTrack over any zoo detector: Kalman motion, IoU association of high- then "
            "low-score boxes (numpy).",
            source="Zhang et al., ByteTrack (ECCV 2022); FoundationVision/ByteTrack yolox/tracker/byte_tracker.py",
            roles={"detector": RoleSpec(task="detector", default="yolox-s",
                                        description="the boxes tracked (ByteTrack was published with YOLOX)")},  # fmt: skip
            recipes={},  # nothing of its own to export: its detector is exported in its own right
            license="Apache-2.0",
        )
    )


@hookimpl
def build_model(spec: ModelSpec, weights: str | None) -> Any:
    if spec.id != "nanotrack":
        return None
    from zoo_tracker.sot import nets

    return nets.components(nets.build(weights))
