"""``evaluate``: a zoo model's COCO mAP on a COCO-format dataset; ``detections_agreement_map``: how
closely one pipeline's detections follow another's (int8 against fp32), scored the same way.

Both return numbers only; writing them into a card is the caller's job.
"""

from __future__ import annotations

import datetime as _dt
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from zoo.card import Metric
from zoo.errors import ConfigError, InputError
from zoo.eval.coco import (
    CategoryMap,
    CocoDataset,
    coco_map,
    detection_arrays,
    detections_to_coco,
    load_coco,
    predict_dataset,
    write_results,
)

RANDOM = "random"


class EvalTimings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    load_ms: float = Field(description="zoo.api.load: export (when not cached) and ncnn model load.")
    predict_median_ms: float = Field(
        description="Median per-image pipeline time (pre + ncnn + post), image decode excluded."
    )
    predict_total_s: float = Field(description="All pipeline calls together.")
    score_ms: float = Field(description="COCO library: load results, evaluate, accumulate, summarize.")
    total_s: float = Field(description="Wall time of the whole evaluation, dataset reading included.")


class EvalReport(BaseModel):
    """What ``zoo eval`` prints and what the card's accuracy column is filled from (``metrics``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    dtype: str
    threads: int
    weights: str = Field(description="Checkpoint path/URI the export came from, or 'random'.")
    data: str = Field(description="The --data argument as given.")
    annotation_file: str
    images_dir: str
    metrics: list[Metric] = Field(description="mAP@[.5:.95] and mAP@.5, ready for ModelCard.accuracy.")
    stats: dict[str, float | None] = Field(
        description="All twelve COCO summary numbers; null where COCO has no ground truth (-1)."
    )
    library: str = Field(description="The COCO library and version that scored, e.g. 'faster-coco-eval 1.8.0'.")
    category_scheme: str = Field(
        description="'coco80': COCO's 80-class table; 'contiguous': sorted dataset ids → 0..K-1."
    )
    n_images: int
    n_annotations: int = Field(description="Ground-truth boxes in the evaluated images (crowd regions included).")
    n_detections: int
    n_dropped_labels: int = Field(0, description="Detections whose class the dataset does not have (not scored).")
    limit: int | None = None
    conf: float
    iou: float
    timings: EvalTimings
    results_file: str | None = Field(None, description="COCO results JSON written, if asked for.")
    date: str = Field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))


def metrics_for(dataset: CocoDataset, map_: float, map50: float, n_images: int) -> list[Metric]:
    return [
        Metric(name="mAP@[.5:.95]", value=map_, dataset=dataset.name, split=dataset.split, n=n_images),
        Metric(name="mAP@.5", value=map50, dataset=dataset.name, split=dataset.split, n=n_images),
    ]


def evaluate(
    name: str,
    data: Path,
    dtype: str = "fp32",
    weights: str | None = None,
    threads: int = 1,
    limit: int | None = None,
    conf: float = 0.001,
    iou: float = 0.6,
    *,
    images_dir: Path | None = None,
    dataset_name: str | None = None,
    results_file: Path | None = None,
    allow_random: bool = False,
    registry: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """COCO bbox mAP of model ``name`` (exported as ``dtype``) on the dataset at ``data``.

    ``data`` is a dataset folder (``annotations/instances_SPLIT.json`` + ``SPLIT/``) or the
    instances file. ``conf``/``iou`` go to the pipeline's postprocess; COCO's convention is a
    very low confidence threshold (0.001) so the whole precision-recall curve is scored.
    Random weights are refused (their accuracy means nothing) unless ``allow_random``.
    """
    from zoo import api

    started = time.perf_counter()
    if weights == RANDOM and not allow_random:
        raise ConfigError(
            f"{name}: accuracy of random weights means nothing; pass --weights PATH to a trained checkpoint"
        )
    if threads < 1:
        raise InputError(f"--threads must be a positive integer, got {threads}")
    dataset = load_coco(data, images_dir=images_dir, name=dataset_name)
    dataset.select(limit)  # a bad --limit fails before the export, not after
    from zoo.registry import get_registry

    reg = registry or get_registry()
    spec = reg.get(name)
    if spec.task != "detector":
        raise ConfigError(f"{spec.id} is a {spec.task} model; COCO evaluation scores detector models")
    t0 = time.perf_counter()
    pipeline = api.load(spec.id, dtype=dtype, weights=weights, threads=threads, registry=reg)
    load_ms = (time.perf_counter() - t0) * 1e3
    try:
        run = predict_dataset(dataset, lambda rgb: pipeline(rgb, conf=conf, iou=iou), limit, progress)
    finally:
        pipeline.close()
    t0 = time.perf_counter()
    scores = coco_map(dataset.ground_truth, run.results, run.image_ids)
    score_ms = (time.perf_counter() - t0) * 1e3
    written = str(write_results(results_file, run.results)) if results_file is not None else None
    manifest = getattr(getattr(pipeline, "export", None), "manifest", None)
    source = manifest.weights.source if manifest is not None else (weights or "registry")
    return EvalReport(
        model=spec.id,
        dtype=dtype,
        threads=threads,
        weights=source,
        data=str(data),
        annotation_file=str(dataset.annotation_file),
        images_dir=str(dataset.images_dir),
        metrics=metrics_for(dataset, scores.map, scores.map50, len(run.image_ids)),
        stats=scores.stats,
        library=scores.library,
        category_scheme=dataset.categories.scheme,
        n_images=len(run.image_ids),
        n_annotations=dataset.n_annotations(run.image_ids),
        n_detections=run.n_detections,
        n_dropped_labels=run.n_dropped_labels,
        limit=limit,
        conf=conf,
        iou=iou,
        timings=EvalTimings(
            load_ms=load_ms,
            predict_median_ms=statistics.median(run.per_image_ns) / 1e6,
            predict_total_s=sum(run.per_image_ns) / 1e9,
            score_ms=score_ms,
            total_s=time.perf_counter() - started,
        ),
        results_file=written,
    )


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)


def detections_agreement_map(ref: Sequence[Any], cand: Sequence[Any]) -> float:
    """mAP@[.5:.95] of ``cand`` scored against ``ref`` taken as ground truth, image by image.

    For int8-vs-fp32 fidelity: pass the reference pipeline's detections at a working confidence
    (e.g. 0.25) as ``ref`` and the candidate's at a low one (e.g. 0.001) as ``cand``. Classes are
    the detectors' own labels. As in COCO, only classes present in ``ref`` are averaged: a
    candidate class the reference never saw is not penalised. No reference boxes at all: 1.0 when
    the candidate has none either, else 0.0. Zero-area boxes (clipped flat at the image edge) are
    left out on both sides: IoU with them is 0, so COCO would count each as a miss (reference) or
    a false positive (candidate) even when the two sets are identical.
    """
    if len(ref) != len(cand):
        raise InputError(
            f"detections_agreement_map needs one candidate per reference image, got {len(ref)} and {len(cand)}"
        )
    annotations: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    labels: set[int] = set()
    for image_id, r in enumerate(ref, start=1):
        boxes, _, classes = detection_arrays(r)
        width = max(1, int(np.ceil(boxes[:, 2].max()))) if len(boxes) else 1
        height = max(1, int(np.ceil(boxes[:, 3].max()))) if len(boxes) else 1
        images.append({"id": image_id, "file_name": f"{image_id}", "width": width, "height": height})
        for (x1, y1, x2, y2), c in zip(boxes.tolist(), classes.tolist(), strict=True):
            w, h = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
            if w * h <= 0:
                continue  # a zero-area box (clipped flat at the image edge) has IoU 0 with anything
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(c) + 1,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
            labels.add(int(c))
    n_cand = sum(int(np.count_nonzero(_areas(detection_arrays(c)[0]) > 0)) for c in cand)
    if not annotations:
        return 1.0 if n_cand == 0 else 0.0
    labels |= {int(c) for d in cand for c in detection_arrays(d)[2].tolist() if c >= 0}
    # Category id = label + 1 (COCO's libraries treat id 0 as 'no category' in places).
    categories = CategoryMap(
        "contiguous",
        tuple(range(1, max(labels) + 2)),
        tuple(str(i) for i in range(max(labels) + 1)),
        frozenset(range(1, max(labels) + 2)),
    )
    ground_truth = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": cid, "name": str(cid - 1)} for cid in categories.category_ids],
    }
    results = [
        entry
        for image_id, d in enumerate(cand, start=1)
        for entry in detections_to_coco(image_id, d, categories)
        if entry["bbox"][2] * entry["bbox"][3] > 0
    ]
    return coco_map(ground_truth, results).map
