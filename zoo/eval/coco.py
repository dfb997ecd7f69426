"""COCO-format detection evaluation: read a dataset, turn detections into COCO results, score them.

No AP is computed here. The scoring is faster-coco-eval's (pycocotools' when only that is
installed; both give the same numbers): this module only reads and checks the dataset, maps class
ids, converts boxes and hands both sides to the library.

Class ids: detectors trained on COCO emit 80 contiguous labels 0..79, while COCO category ids
run 1..90 with gaps. ``CategoryMap`` is that mapping. A dataset whose categories are all COCO's
(same id, same name) uses COCO's table, so a val subset listing only some categories still lines
up with a COCO-trained detector; any other dataset maps its sorted category ids to 0..K-1.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.errors import InputError, MissingDependencyError
from zoo.images import load_image

# fmt: off
COCO80_CATEGORY_IDS: tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
)
"""COCO category id of each contiguous label 0..79 (the order every COCO-trained detector uses)."""

COCO80_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
# fmt: on

STAT_NAMES: tuple[str, ...] = (
    "mAP@[.5:.95]",
    "mAP@.5",
    "mAP@.75",
    "mAP_small",
    "mAP_medium",
    "mAP_large",
    "AR@1",
    "AR@10",
    "AR@100",
    "AR_small",
    "AR_medium",
    "AR_large",
)
"""The twelve numbers of COCOeval.summarize(), in its order."""

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_FORMAT_HINT = "a COCO instances file has 'images', 'annotations' and 'categories' lists"


# -- category ids -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CategoryMap:
    """Contiguous detector labels ↔ the dataset's COCO category ids."""

    scheme: Literal["coco80", "contiguous"]
    category_ids: tuple[int, ...] = field(repr=False)
    """COCO category id of each label (index = label)."""
    names: tuple[str, ...] = field(repr=False)
    present: frozenset[int] = field(default_factory=frozenset, repr=False)
    """Category ids the dataset declares; labels mapping elsewhere are dropped from results."""

    @classmethod
    def coco80(cls) -> CategoryMap:
        return cls("coco80", COCO80_CATEGORY_IDS, COCO80_NAMES, frozenset(COCO80_CATEGORY_IDS))

    @classmethod
    def from_categories(cls, categories: Sequence[Mapping[str, Any]], scheme: str = "auto") -> CategoryMap:
        """``auto``: COCO's 80-class table when every category is COCO's (id and name), else
        contiguous (sorted ids → 0..K-1)."""
        by_id = {int(c["id"]): str(c["name"]) for c in categories}
        if scheme not in ("auto", "coco80", "contiguous"):
            raise InputError(f"unknown category scheme {scheme!r}; use auto, coco80 or contiguous")
        coco = dict(zip(COCO80_CATEGORY_IDS, COCO80_NAMES, strict=True))
        is_coco = bool(by_id) and all(cid in coco and _norm(name) == _norm(coco[cid]) for cid, name in by_id.items())
        if scheme == "coco80" or (scheme == "auto" and is_coco):
            unknown = sorted(set(by_id) - set(coco))
            if unknown:
                raise InputError(f"category ids {unknown[:5]} are not COCO's 80 classes; use the contiguous scheme")
            return cls("coco80", COCO80_CATEGORY_IDS, COCO80_NAMES, frozenset(by_id))
        ids = tuple(sorted(by_id))
        return cls("contiguous", ids, tuple(by_id[i] for i in ids), frozenset(ids))

    def to_category(self, label: int) -> int | None:
        """The category id of a detector label, or None when the dataset has no such category."""
        if 0 <= label < len(self.category_ids):
            cid = self.category_ids[label]
            return cid if cid in self.present else None
        return None

    def to_label(self, category_id: int) -> int:
        try:
            return self.category_ids.index(category_id)
        except ValueError:
            raise InputError(f"category id {category_id} is not in the {self.scheme} map") from None


def _norm(name: str) -> str:
    return "".join(name.lower().split())


# -- the dataset --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CocoImage:
    id: int
    file_name: str
    width: int
    height: int
    path: Path


