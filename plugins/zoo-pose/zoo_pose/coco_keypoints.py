"""COCO person-keypoint datasets: read and check them, run a pose pipeline, score with faster-coco-eval.

A dataset is a folder holding ``annotations/person_keypoints_SPLIT.json`` and ``SPLIT/`` (COCO's
layout), or the json itself. The common COCO checks (images, ids, boxes) are ``zoo.eval.coco``'s;
this module adds the keypoint fields. Every problem is one ``InputError`` line naming the file, the
field and the fix.

Evaluation follows mmpose's ``CocoMetric`` defaults: person score = box score × mean keypoint
score above 0.2 ('bbox_keypoint' rescoring), OKS-NMS at 0.9 per image, then COCO keypoint AP with
COCO's sigmas. People come from ground-truth boxes (mmpose's GT-box protocol: every annotation
with a box and keypoints, box clipped to the image, box score 1), from a detector the caller
passes, or from the pose model itself (bottom-up).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.eval.coco import CocoImage, check_instances, find_images_dir, missing_images
from zoo.images import load_image
from zoo_pose.keypoints import COCO_SIGMAS
from zoo_pose.metrics import KEYPOINT_STAT_NAMES, keypoint_scores, oks, poses_to_coco
from zoo_pose.result import Poses
from zoo_pose.topdown import box_center_scale, fix_aspect_ratio

ANNOTATION_GLOB = "person_keypoints_*.json"
KEYPOINT_SCORE_THRESHOLD = 0.2
OKS_NMS_THRESHOLD = 0.9


@dataclass(frozen=True)
class KeypointDataset:
    annotation_file: Path
    images_dir: Path
    name: str
    split: str | None
    images: tuple[CocoImage, ...]
    """Sorted by image id."""
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    """0-based pairs."""
    category_id: int
    ground_truth: dict[str, Any] = field(repr=False)
    """The checked dataset as faster-coco-eval reads it (keypoints, num_keypoints, area, iscrowd)."""

    def select(self, limit: int | None = None) -> tuple[CocoImage, ...]:
        if limit is not None and limit < 1:
            raise InputError(f"--limit must be a positive number of images, got {limit}")
        return self.images if limit is None else self.images[:limit]

    def ground_truth_boxes(self, image: CocoImage) -> tuple[np.ndarray, np.ndarray]:
        """mmpose's GT-box protocol: xyxy boxes of the image's annotations, clipped to
        [0, width − 1] × [0, height − 1], with score 1."""
        boxes = []
        for a in self.ground_truth["annotations"]:
            if a["image_id"] != image.id or a["category_id"] != self.category_id:
                continue
            x, y, w, h = a["bbox"]
            boxes.append([np.clip(x, 0, image.width - 1), np.clip(y, 0, image.height - 1),
                          np.clip(x + w, 0, image.width - 1), np.clip(y + h, 0, image.height - 1)])
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        return b, np.ones(len(b), np.float32)


def find_keypoint_file(data: Path) -> Path:
    """``data`` if it is a file, else the one ``person_keypoints_*.json`` in it or its annotations/."""
    if data.is_file():
        return data
    if not data.exists():
        raise InputError(f"{data}: no such file or folder; pass a COCO keypoint dataset folder or its "
                         "person_keypoints_*.json")
    found = sorted(data.glob(ANNOTATION_GLOB)) + sorted((data / "annotations").glob(ANNOTATION_GLOB))
    if not found:
        raise InputError(f"{data}: no {ANNOTATION_GLOB} found (looked in {data} and {data / 'annotations'}); "
                         "pass the annotation file itself, or a folder holding annotations/person_keypoints_SPLIT.json "
                         "and SPLIT/")
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(data)) for p in found)
        raise InputError(f"{data}: several keypoint annotation files ({names}); pass the one to evaluate on")
    return found[0]


def _split_of(path: Path) -> str | None:
    stem = path.stem
    prefix = "person_keypoints_"
    return (stem[len(prefix):] or None) if stem.startswith(prefix) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror}); pass a readable person_keypoints_*.json") from err
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text; pass a COCO person_keypoints_*.json") from err
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
                         "fix the file or re-export it as COCO person keypoints") from err


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_keypoints(raw: Any, path: Path) -> tuple[dict[str, Any], int, tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Check a parsed person-keypoints file; return (clean ground truth, person category id,
    keypoint names, 0-based skeleton)."""
    base = check_instances(raw, path)  # images, annotations (ids, boxes), categories
    categories = raw["categories"]
    with_names = [(i, c) for i, c in enumerate(categories) if "keypoints" in c]
    if not with_names:
        raise InputError(f"{path}: categories[0].keypoints: missing; a person-keypoints file lists the keypoint "
                         "names in its category (COCO: 17 names from 'nose' to 'right_ankle')")
    if len(with_names) > 1:
        raise InputError(f"{path}: categories: {len(with_names)} categories have keypoints; "
                         "zoo scores one keypoint category (person) per file")
    ci, category = with_names[0]
    names = category["keypoints"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: categories[{ci}].keypoints: is {json.dumps(names)[:60]}; "
                         "give a non-empty list of keypoint names")
    k = len(names)
    skeleton_raw = category.get("skeleton", [])
    if not isinstance(skeleton_raw, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(j, int) and 1 <= j <= k for j in p) for p in skeleton_raw
    ):
        raise InputError(f"{path}: categories[{ci}].skeleton: is {json.dumps(skeleton_raw)[:60]}; "
                         f"give pairs of 1-based keypoint indices (1..{k}), or leave it out")
    skeleton = tuple((a - 1, b - 1) for a, b in skeleton_raw)
    category_id = int(category["id"])

    by_id = {a["id"]: a for a in raw["annotations"]}
    annotations = []
    for i, clean in enumerate(base["annotations"]):
        a = by_id[clean["id"]]
        if clean["category_id"] != category_id:
            continue
        where = f"annotations[{i}]"
        kps = a.get("keypoints")
        if kps is None:
            raise InputError(f"{path}: {where}.keypoints: missing; give x, y, v for each of the {k} keypoints "
                             "(v = 0 not labelled, 1 labelled but hidden, 2 visible)")
        if not isinstance(kps, list) or len(kps) != 3 * k:
            size = len(kps) if isinstance(kps, list) else type(kps).__name__
            raise InputError(f"{path}: {where}.keypoints: has {size} values, expected {3 * k} "
                             f"(x, y, v for each of the {k} keypoints in categories[{ci}].keypoints)")
        bad = next((j for j, v in enumerate(kps) if not _number(v)), None)
        if bad is not None:
            raise InputError(f"{path}: {where}.keypoints[{bad}]: is {json.dumps(kps[bad])[:40]}; "
                             "every value must be a finite number")
        vis = kps[2::3]
        bad = next((j for j, v in enumerate(vis) if v not in (0, 1, 2)), None)
        if bad is not None:
            raise InputError(f"{path}: {where}.keypoints[{3 * bad + 2}]: visibility is {vis[bad]!r}; "
                             "use 0 (not labelled), 1 (labelled, hidden) or 2 (visible)")
        labelled = sum(1 for v in vis if v > 0)
        num = a.get("num_keypoints", labelled)
        if not isinstance(num, int) or isinstance(num, bool) or num != labelled:
            raise InputError(f"{path}: {where}.num_keypoints: is {json.dumps(num)}, but {labelled} keypoints "
                             "have v > 0; fix it or leave it out")
        annotations.append(dict(clean, keypoints=[float(v) for v in kps], num_keypoints=labelled))
    ground_truth = dict(base, annotations=annotations)
    ground_truth["categories"] = [dict(c, keypoints=list(names), skeleton=[list(p) for p in skeleton_raw])
                                  for c in base["categories"] if c["id"] == category_id]
    return ground_truth, category_id, tuple(names), skeleton


