"""Fixtures for the tracker's CLI tests: a cache and cards folder per test, synthetic videos
written with zoo.media's sinks, MOTChallenge folders, and the test-only shapes detector plugin."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from zoo_tracker.synth import SyntheticVideo, moving_shapes


def _shapes_plugin() -> Any:
    spec = importlib.util.spec_from_file_location("zoo_tracker_tests_shapes", Path(__file__).with_name("shapes_plugin.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Own cache and cards folder, a fresh registry."""
    from zoo import registry

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_CARDS_DIR", str(tmp_path / "cards"))
    monkeypatch.delenv("ZOO_PLUGINS", raising=False)
    registry.reset()
    yield tmp_path
    registry.reset()


def save_frames(folder: Path, frames: np.ndarray, suffix: str = ".png") -> Path:
    """Frames as MOTChallenge names them: 000001.png, 000002.png..."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{t:06d}{suffix}")
    return folder


def write_video(path: Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """An H.264 .mp4 through zoo.media's sink (frames go through a PNG folder source)."""
    pytest.importorskip("av", reason="video tests need the video extra: pip install 'zoo[video]'")
    from zoo.media import open_sink, open_source

    folder = save_frames(path.parent / f".{path.stem}-frames", frames)
    with open_source(folder) as source, open_sink(path, like=source, fps=fps) as sink:
        for frame in source:
            sink.write(frame, frame.image)
    return path


@dataclass(frozen=True)
class ShapesScene:
    video: SyntheticVideo
    colours: np.ndarray
    clip: Path
    mot: Path
    """A MOTChallenge folder holding the same video as sequence 'shapes' (PNG frames)."""


@pytest.fixture
def shapes_scene(isolated: Path) -> ShapesScene:
    video = moving_shapes(num_frames=30, size=(240, 320), num_objects=4, seed=3, min_side=24, max_side=48)
    first = video.gt.frame(1)
    colours = np.array([video.frames[0][int(y + h / 2), int(x + w / 2)] for x, y, w, h in video.gt.boxes[first]])
    clip = write_video(isolated / "clip.mp4", video.frames)
    seq = video.write_mot(isolated / "mot", "shapes")
    save_frames(seq / "img1", video.frames)
    return ShapesScene(video=video, colours=colours, clip=clip, mot=isolated / "mot")


@pytest.fixture
def shapes_detector(shapes_scene: ShapesScene, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test-only 'shape-finder' detector installed as a third-party plugin; yields its id."""
    from zoo import registry

    plugin = _shapes_plugin()
    site = isolated / "site"
    plugin.install(site, shapes_scene.colours)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", plugin.pythonpath(site))
    registry.reset()
    yield "shape-finder"
    registry.reset()
    plugin.uninstall()
