"""CLIP predictors built from two sessions (role -> Session) and the tokenizer.

A session is anything with ``run({"in0": array, ...}) -> {"out0": array}`` on batch-first arrays
(the core's Session protocol). The image session takes in0 = (1, 3, S, S) float32; the text
session in0 = (1, 77) int64 token ids and in1 = (1, 77) float32 one-hot EOT position; each
returns out0 = (1, D). Two sessions are here because the core's NcnnSession feeds every input as
float32 and ncnn's Embed layer reads int32 ids: :class:`NcnnTower` passes integer inputs as int32.
:class:`TorchTower` runs the PyTorch module for parity.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from zoo.errors import InputError
from zoo_clip import processing
from zoo_clip.result import Embeddings, ZeroShot, zero_shot_result
from zoo_clip.tokenizer import Tokenizer


class Session(Protocol):
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class NcnnTower:
    """One ncnn tower; integer inputs go in as int32 (ncnn's Embed reads int32), floats as float32.

    ``options`` are ncnn Option flags (zoo.runtime.ncnn_session.OPTIONS_BY_DTYPE), all explicit.
    """

    def __init__(self, param: Path, bin: Path, threads: int = 1, options: Mapping[str, bool] | None = None) -> None:
        import ncnn

        from zoo.runtime.ncnn_session import FP32_OPTIONS, read_blob_names

        for path in (param, bin):
            if not Path(path).is_file():
                raise InputError(f"{path}: no such file; export the CLIP towers first")
        self.net = ncnn.Net()
        for key, value in dict(FP32_OPTIONS if options is None else options).items():
            setattr(self.net.opt, key, bool(value))
        self.net.opt.num_threads = threads
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(bin)) != 0:
            raise InputError(f"{param}: ncnn could not load this model")
        blobs = read_blob_names(Path(param))
        self.input_names, self.output_names = blobs.inputs, blobs.outputs

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ncnn

        ex = self.net.create_extractor()
        mats = []
        for name, array in inputs.items():
            a = np.asarray(array)[0]
            a = np.ascontiguousarray(a, dtype=np.int32 if np.issubdtype(a.dtype, np.integer) else np.float32)
            mats.append(ncnn.Mat(a))
            ex.input(name, mats[-1])
        out = {}
        for name in self.output_names:
            ret, mat = ex.extract(name)
            if ret != 0:
                raise InputError(f"ncnn failed to compute blob {name!r} (error {ret})")
            out[name] = np.array(mat)[None]
        return out


class TorchTower:
    """A PyTorch tower behind the same ``run`` (inputs in forward-argument order in0, in1, ...)."""

    def __init__(self, module: Any) -> None:
        self.module = module.eval()

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(inputs[f"in{i}"])) for i in range(len(inputs))]
        with torch.no_grad():
            out = self.module(*args)
        return {"out0": out.numpy()}


@dataclass
class ClipPredictor:
    """Zero-shot classification and embeddings from an image and/or a text session.

    Either session may be None (an export of one tower only); calling what needs it raises one
    line. ``logit_scale`` is the checkpoint's (log-space) parameter, kept beside the artifacts.
    """

    image: Session | None
    text: Session | None
    tokenizer: Tokenizer | None
    logit_scale: float
    image_size: int = 224
    mean: tuple[float, float, float] = processing.OPENAI_MEAN
    std: tuple[float, float, float] = processing.OPENAI_STD
    interpolation: str = "bicubic"
    model_id: str = "clip"
    text_artifact_sha256: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def _need(self, role: str) -> Session:
        session = self.image if role == "image" else self.text
        if session is None:
            raise InputError(f"{self.model_id}: the {role} tower was not exported; export it to use "
                             f"{'images' if role == 'image' else 'text'}")
        if role == "text" and self.tokenizer is None:
            raise InputError(f"{self.model_id}: no tokenizer vocabulary; the text tower needs it")
        return session

    def embed_image(self, image: np.ndarray) -> np.ndarray:
        """(D,) L2-normalised embedding of one RGB uint8 image."""
        session = self._need("image")
        x = processing.preprocess_image(image, self.image_size, self.mean, self.std, self.interpolation)
        return processing.l2_normalize(session.run({"in0": x})["out0"])[0]

    def embed_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, tuple[bool, ...]]:
        """(N, D) L2-normalised text embeddings, and which texts were truncated."""
        session = self._need("text")
        assert self.tokenizer is not None
        tokens = self.tokenizer(list(texts))
        onehot = tokens.eot_onehot()
        rows = [session.run({"in0": tokens.ids[i : i + 1], "in1": onehot[i : i + 1]})["out0"][0]
                for i in range(len(texts))]
        return processing.l2_normalize(np.stack(rows)), tokens.truncated

    def images(self, images: Sequence[np.ndarray], sources: Sequence[str] = ()) -> Embeddings:
        vectors = np.stack([self.embed_image(im) for im in images])
        return Embeddings(vectors=vectors, kind="image", sources=tuple(sources) or tuple(map(str, range(len(images)))))

    def texts(self, texts: Sequence[str]) -> Embeddings:
        vectors, truncated = self.embed_texts(texts)
        return Embeddings(vectors=vectors, kind="text", sources=tuple(texts), truncated=truncated)

    def label_embeddings(self, labels: Sequence[str], template: str, cache_dir: Path | None = None
                         ) -> tuple[np.ndarray, tuple[str, ...]]:
        """Text embeddings of the prompts for ``labels`` (from the cache when there), and the
        prompts that were truncated."""
        prompts = processing.prompts(labels, template)
        key = processing.CacheKey(self.model_id, self.text_artifact_sha256, tuple(labels), template)
        if cache_dir is not None:
            cached = processing.load_text_cache(key.path(cache_dir), key)
            if cached is not None:
                return cached, ()
        t0 = time.perf_counter()
        vectors, truncated = self.embed_texts(prompts)
        self.timings["text_ms"] = 1000 * (time.perf_counter() - t0)
        if cache_dir is not None:
            processing.save_text_cache(key.path(cache_dir), key, vectors)
        return vectors, tuple(p for p, t in zip(prompts, truncated, strict=True) if t)

    def zero_shot(self, image: np.ndarray, labels: Sequence[str], template: str = processing.DEFAULT_TEMPLATE,
                  top_k: int = 5, cache_dir: Path | None = None, source: str = "") -> ZeroShot:
        processing.check_labels(labels)
        text, truncated = self.label_embeddings(labels, template, cache_dir)
        t0 = time.perf_counter()
        img = self.embed_image(image)
        self.timings["image_ms"] = 1000 * (time.perf_counter() - t0)
        probs = processing.softmax(processing.zero_shot_logits(img[None], text, self.logit_scale))[0]
        return zero_shot_result(probs, labels, top_k, template, truncated, source)