def load_keypoint_dataset(data: str | Path, images_dir: str | Path | None = None,
                          name: str | None = None) -> KeypointDataset:
    """Read and check a COCO person-keypoints dataset (a folder or its person_keypoints_*.json)."""
    data = Path(data)
    annotation_file = find_keypoint_file(data)
    ground_truth, category_id, names, skeleton = check_keypoints(_read_json(annotation_file), annotation_file)
    split = _split_of(annotation_file)
    folder = Path(images_dir) if images_dir is not None else find_images_dir(annotation_file, data, split)
    if not folder.is_dir():
        raise InputError(f"{folder}: images folder does not exist; pass the folder holding the dataset's images")
    images = tuple(CocoImage(int(im["id"]), str(im["file_name"]), int(im["width"]), int(im["height"]),
                             folder / str(im["file_name"]))
                   for im in sorted(ground_truth["images"], key=lambda im: im["id"]))
    if name is None:
        base = data if data.is_dir() else annotation_file.parent
        name = (base.parent if base.name == "annotations" else base).resolve().name or "coco-keypoints"
    return KeypointDataset(annotation_file, folder, name, split, images, names, skeleton, category_id, ground_truth)


# -- evaluation ----------------------------------------------------------------------------------
Predict = Callable[[np.ndarray, "np.ndarray | None", "np.ndarray | None"], Poses]
"""(RGB image, person boxes xyxy or None, box scores or None) → Poses. None: the model finds people."""

Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""RGB image → (person boxes xyxy (N, 4), scores (N,))."""


@dataclass
class KeypointEvaluation:
    metrics: dict[str, float]
    """AP, AP50, AP75, AP_medium, AP_large, AR, ... (faster-coco-eval keypoints summary)."""
    boxes: str
    """Where the people came from: 'ground-truth', 'detector' or 'model'."""
    image_ids: list[int]
    n_people: int
    """People scored after OKS-NMS."""
    results: list[dict[str, Any]]
    per_image_ns: list[int]


def oks_nms(poses: Poses, scores: np.ndarray, threshold: float = OKS_NMS_THRESHOLD,
            sigmas: Sequence[float] = COCO_SIGMAS, aspect_ratio: float = 192 / 256) -> np.ndarray:
    """mmpose ``oks_nms``: highest score first, drop people whose OKS with a kept one exceeds the
    threshold. OKS uses the mean of the two people's areas, their padded crop sizes at the pose
    model's aspect ratio (mmpose: the product of ``bbox_scales``)."""
    if not len(poses):
        return np.zeros(0, np.int64)
    _, scale = box_center_scale(poses.boxes)
    areas = np.prod(fix_aspect_ratio(scale, aspect_ratio), axis=1)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        if not len(rest):
            break
        pair_areas = (areas[i] + areas[rest]) / 2
        sim = np.array([oks(poses.keypoints[i][None], poses.keypoints[j][None], np.array([a]), sigmas=sigmas)[0, 0]
                        for j, a in zip(rest, pair_areas, strict=True)])
        order = rest[sim <= threshold]
    return np.asarray(keep, np.int64)


