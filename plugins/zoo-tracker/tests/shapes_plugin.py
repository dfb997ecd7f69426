"""A test-only detector for the tracker's CLI tests: finds the synthetic videos' coloured shapes.

It is installed the way pip would leave a third-party plugin (a package and a ``*.dist-info``
with its entry point, on PYTHONPATH so the bench worker finds it too) and plugs in through the
real hooks: a runtime (``shapes``: reads an npz of colours, "runs" by matching pixels), a model of
the ``detector`` task whose artifact is prebuilt (a file:// URI with its sha256, fetched into the
cache like any download), and its own predictor (``build_predictor``). The tracker then runs
over it exactly as over yolox-s, with no torch and no export, and its tracks can be checked
against the videos' ground truth. Not a model: a stand-in for one in tests.
"""

from __future__ import annotations

import hashlib
import os
import sys
import textwrap
from pathlib import Path

import numpy as np

PLUGIN = '''
"""zoo-shapes (tests only): a colour-matching 'detector' for synthetic videos."""

from pathlib import Path

import numpy as np

from zoo import hookimpl
from zoo.images import as_image
from zoo.results import Detections
from zoo.specs import ArtifactRef, ModelSpec, PostSpec, PreSpec, TensorSpec, WeightsRef
from zoo.tasks import Predictor

TOLERANCE = 48  # per channel: H.264 (4:2:0, crf 23) moves flat colours by a few levels, edges by more
MIN_PIXELS = 40


class ShapesSession:
    input_names, output_names = ["in0"], ["out0"]

    def __init__(self, path):
        with np.load(path) as data:
            self.colours = data["colours"].astype(np.int16)

    def run(self, inputs):
        image = inputs["in0"][0].astype(np.int16)
        rows = []
        for c in self.colours:
            ys, xs = np.nonzero((np.abs(image - c) <= TOLERANCE).all(axis=2))
            if len(xs) < MIN_PIXELS:
                rows.append((0, 0, 0, 0, 0.0))
                continue
            x1, x2 = np.percentile(xs, [0.5, 99.5])
            y1, y2 = np.percentile(ys, [0.5, 99.5])
            rows.append((x1, y1, x2 + 1, y2 + 1, 0.9))
        return {"out0": np.asarray(rows, np.float32).reshape(-1, 5)}

    def close(self):
        pass


class ShapesRuntime:
    name, formats, extra = "shapes", ("npz",), "shapes"

    def unavailable_reason(self):
        return None

    def version(self):
        return "1"

    def options_for(self, precision):
        return {}

    def check(self, fmt, files):
        if fmt != "npz" or not Path(files["model"]).is_file():
            raise ValueError("not a shapes npz")

    def load(self, fmt, files, *, threads, options, outputs=()):
        return ShapesSession(files["model"])


class ShapesPredictor(Predictor):
    def predict(self, item, options):
        image = as_image(item)
        with self.stage("pre"):
            x = np.ascontiguousarray(image[None])
        out = self.infer("model", {"in0": x})["out0"]
        with self.stage("post"):
            conf = options.get("conf") or 0.25
            keep = out[:, 4] >= conf
            n = int(keep.sum())
            return Detections(boxes=out[keep, :4].copy(), scores=out[keep, 4].copy(),
                              class_ids=np.zeros(n, np.int64), names=("shape",) * n,
                              image_shape=(int(image.shape[0]), int(image.shape[1])))


@hookimpl
def register_runtimes(register):
    register(ShapesRuntime())


@hookimpl
def register_models(register):
    register(ModelSpec(
        id="shape-finder", task="detector", description="finds coloured shapes (tests only)",
        inputs=(TensorSpec(name="in0", shape=(1, 240, 320, 3), layout="NHWC"),),
        outputs=(TensorSpec(name="out0", shape=(8, 5)),),
        pre=PreSpec(kind="letterbox", size=(240, 320)), post=PostSpec(decoder="shapes"),
        runtime="shapes", recipes={},
        artifacts={"fp32": ArtifactRef(runtime="shapes", format="npz", files={
            "model": WeightsRef(uri="{uri}", sha256="{sha}", format="npz")})},
    ))


@hookimpl
def build_predictor(spec, task, sessions, parts):
    return ShapesPredictor(spec, task, sessions, parts) if spec.id == "shape-finder" else None
'''

ENTRY_POINTS = "[zoo]\nshapes = zoo_shapes.plugin\n"
METADATA = "Metadata-Version: 2.1\nName: zoo-shapes\nVersion: 0.1.0\n"


def install(site: Path, colours: np.ndarray) -> None:
    """Write the plugin and its colour file under ``site`` (put it on sys.path and PYTHONPATH)."""
    (site / "zoo_shapes").mkdir(parents=True)
    artifact = site / "shapes.npz"
    with open(artifact, "wb") as fh:
        np.savez(fh, colours=np.asarray(colours, np.uint8))
    sha = hashlib.sha256(artifact.read_bytes()).hexdigest()
    code = textwrap.dedent(PLUGIN).replace("{uri}", artifact.resolve().as_uri()).replace("{sha}", sha)
    (site / "zoo_shapes" / "__init__.py").write_text("")
    (site / "zoo_shapes" / "plugin.py").write_text(code)
    dist = site / "zoo_shapes-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(METADATA)
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)


def uninstall() -> None:
    sys.modules.pop("zoo_shapes.plugin", None)
    sys.modules.pop("zoo_shapes", None)


def pythonpath(site: Path) -> str:
    return os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