@dataclass(frozen=True)
class CocoDataset:
    annotation_file: Path
    images_dir: Path
    name: str
    split: str | None
    images: tuple[CocoImage, ...]
    """Sorted by image id: ``limit`` takes the first ones, the same on every run."""
    categories: CategoryMap
    ground_truth: dict[str, Any] = field(repr=False)
    """The checked dataset as the COCO library reads it (area and iscrowd filled in)."""

    def select(self, limit: int | None = None) -> tuple[CocoImage, ...]:
        if limit is not None and limit < 1:
            raise InputError(f"--limit must be a positive number of images, got {limit}")
        return self.images if limit is None else self.images[:limit]

    def n_annotations(self, image_ids: Iterable[int] | None = None) -> int:
        anns = self.ground_truth["annotations"]
        if image_ids is None:
            return len(anns)
        keep = set(image_ids)
        return sum(1 for a in anns if a["image_id"] in keep)


def find_annotation_file(data: Path) -> Path:
    """``data`` if it is a file, else the one ``instances_*.json`` in it or in its annotations/."""
    if data.is_file():
        return data
    if not data.exists():
        raise InputError(f"{data}: no such file or folder; pass a COCO dataset folder or its instances_*.json")
    found = sorted(data.glob("instances_*.json")) + sorted((data / "annotations").glob("instances_*.json"))
    if not found:
        raise InputError(
            f"{data}: no instances_*.json found (looked in {data} and {data / 'annotations'}); "
            "pass the annotation file itself, or a folder holding "
            "annotations/instances_SPLIT.json and SPLIT/"
        )
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(data)) for p in found)
        raise InputError(f"{data}: several annotation files ({names}); pass the one to evaluate on")
    return found[0]


def split_of(annotation_file: Path) -> str | None:
    """'val2017' for instances_val2017.json; None for any other file name."""
    stem = annotation_file.stem
    return (stem[len("instances_") :] or None) if stem.startswith("instances_") else None


def find_images_dir(annotation_file: Path, data: Path, split: str | None) -> Path:
    """COCO's layouts: ROOT/SPLIT/ or ROOT/images/[SPLIT/] beside ROOT/annotations/, else the
    json's own folder when it holds images."""
    roots = [annotation_file.parent, annotation_file.parent.parent]
    if data.is_dir() and data not in roots:
        roots.insert(0, data)
    candidates: list[Path] = []
    for root in roots:
        if split:
            candidates += [root / split, root / "images" / split]
        candidates.append(root / "images")
    for folder in candidates:
        if folder.is_dir():
            return folder
    if any(p.suffix.lower() in IMAGE_EXTS for p in annotation_file.parent.iterdir()):
        return annotation_file.parent
    looked = ", ".join(str(c) for c in candidates[:4])
    raise InputError(
        f"{annotation_file}: no images folder found (looked in {looked}, ...); "
        "put the images in SPLIT/ or images/ beside the annotations, or pass images_dir"
    )


def load_coco(
    data: str | Path,
    images_dir: str | Path | None = None,
    name: str | None = None,
    scheme: str = "auto",
) -> CocoDataset:
    """Read and check a COCO-format detection dataset: a folder, or its instances_*.json.

    Every problem is one ``InputError`` line naming the file, the field and the fix. Image files
    are not opened here; ``missing_images`` checks the ones an evaluation will read.
    """
    data = Path(data)
    annotation_file = find_annotation_file(data)
    raw = _read_json(annotation_file)
    ground_truth = check_instances(raw, annotation_file)
    split = split_of(annotation_file)
    folder = Path(images_dir) if images_dir is not None else find_images_dir(annotation_file, data, split)
    if not folder.is_dir():
        raise InputError(f"{folder}: images folder does not exist; pass the folder holding the dataset's images")
    images = tuple(
        CocoImage(
            int(im["id"]),
            str(im["file_name"]),
            int(im["width"]),
            int(im["height"]),
            folder / str(im["file_name"]),
        )
        for im in sorted(ground_truth["images"], key=lambda im: im["id"])
    )
    if name is None:
        base = data if data.is_dir() else annotation_file.parent
        name = (base.parent if base.name == "annotations" else base).resolve().name or "coco"
    return CocoDataset(
        annotation_file=annotation_file,
        images_dir=folder,
        name=name,
        split=split,
        images=images,
        categories=CategoryMap.from_categories(ground_truth["categories"], scheme),
        ground_truth=ground_truth,
    )