def evaluate_keypoints(dataset: KeypointDataset, predict: Predict, boxes: str | Detect = "ground-truth",
                       limit: int | None = None, progress: Callable[[int, int], None] | None = None,
                       rescore: bool = True, nms_threshold: float | None = OKS_NMS_THRESHOLD) -> KeypointEvaluation:
    """COCO keypoint AP of ``predict`` on ``dataset``.

    ``boxes``: 'ground-truth' (the dataset's person boxes), a detector callable, or 'model' (the
    predictor finds people itself: bottom-up models, or a predictor with its own detector).
    ``rescore``/``nms_threshold``: mmpose's top-down protocol (box score × mean confident keypoint
    score, OKS-NMS at 0.9); a bottom-up model that already ran NMS and scores people itself (YOLOv8
    pose: Ultralytics scores by box confidence) passes ``rescore=False, nms_threshold=None``.
    """
    if not (boxes in ("ground-truth", "model") or callable(boxes)):
        raise InputError(f"boxes must be 'ground-truth', 'model' or a detector, got {boxes!r}")
    images = dataset.select(limit)
    ids = [im.id for im in images]
    if not any(a["image_id"] in set(ids) and not a.get("iscrowd", 0) and a["num_keypoints"] > 0
               for a in dataset.ground_truth["annotations"]):
        raise InputError(f"{dataset.annotation_file}: the evaluated images have no labelled keypoints; keypoint AP "
                         "is undefined (add annotations or raise --limit)")
    missing_images(images, dataset.annotation_file)
    results: list[dict[str, Any]] = []
    per_image: list[int] = []
    n_people = 0
    for k, im in enumerate(images):
        rgb = load_image(im.path)
        if rgb.shape[:2] != (im.height, im.width):
            raise InputError(f"{im.path}: image is {rgb.shape[1]}x{rgb.shape[0]} but {dataset.annotation_file} says "
                             f"{im.width}x{im.height} (images id {im.id}); use the images the annotations were made on")
        t0 = time.perf_counter_ns()
        if boxes == "ground-truth":
            poses = predict(rgb, *dataset.ground_truth_boxes(im))
        elif boxes == "model":
            poses = predict(rgb, None, None)
        else:
            poses = predict(rgb, *boxes(rgb))  # type: ignore[operator]
        per_image.append(time.perf_counter_ns() - t0)
        scores = poses.person_scores(KEYPOINT_SCORE_THRESHOLD) if rescore else np.asarray(poses.box_scores, np.float64)
        kept = poses.take(oks_nms(poses, scores, nms_threshold)) if nms_threshold is not None else poses
        entries = poses_to_coco(im.id, kept, dataset.category_id, rescore=rescore)
        n_people += len(entries)
        results.extend(entries)
        if progress:
            progress(k + 1, len(images))
    metrics = keypoint_scores(dataset.ground_truth, results, ids)
    source = boxes if isinstance(boxes, str) else "detector"
    return KeypointEvaluation(metrics, source, ids, n_people, results, per_image)


