"""``zoo eval`` for zero-shot models: top-1 / top-5 accuracy on a folder of class folders.

The layout is torchvision's ``ImageFolder`` (and Imagenette's, ImageNet-val's when sorted into
folders): ``DATA/<class name>/<image>``. The class names, with ``_`` read as a space, are the
labels; each image is classified over all of them through the predictor (``--template`` applies),
exactly as ``zoo run --labels`` would, so the label embeddings are computed once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.card import Metric
from zoo.errors import InputError
from zoo.tasks import EvalOutcome, Predictor


@dataclass(frozen=True)
class ClassFolders:
    name: str
    root: Path
    classes: tuple[str, ...]
    """Labels in folder order (sorted by folder name)."""
    items: tuple[tuple[Path, int], ...]
    """(image, class index), classes interleaved so that a --limit stays balanced."""


def class_label(folder: str) -> str:
    return folder.replace("_", " ").strip()


def load_class_folders(root: Path, limit: int | None = None, name: str | None = None) -> ClassFolders:
    """Read and check ``root``: two or more class folders, each with at least one image."""
    from zoo.images import IMAGE_EXTENSIONS

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; --data takes a folder of class folders (DATA/<class>/<image>)")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class: list[list[Path]] = []
    classes: list[str] = []
    for folder in folders:
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            continue
        label = class_label(folder.name)
        if not label or "," in label:
            raise InputError(f"{folder}: a class folder's name is its label; rename it without commas")
        classes.append(label)
        per_class.append(images)
    if len(classes) < 2:
        raise InputError(
            f"{root}: found {len(classes)} class folder(s) with images; zero-shot accuracy needs two or more "
            "(DATA/<class name>/<image>)"
        )
    if len(set(classes)) != len(classes):
        raise InputError(f"{root}: two class folders give the same label (with '_' read as a space); rename one")
    items: list[tuple[Path, int]] = []
    for rank in range(max(len(images) for images in per_class)):
        items += [(images[rank], c) for c, images in enumerate(per_class) if rank < len(images)]
    if limit is not None:
        items = items[:limit]
    return ClassFolders(name=name or root.resolve().name, root=root, classes=tuple(classes), items=tuple(items))


class ClassFolderEvaluator:
    """Zero-shot top-1 (the card's metric) and top-5 over a folder of class folders."""

    metric = "top1"

    def load(self, data: Path, *, limit: int | None, name: str | None) -> ClassFolders:
        return load_class_folders(data, limit, name)

    def evaluate(
        self,
        dataset: ClassFolders,
        predictor: Predictor,
        *,
        options: Mapping[str, Any],
        results_file: Path | None,
        progress: Callable[[int, int], None] | None,
    ) -> EvalOutcome:
        from zoo.images import load_image

        if options.get("labels") is not None or options.get("labels_file") is not None:
            raise InputError("zoo eval takes the labels from the dataset's class folders; drop --labels/--labels-file")
        template = options.get("template")
        labels = ",".join(dataset.classes)
        k = min(5, len(dataset.classes))
        hits1, hitsk, rows = 0, 0, []
        started = time.perf_counter()
        stage_ms: dict[str, float] = {}
        for done, (path, truth) in enumerate(dataset.items, start=1):
            result = predictor(load_image(path), labels=labels, template=template, top_k=k)
            ranked = [int(i) for i in result.indices]
            hits1 += int(ranked[0] == truth)
            hitsk += int(truth in ranked[:k])
            rows.append({"image": str(path), "class": dataset.classes[truth], "top": [dataset.classes[i] for i in ranked]})
            for stage, ms in predictor.times.items():
                stage_ms[stage] = stage_ms.get(stage, 0.0) + ms
            if progress is not None:
                progress(done, len(dataset.items))
        n = len(dataset.items)
        if results_file is not None:
            results_file.parent.mkdir(parents=True, exist_ok=True)
            results_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        metrics = [Metric(name="top1", value=hits1 / n, dataset=dataset.name, n=n)]
        if k == 5:
            metrics.append(Metric(name="top5", value=hitsk / n, dataset=dataset.name, n=n))
        counts = np.bincount([t for _, t in dataset.items], minlength=len(dataset.classes))
        facts = {
            "protocol": "zero-shot over the class folders' names (DATA/<class>/<image>, '_' read as a space)",
            "template": template,
            "classes": len(dataset.classes),
            "images_per_class": {c: int(n_c) for c, n_c in zip(dataset.classes, counts, strict=True)},
            "ms_per_image": {s: round(ms / n, 3) for s, ms in stage_ms.items()},
            "wall_s": round(time.perf_counter() - started, 2),
        }
        return EvalOutcome(metrics=metrics, facts=facts)