def missing_images(images: Sequence[CocoImage], annotation_file: Path | None = None) -> None:
    """Fail before any inference when an image file the evaluation needs is not there."""
    missing = [im for im in images if not im.path.is_file()]
    if missing:
        where = f" (listed in {annotation_file})" if annotation_file else ""
        more = f"; {len(missing)} of {len(images)} images are missing" if len(missing) > 1 else ""
        raise InputError(
            f"{missing[0].path}: image file missing{where}{more}; "
            "copy the images into the images folder, or pass images_dir"
        )


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror}); pass a readable COCO instances_*.json") from err
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text; pass a COCO instances_*.json") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "fix the file or re-export it as a COCO instances_*.json"
        ) from err


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _fail(path: Path, where: str, problem: str, fix: str, count: int = 1) -> InputError:
    more = f" (and {count - 1} more like it)" if count > 1 else ""
    return InputError(f"{path}: {where}{more}: {problem}; {fix}")


def check_instances(raw: Any, path: Path) -> dict[str, Any]:
    """Check a parsed instances file and return the clean dict the COCO library reads."""
    if not isinstance(raw, dict):
        raise InputError(f"{path}: top level is a JSON {type(raw).__name__}, not an object; {_FORMAT_HINT}")
    for key in ("images", "annotations", "categories"):
        if key not in raw:
            raise InputError(f"{path}: missing key '{key}'; {_FORMAT_HINT}")
        if not isinstance(raw[key], list):
            raise InputError(f"{path}: '{key}' is a {type(raw[key]).__name__}, not a list; {_FORMAT_HINT}")

    images = _check_items(
        path,
        "images",
        raw["images"],
        {
            "id": _is_int,
            "file_name": lambda v: isinstance(v, str) and v != "",
            "width": lambda v: _is_int(v) and v > 0,
            "height": lambda v: _is_int(v) and v > 0,
        },
        "each image needs an integer id, a file_name and positive integer width and height",
    )
    categories = _check_items(
        path,
        "categories",
        raw["categories"],
        {"id": _is_int, "name": lambda v: isinstance(v, str)},
        "each category needs an integer id and a name",
    )
    if not categories:
        raise InputError(f"{path}: 'categories' is empty; list the dataset's classes with their ids")
    image_ids = _unique_ids(path, "images", images)
    category_ids = _unique_ids(path, "categories", categories)

    def bbox_ok(v: Any) -> bool:
        return isinstance(v, list) and len(v) == 4 and all(_is_number(x) for x in v) and v[2] >= 0 and v[3] >= 0

    anns = _check_items(
        path,
        "annotations",
        raw["annotations"],
        {"id": _is_int, "image_id": _is_int, "category_id": _is_int, "bbox": bbox_ok},
        "each annotation needs an integer id, image_id, category_id and a bbox "
        "[x, y, width, height] with width, height >= 0",
    )
    _unique_ids(path, "annotations", anns)
    for key, known, what in (
        ("image_id", image_ids, "'images'"),
        ("category_id", category_ids, "'categories'"),
    ):
        bad = [i for i, a in enumerate(anns) if a[key] not in known]
        if bad:
            first = anns[bad[0]]
            raise _fail(
                path,
                f"annotations[{bad[0]}].{key}",
                f"{first[key]} names no entry of {what}",
                f"fix the {key} or add the missing entry to {what}",
                len(bad),
            )

    clean_anns = []
    for i, a in enumerate(anns):
        iscrowd = a.get("iscrowd", 0)
        if iscrowd not in (0, 1):
            raise _fail(path, f"annotations[{i}].iscrowd", f"is {iscrowd!r}", "use 0 or 1")
        x, y, w, h = (float(v) for v in a["bbox"])
        area = a.get("area", w * h)
        if not _is_number(area):
            raise _fail(
                path,
                f"annotations[{i}].area",
                f"is {area!r}",
                "use the box or mask area in pixels, or leave it out",
            )
        clean = {
            "id": a["id"],
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": [x, y, w, h],
            "area": float(area),
            "iscrowd": int(iscrowd),
        }
        if "segmentation" in a:
            problem = _segmentation_problem(a["segmentation"])
            if problem:
                raise _fail(
                    path,
                    f"annotations[{i}].segmentation",
                    problem,
                    "give polygons [[x1, y1, x2, y2, ...], ...] (at least 3 points each) or RLE "
                    "{'size': [h, w], 'counts': ...}, or leave it out",
                )
            clean["segmentation"] = a["segmentation"]
        clean_anns.append(clean)
    return {
        "info": raw.get("info", {}) if isinstance(raw.get("info", {}), dict) else {},
        "images": [
            {
                "id": im["id"],
                "file_name": im["file_name"],
                "width": im["width"],
                "height": im["height"],
            }
            for im in images
        ],
        "annotations": clean_anns,
        "categories": [
            {"id": c["id"], "name": c["name"], "supercategory": c.get("supercategory", "")} for c in categories
        ],
    }