__all__ = ["KEYPOINT_STAT_NAMES", "KeypointDataset", "KeypointEvaluation", "evaluate_keypoints", "find_keypoint_file",
           "load_keypoint_dataset", "oks_nms"]


class KeypointEvaluator:
    """``zoo eval`` for the pose task: COCO keypoint AP on a person-keypoints dataset, people from
    the dataset's boxes (option ``boxes='ground-truth'``, the default) or the model's detector."""

    metric = "AP (OKS)"

    def load(self, data: Path, *, limit: int | None, name: str | None) -> KeypointDataset:
        dataset = load_keypoint_dataset(data, name=name)
        dataset.select(limit)  # a bad --limit fails before the export
        return _Limited(dataset, limit)  # type: ignore[return-value]

    def evaluate(self, dataset: Any, predictor: Any, *, options: Mapping[str, Any], results_file: Path | None,
                 progress: Callable[[int, int], None] | None) -> Any:
        from zoo.card import Metric
        from zoo.eval.coco import coco_library, write_results
        from zoo.tasks import EvalOutcome
        from zoo_pose.processing import PersonBoxes

        ds, limit = (dataset.dataset, dataset.limit) if isinstance(dataset, _Limited) else (dataset, None)
        run_options = {k: v for k, v in options.items() if k != "boxes"}
        by_gt = options.get("boxes", "ground-truth") == "ground-truth"

        def predict(rgb: np.ndarray, boxes: np.ndarray | None, scores: np.ndarray | None) -> Poses:
            item = PersonBoxes(rgb, boxes, scores) if boxes is not None else rgb
            return predictor(item, **run_options)  # type: ignore[no-any-return]

        ev = evaluate_keypoints(ds, predict, "ground-truth" if by_gt else "model", limit, progress)
        if results_file is not None:
            write_results(results_file, ev.results)
        n = len(ev.image_ids)
        metrics = [Metric(name=f"keypoint {k}", value=ev.metrics[k], dataset=ds.name, split=ds.split, n=n)
                   for k in ("AP", "AP50", "AR")]
        facts = {"library": coco_library(), "boxes": "ground truth" if by_gt else "detector", "images": n,
                 "people_scored": ev.n_people, "stats": ev.metrics, "rescoring": "box score × mean keypoint "
                 "score > 0.2, OKS-NMS 0.9 (mmpose CocoMetric)"}
        return EvalOutcome(metrics=metrics, facts=facts)


@dataclass(frozen=True)
class _Limited:
    dataset: KeypointDataset
    limit: int | None
