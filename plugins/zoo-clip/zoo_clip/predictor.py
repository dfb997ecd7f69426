"""The zero-shot task's predictor: CLIP's two towers, the tokenizer and numpy in between.

``predictor(image, labels="a cat,a dog")`` → ``ZeroShot``: each label put into the template
("a photo of a {}"), tokenised, run through the text tower (once per label set: kept in memory,
and on disk under ``zoo.paths.cache_dir()`` when the towers come from an export), the image
through the image tower, then ``softmax(exp(logit_scale) · img · txtᵀ)`` over L2-normalised
embeddings. ``predictor.embed(image or text)`` → ``Embeddings`` (``zoo embed``).

Network calls go through ``self.infer`` only, so the same predictor runs PyTorch modules
(parity), ncnn or onnxruntime sessions, or replayed outputs (ARM). The text tower takes the token
ids (in0, int64: the runtime feeds them as ncnn's Embed expects) and the one-hot EOT position
(in1), one prompt per call; the logit scale is the checkpoint's, recorded at export
(``predictor.facts("text")``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.errors import InputError
from zoo.results import Embeddings, ZeroShot
from zoo.tasks import Predictor
from zoo_clip import processing

if TYPE_CHECKING:
    from zoo.runtimes import Session
    from zoo.specs import ModelSpec
    from zoo.tasks import TaskDef
    from zoo_clip.tokenizer import Tokenizer

LOG_100 = math.log(100.0)
"""open_clip clamps the learnt logit scale at log(100); trained CLIPs sit there."""
CACHE_FOLDER = "clip-text-embeddings"
IMAGE, TEXT = "image", "text"


class ClipPredictor(Predictor):
    """Zero-shot classification and embeddings from an image and a text tower."""

    def __init__(self, spec: ModelSpec, task: TaskDef, sessions: Mapping[str, Session],
                 parts: Mapping[str, Predictor] | None = None) -> None:  # fmt: skip
        super().__init__(spec, task, sessions, parts)
        self._tokenizer: Tokenizer | None = None
        self.text_cache: Literal["disk", "memory", "off"] = "disk"
        """Where label embeddings are kept between calls: 'disk' (memory, and files under the zoo
        cache when the towers come from an export), 'memory', or 'off' (the text tower runs for
        every call: what ``zoo bench`` times as the uncached pipeline)."""
        self.cache_root: Path | None = None
        """The disk cache's folder (None: ``zoo.paths.cache_dir() / clip-text-embeddings``)."""
        self._memo: dict[tuple[tuple[str, ...], str], tuple[np.ndarray, tuple[str, ...]]] = {}

    # -- pieces ----------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            from zoo_clip.tokenizer import Tokenizer

            context = self.spec.components[TEXT].inputs[0].shape[-1]
            self._tokenizer = Tokenizer(context_length=context)
        return self._tokenizer

    @property
    def logit_scale(self) -> float:
        """The checkpoint's (log-space) logit scale, as the export recorded it; log(100) otherwise."""
        return float(self.facts(TEXT).get("logit_scale", LOG_100))

    def _need(self, role: str) -> None:
        if role not in self.sessions:
            what = "images" if role == IMAGE else "text"
            have = ", ".join(sorted(self.sessions)) or "none"
            raise InputError(
                f"{self.spec.id}: the {role} tower is not in this export (it holds: {have}), so it cannot embed "
                f"{what}; export it with `zoo export {self.spec.id}`"
            )

    def image_embedding(self, image: np.ndarray) -> np.ndarray:
        """(D,) L2-normalised embedding of one RGB uint8 image."""
        from zoo.images import as_image

        self._need(IMAGE)
        pre = self.spec.pre
        if pre is None:  # the task refuses such specs at registration
            raise InputError(f"{self.spec.id} has no preprocessing spec")
        with self.stage("pre"):
            x = processing.preprocess_image(as_image(image), pre.size[0], pre.mean, pre.std, pre.interpolation,
                                            pre.resize)  # fmt: skip
        name = self.spec.components[IMAGE].inputs[0].name
        out = self.infer(IMAGE, {name: x})
        return processing.l2_normalize(np.asarray(next(iter(out.values()))).reshape(1, -1))[0]

    def text_embeddings(self, texts: Sequence[str]) -> tuple[np.ndarray, tuple[bool, ...]]:
        """(N, D) L2-normalised text embeddings, one text-tower call per text, and which texts
        were cut to the context length."""
        self._need(TEXT)
        with self.stage("tokenize"):
            tokens = self.tokenizer(list(texts))
            onehot = tokens.eot_onehot()
        ids_name, eot_name = (t.name for t in self.spec.components[TEXT].inputs)
        rows = []
        for i in range(len(texts)):
            out = self.infer(TEXT, {ids_name: tokens.ids[i : i + 1], eot_name: onehot[i : i + 1]})
            rows.append(np.asarray(next(iter(out.values()))).reshape(-1))
        return processing.l2_normalize(np.stack(rows)), tokens.truncated

    def _cache_key(self, labels: Sequence[str], template: str) -> processing.CacheKey | None:
        """The disk cache's key: model, the text tower's artifact (sha256), labels, template; None
        when the towers do not come from an export (PyTorch modules in a parity check)."""
        exp = self.export
        if exp is None or self.text_cache != "disk" or TEXT not in exp.manifest.components:
            return None
        files = exp.manifest.components[TEXT].files
        name = files.get("bin") or next(iter(files.values()))
        sha = next((a.sha256 for a in exp.manifest.artifacts if a.file == name), None)
        return None if sha is None else processing.CacheKey(self.spec.id, sha, tuple(labels), template)

    def label_embeddings(self, labels: Sequence[str], template: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """Text embeddings of ``labels`` put into ``template`` (from memory, the disk cache, or
        the text tower), and the prompts that were truncated."""
        prompts = processing.prompts(labels, template)
        memo_key = (tuple(labels), template)
        if self.text_cache != "off" and memo_key in self._memo:
            return self._memo[memo_key]
        key = self._cache_key(labels, template)
        root = self.cache_root or _default_cache_root()
        found = processing.load_text_cache(key.path(root), key) if key is not None else None
        if found is None:
            vectors, cut = self.text_embeddings(prompts)
            truncated = tuple(p for p, c in zip(prompts, cut, strict=True) if c)
            found = (vectors, truncated)
            if key is not None:
                processing.save_text_cache(key.path(root), key, vectors, truncated)
        if self.text_cache != "off":
            self._memo[memo_key] = found
        return found

    # -- the task ---------------------------------------------------------------------------------
    def predict(self, item: Any, options: Mapping[str, Any]) -> ZeroShot:
        labels = processing.labels_from(options.get("labels"), options.get("labels_file"))
        template = str(options.get("template") or processing.DEFAULT_TEMPLATE)
        text, truncated = self.label_embeddings(labels, template)
        image = self.image_embedding(item)
        with self.stage("post"):
            probs = processing.softmax(processing.zero_shot_logits(image[None], text, self.logit_scale))[0]
            top_k = int(options.get("top_k") or 5)
            return ZeroShot.from_probabilities(probs, labels, top_k, template, truncated, embedding=image)

    def embed(self, item: Any) -> Embeddings:
        """One L2-normalised embedding: of a text (a ``str``) or of an RGB uint8 image."""
        import time

        self.times = {}
        t0 = time.perf_counter_ns()
        if isinstance(item, str):
            vectors, cut = self.text_embeddings([item])
            result = Embeddings(vectors=vectors, kind="text", sources=(item,), truncated=cut if any(cut) else ())
        else:
            result = Embeddings(vectors=self.image_embedding(item)[None], kind="image", sources=("",))
        self.times["total"] = (time.perf_counter_ns() - t0) / 1e6
        return result

    def clear_cache(self) -> None:
        """Forget label embeddings kept in memory (the disk cache stays)."""
        self._memo.clear()


def _default_cache_root() -> Path:
    from zoo.paths import cache_dir

    return cache_dir() / CACHE_FOLDER