def _segmentation_problem(seg: Any) -> str | None:
    """Why ``seg`` is not a COCO segmentation (polygons or RLE), or None."""
    if isinstance(seg, list):
        if not seg:
            return "is an empty list"
        for k, poly in enumerate(seg):
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2 or not all(_is_number(v) for v in poly):
                return f"polygon {k} is not a flat list of at least 3 (x, y) points"
        return None
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v >= 0 for v in size)):
            return "RLE 'size' must be [height, width]"
        if not (isinstance(counts, str) or (isinstance(counts, list) and all(_is_int(v) for v in counts))):
            return "RLE 'counts' must be a string or a list of integers"
        return None
    return f"is a JSON {type(seg).__name__}"


def _check_items(
    path: Path, key: str, items: list[Any], fields: Mapping[str, Callable[[Any], bool]], fix: str
) -> list[dict[str, Any]]:
    problems: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append((i, f"is a JSON {type(item).__name__}, not an object"))
            continue
        for name, ok in fields.items():
            if name not in item:
                problems.append((i, f"missing key '{name}'"))
                break
            if not ok(item[name]):
                problems.append((i, f"'{name}' is {json.dumps(item[name])[:60]}"))
                break
    if problems:
        i, problem = problems[0]
        raise _fail(path, f"{key}[{i}]", problem, fix, len(problems))
    return items


def _unique_ids(path: Path, key: str, items: list[dict[str, Any]]) -> set[int]:
    seen: set[int] = set()
    for i, item in enumerate(items):
        if item["id"] in seen:
            raise _fail(
                path,
                f"{key}[{i}].id",
                f"{item['id']} appears twice",
                f"give every entry of '{key}' its own id",
            )
        seen.add(item["id"])
    return seen


# -- detections → COCO results ------------------------------------------------------------------
def detection_arrays(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes N×4 xyxy, scores N, labels N) from a detector result or a dict with the same fields.

    Reads ``boxes``, ``scores`` and the first of ``class_ids`` / ``labels`` / ``classes``.
    """

    def get(name: str) -> Any:
        return result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)

    boxes, scores = get("boxes"), get("scores")
    labels = next((v for v in (get("class_ids"), get("labels"), get("classes")) if v is not None), None)
    if boxes is None or scores is None or labels is None:
        raise InputError(
            f"a {type(result).__name__} has no boxes/scores/class_ids; COCO evaluation needs a detector's results"
        )
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    c = np.asarray(labels).reshape(-1).astype(np.int64)
    if not (len(b) == len(s) == len(c)):
        raise InputError(f"detections disagree in length: {len(b)} boxes, {len(s)} scores, {len(c)} class ids")
    return b, s, c


def detections_to_coco(image_id: int, result: Any, categories: CategoryMap) -> list[dict[str, Any]]:
    """COCO results entries ({image_id, category_id, bbox xywh, score}) for one image's detections.

    Labels the dataset has no category for are dropped: COCO would count them nowhere anyway.
    """
    boxes, scores, labels = detection_arrays(result)
    out = []
    for (x1, y1, x2, y2), score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist(), strict=True):
        cid = categories.to_category(int(label))
        if cid is None:
            continue
        out.append(
            {
                "image_id": int(image_id),
                "category_id": cid,
                "bbox": [
                    round(x1, 3),
                    round(y1, 3),
                    round(max(x2 - x1, 0.0), 3),
                    round(max(y2 - y1, 0.0), 3),
                ],
                "score": round(float(score), 5),
            }
        )
    return out


def masks_to_coco(image_id: int, result: Any, categories: CategoryMap) -> list[dict[str, Any]]:
    """COCO segmentation results ({image_id, category_id, segmentation RLE, score}) for one image's
    instances: ``result`` has class ids and scores like detections and ``rles()`` giving each mask as
    COCO RLE (``zoo.results.InstanceMasks``). No bbox: the COCO tools then take area and box from
    the mask."""
    rles = getattr(result, "rles", None)
    if rles is None:
        raise InputError(f"a {type(result).__name__} has no masks; mask AP needs a segmenter's results")
    _, scores, labels = detection_arrays(result)
    out = []
    for rle, score, label in zip(rles(), scores.tolist(), labels.tolist(), strict=True):
        cid = categories.to_category(int(label))
        if cid is not None:
            out.append({"image_id": int(image_id), "category_id": cid, "segmentation": rle,
                        "score": round(float(score), 5)})  # fmt: skip
    return out


def write_results(path: str | Path, results: Sequence[Mapping[str, Any]]) -> Path:
    """The COCO results file (a JSON list), as the COCO evaluation server and tools read it."""
    from zoo.paths import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(list(results), separators=(",", ":")) + "\n")
    return path


# -- scoring ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CocoScores:
    map: float
    """mAP@[.5:.95], area all, 100 detections per image."""
    map50: float
    stats: dict[str, float | None]
    """The twelve summarize() numbers by STAT_NAMES; None where COCO says -1 (no ground truth)."""
    library: str


def coco_library() -> str:
    """'faster-coco-eval 1.8.0' (preferred) or 'pycocotools 2.0.x', whichever scores."""
    _, _, label = _backend()
    return label


def _backend() -> tuple[Any, Any, str]:
    try:
        from faster_coco_eval import COCO, COCOeval_faster

        return COCO, COCOeval_faster, f"faster-coco-eval {_version('faster-coco-eval')}"
    except ImportError:
        pass
    try:
        from pycocotools.coco import COCO as PyCOCO
        from pycocotools.cocoeval import COCOeval

        return PyCOCO, COCOeval, f"pycocotools {_version('pycocotools')}"
    except ImportError as err:
        raise MissingDependencyError("faster_coco_eval", "eval", "to compute COCO mAP") from err


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def coco_map(
    ground_truth: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    image_ids: Iterable[int] | None = None,
    iou_type: Literal["bbox", "segm"] = "bbox",
) -> CocoScores:
    """Box (``iou_type='bbox'``) or mask (``'segm'``) mAP of ``results`` against ``ground_truth``
    (a checked instances dict; for masks every annotation needs a ``segmentation``).

    ``image_ids`` restricts the evaluation (``--limit``); by default every image counts, so an
    image with objects and no detections lowers recall as it should. No results at all score 0.
    """
    coco_cls, eval_cls, label = _backend()
    # Copies: the COCO libraries write bookkeeping keys ('ignore', 'id', 'area') into the dicts.
    gt_dict = {k: [dict(x) for x in v] if isinstance(v, list) else v for k, v in ground_truth.items()}
    ids = sorted({int(i) for i in image_ids}) if image_ids is not None else sorted(im["id"] for im in gt_dict["images"])
    keep = set(ids)
    if not any(a["image_id"] in keep and not a.get("iscrowd", 0) for a in gt_dict["annotations"]):
        raise InputError(
            "the evaluated images have no ground-truth boxes; mAP is undefined (add annotations or raise --limit)"
        )
    if iou_type == "segm":
        bare = [a["id"] for a in gt_dict["annotations"] if "segmentation" not in a]
        if bare:
            raise InputError(
                f"annotation id {bare[0]} (and {len(bare) - 1} more) has no 'segmentation'; mask AP needs a "
                "polygon or RLE mask on every annotation"
            )
    dets = [dict(r, bbox=list(r["bbox"])) if "bbox" in r else dict(r) for r in results if r["image_id"] in keep]
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):  # pycocotools prints its progress
        gt = coco_cls(gt_dict) if label.startswith("faster") else _pycoco_from_dict(coco_cls, gt_dict)
        dt = gt.loadRes(dets) if dets else _empty_results(coco_cls, gt_dict)
        ev = eval_cls(gt, dt, iouType=iou_type)
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    raw = [float(v) for v in list(ev.stats)[: len(STAT_NAMES)]]
    stats = {n: (None if v < 0 else v) for n, v in zip(STAT_NAMES, raw, strict=True)}
    # With ground truth present, COCO's -1 only appears when nothing matched any category: 0 then.
    return CocoScores(map=max(raw[0], 0.0), map50=max(raw[1], 0.0), stats=stats, library=label)


def _pycoco_from_dict(coco_cls: Any, gt_dict: dict[str, Any]) -> Any:
    gt = coco_cls()
    gt.dataset = gt_dict
    gt.createIndex()
    return gt


def _empty_results(coco_cls: Any, gt_dict: dict[str, Any]) -> Any:
    """A results object with no detections (pycocotools' loadRes refuses an empty list)."""
    res = coco_cls()
    res.dataset = {
        "images": list(gt_dict["images"]),
        "categories": list(gt_dict["categories"]),
        "annotations": [],
    }
    res.createIndex()
    return res


# -- running a detector over the dataset --------------------------------------------------------
@dataclass
class PredictionRun:
    results: list[dict[str, Any]]
    image_ids: list[int]
    per_image_ns: list[int]
    n_detections: int
    n_dropped_labels: int


def predict_dataset(
    dataset: CocoDataset,
    predict: Callable[[np.ndarray], Any],
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PredictionRun:
    """Run ``predict`` (RGB uint8 array → detector result) on each selected image, in id order.

    Boxes must come back in original-image pixels. An image whose pixel size differs from the
    annotation's width/height is refused: its ground-truth boxes would be in another frame.
    """
    images = dataset.select(limit)
    missing_images(images, dataset.annotation_file)
    run = PredictionRun([], [], [], 0, 0)
    for k, im in enumerate(images):
        rgb = load_image(im.path)
        if rgb.shape[:2] != (im.height, im.width):
            raise InputError(
                f"{im.path}: image is {rgb.shape[1]}x{rgb.shape[0]} but "
                f"{dataset.annotation_file} says {im.width}x{im.height} (images id {im.id}); "
                "use the images the annotations were made on"
            )
        t0 = time.perf_counter_ns()
        result = predict(rgb)
        run.per_image_ns.append(time.perf_counter_ns() - t0)
        entries = detections_to_coco(im.id, result, dataset.categories)
        n = len(detection_arrays(result)[1])
        run.n_detections += len(entries)
        run.n_dropped_labels += n - len(entries)
        run.results.extend(entries)
        run.image_ids.append(im.id)
        if progress:
            progress(k + 1, len(images))
    return run


# -- one pipeline's detections scored against another's ------------------------------------------
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


def masks_agreement_map(ref: Sequence[Any], cand: Sequence[Any]) -> float:
    """Mask mAP@[.5:.95] of ``cand`` scored against ``ref`` taken as ground truth, image by image:
    ``detections_agreement_map`` for instance masks (results with ``rles()``). Empty masks are
    left out on both sides; no reference masks: 1.0 when the candidate has none either, else 0.0."""
    if len(ref) != len(cand):
        raise InputError(f"masks_agreement_map needs one candidate per reference image, got {len(ref)} and {len(cand)}")
    mask_util = _mask_utils()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    labels: set[int] = set()
    results: list[dict[str, Any]] = []
    for image_id, (r, c) in enumerate(zip(ref, cand, strict=True), start=1):
        r_rles, c_rles = r.rles(), c.rles()
        size = (r_rles or c_rles or [{"size": [1, 1]}])[0]["size"]
        images.append({"id": image_id, "file_name": f"{image_id}", "height": int(size[0]), "width": int(size[1])})
        for rle, label in zip(r_rles, detection_arrays(r)[2].tolist(), strict=True):
            area = float(mask_util.area(_rle_bytes(rle)))
            if area <= 0:
                continue
            x, y, w, h = (float(v) for v in mask_util.toBbox(_rle_bytes(rle)))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label) + 1,
                                "segmentation": rle, "area": area, "bbox": [x, y, w, h], "iscrowd": 0})  # fmt: skip
            labels.add(int(label))
        for rle, score, label in zip(c_rles, *detection_arrays(c)[1:], strict=True):
            if float(mask_util.area(_rle_bytes(rle))) > 0:
                results.append({"image_id": image_id, "category_id": int(label) + 1, "segmentation": rle,
                                "score": float(score)})  # fmt: skip
                labels.add(int(label))
    if not annotations:
        return 1.0 if not results else 0.0
    ground_truth = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k + 1, "name": str(k)} for k in range(max(labels) + 1)],
    }
    return coco_map(ground_truth, results, iou_type="segm").map


def _mask_utils() -> Any:
    try:
        from faster_coco_eval.core import mask as mask_util
    except ImportError:
        try:
            from pycocotools import mask as mask_util
        except ImportError as err:
            raise MissingDependencyError("faster_coco_eval", "eval", "to score masks") from err
    return mask_util


def _rle_bytes(rle: Mapping[str, Any]) -> dict[str, Any]:
    """An RLE as the C mask routines take it (counts as bytes)."""
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


# -- the Evaluator a box-detecting task uses ----------------------------------------------------
class BoxEvaluator:
    """COCO bbox mAP@[.5:.95] and mAP@.5 of a predictor whose results have boxes, scores and
    class ids (``zoo.results.Detections``), on a COCO-format instances set. A task sets
    ``evaluator=BoxEvaluator()`` in its TaskDef; the run options 'conf' and 'iou' are passed to the
    predictor (COCO's convention: a very low confidence threshold, 0.001)."""

    metric = "mAP@[.5:.95]"

    def __init__(self, defaults: Mapping[str, Any] | None = None) -> None:
        self.defaults = dict(defaults or {})
        """Predictor options used when the user gives none (COCO's: conf 0.001, iou 0.6)."""

    def load(self, data: Path, *, limit: int | None, name: str | None) -> tuple[CocoDataset, int | None]:
        dataset = load_coco(data, name=name)
        missing_images(dataset.select(limit), dataset.annotation_file)
        return dataset, limit

    def evaluate(
        self,
        loaded: tuple[CocoDataset, int | None],
        predictor: Any,
        *,
        options: Mapping[str, Any],
        results_file: Path | None,
        progress: Callable[[int, int], None] | None,
    ) -> Any:

        from zoo.card import Metric
        from zoo.tasks import EvalOutcome

        dataset, limit = loaded
        options = self._options(options)
        run = predict_dataset(dataset, lambda rgb: predictor(rgb, **options), limit, progress)
        t0 = time.perf_counter()
        scores = coco_map(dataset.ground_truth, run.results, run.image_ids)
        score_ms = (time.perf_counter() - t0) * 1e3
        written = str(write_results(results_file, run.results)) if results_file is not None else None
        n = len(run.image_ids)
        return EvalOutcome(
            metrics=[
                Metric(name="mAP@[.5:.95]", value=scores.map, dataset=dataset.name, split=dataset.split, n=n),
                Metric(name="mAP@.5", value=scores.map50, dataset=dataset.name, split=dataset.split, n=n),
            ],
            facts=self._facts(dataset, run, options, library=scores.library, stats=scores.stats, score_ms=score_ms,
                              results_file=written, counts={"n_detections": run.n_detections}),  # fmt: skip
        )

    def _options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The user's options over the evaluator's defaults (None: not given)."""
        return {**self.defaults, **{k: v for k, v in options.items() if v is not None}}

    @staticmethod
    def _facts(
        dataset: CocoDataset,
        run: PredictionRun,
        options: Mapping[str, Any],
        *,
        library: str,
        stats: Any,
        score_ms: float,
        results_file: str | None,
        counts: Mapping[str, int],
    ) -> dict[str, Any]:
        """How the scores were measured, for the card's facts: data, counts, library, timings, options."""
        import statistics

        return {
            "library": library,
            "annotation_file": str(dataset.annotation_file),
            "images_dir": str(dataset.images_dir),
            "n_images": len(run.image_ids),
            "n_annotations": dataset.n_annotations(run.image_ids),
            **counts,
            "n_dropped_labels": run.n_dropped_labels,
            "category_scheme": dataset.categories.scheme,
            "stats": stats,
            "predict_median_ms": statistics.median(run.per_image_ns) / 1e6,
            "predict_total_s": sum(run.per_image_ns) / 1e9,
            "score_ms": score_ms,
            "results_file": results_file,
            **{k: v for k, v in options.items() if v is not None},
        }


class MaskEvaluator(BoxEvaluator):
    """COCO mask AP (segm) and box AP of a predictor whose results have boxes, scores, class ids and
    ``rles()`` masks (``zoo.results.InstanceMasks``), on a COCO-format instances set whose
    annotations carry polygon or RLE ``segmentation``s. Its card metrics: mask mAP@[.5:.95] (the
    primary), mask mAP@.5, box mAP@[.5:.95], box mAP@.5."""

    metric = "mask mAP@[.5:.95]"

    def load(self, data: Path, *, limit: int | None, name: str | None) -> tuple[CocoDataset, int | None]:
        dataset, limit = super().load(data, limit=limit, name=name)
        bare = [a for a in dataset.ground_truth["annotations"] if "segmentation" not in a]
        if bare:
            raise InputError(
                f"{dataset.annotation_file}: annotation id {bare[0]['id']} (and {len(bare) - 1} more) has no "
                "'segmentation'; mask AP needs a polygon or RLE mask on every annotation (this is a "
                "box-only set: evaluate a detector on it instead)"
            )
        return dataset, limit

    def evaluate(
        self,
        loaded: tuple[CocoDataset, int | None],
        predictor: Any,
        *,
        options: Mapping[str, Any],
        results_file: Path | None,
        progress: Callable[[int, int], None] | None,
    ) -> Any:

        from zoo.card import Metric
        from zoo.tasks import EvalOutcome

        dataset, limit = loaded
        options = self._options(options)
        results: list[Any] = []

        def predict(rgb: np.ndarray) -> Any:
            results.append(predictor(rgb, **options))
            return results[-1]

        run = predict_dataset(dataset, predict, limit, progress)
        segm = [e for image_id, r in zip(run.image_ids, results, strict=True)
                for e in masks_to_coco(image_id, r, dataset.categories)]  # fmt: skip
        t0 = time.perf_counter()
        masks = coco_map(dataset.ground_truth, segm, run.image_ids, iou_type="segm")
        boxes = coco_map(dataset.ground_truth, run.results, run.image_ids)
        score_ms = (time.perf_counter() - t0) * 1e3
        if results_file is not None:  # both lists drop the same labels, so they line up
            write_results(results_file, [{**b, "segmentation": m["segmentation"]}
                                         for b, m in zip(run.results, segm, strict=True)])  # fmt: skip
        n = len(run.image_ids)

        def metric(name: str, value: float) -> Metric:
            return Metric(name=name, value=value, dataset=dataset.name, split=dataset.split, n=n)

        return EvalOutcome(
            metrics=[
                metric("mask mAP@[.5:.95]", masks.map),
                metric("mask mAP@.5", masks.map50),
                metric("box mAP@[.5:.95]", boxes.map),
                metric("box mAP@.5", boxes.map50),
            ],
            facts=self._facts(dataset, run, options, library=masks.library,
                              stats={"segm": masks.stats, "bbox": boxes.stats}, score_ms=score_ms,
                              results_file=str(results_file) if results_file is not None else None,
                              counts={"n_instances": len(segm)}),  # fmt: skip
        )
