"""Frame sources and sinks: what ``zoo run NAME SOURCE -o TARGET`` reads and writes.

A SOURCE is one of, in this order of precedence:

- a camera index, ``0`` or ``"0"`` (digits only; to read a file named ``0`` pass ``./0``): Linux
  ``/dev/videoN`` through v4l2, macOS AVFoundation device N;
- an existing folder: the images directly inside it (not its subfolders), in natural order
  (``f2.jpg`` before ``f10.jpg``), hidden files skipped. Not recursive on purpose: ``-o`` is often
  a folder inside the source folder, and a recursive listing would read last run's annotated
  images back as input; a glob (``'photos/**/*.jpg'``) recurses when that is wanted;
- an existing file: a video by extension (``VIDEO_EXTENSIONS``), an image otherwise;
- a glob pattern (``*``, ``?``, ``[``; ``**`` recurses), matching image files.

Frames are decoded lazily, one per iteration step: a folder of 10,000 photos or a 10-minute video
never sits in memory; a Source holds file names (folder, glob) or an open container (video), and
each Frame's image is freshly decoded. Every image comes out RGB uint8 HxWx3 and upright: EXIF
orientation for photos (zoo.images.load_image), the display-matrix rotation for videos (phones
record portrait video as rotated landscape frames).

Video and cameras go through PyAV (the ``video`` extra; docs/media.md says why PyAV and not
OpenCV); images need only Pillow. Bad input is one line: ``zoo.errors.InputError``.

A TARGET (``-o``) is an image file (a one-frame source), a video file by extension
(``.mp4``/``.mkv`` H.264, ``.webm`` VP8, ``.avi`` MPEG-4 Part 2; frame rate from the source), or a
folder (anything else without a suffix, or an existing folder): one annotated image per frame, named
after its source frame.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Literal

import numpy as np

from zoo.errors import InputError
from zoo.images import IMAGE_EXTENSIONS, load_image

SourceKind = Literal["image", "folder", "glob", "video", "camera"]
SinkKind = Literal["image", "folder", "video"]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".3gp"}
)
"""Suffixes read as video (any case). Anything FFmpeg demuxes works; these are what a user has."""

SINK_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SINK_VIDEO_CODECS: dict[str, str] = {".mp4": "libx264", ".mkv": "libx264", ".webm": "libvpx", ".avi": "mpeg4"}
"""-o video suffix -> encoder. H.264 in .mp4 plays everywhere (browsers, phones); VP8 for .webm;
MPEG-4 Part 2 for .avi (what old players expect there)."""

DEFAULT_SINK_FPS = 30.0
"""Frame rate of a video written from a source that has none (a folder or glob of images)."""

ACCEPTED = (
    "SOURCE is an image file, a folder of images, a quoted glob ('photos/*.jpg'), "
    "a video file (.mp4, .mkv, .mov, .avi, .webm...) or a camera index (0)"
)

_GLOB_MAGIC = re.compile(r"[*?\[]")
_DIGITS = re.compile(r"(\d+)")


def _natural_key(path: Path) -> list[Any]:
    """Sort key: digit runs compare as numbers, so frame_2 comes before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(str(path))]


def _reason(err: Exception) -> str:
    """FFmpeg's own words for an error, without the errno and file name PyAV adds."""
    return str(getattr(err, "strerror", None) or err)


def _require_av(purpose: str) -> ModuleType:
    from zoo.deps import require

    return require("av", "video", purpose)


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame.

    ``image``: RGB uint8 HxWx3, upright. ``index``: 0-based position in the source.
    ``name``: the image's file path; ``"clip.mp4#000012"`` for video; ``"camera:0#000012"``.
    ``time_s``: seconds from the start of the video or camera stream; None for images.
    """

    image: np.ndarray
    index: int
    name: str
    time_s: float | None = None


class Source:
    """An iterable of Frames. Use as a context manager, or call close()."""

    kind: SourceKind
    length: int | None
    """Frames the source will give: exact for images, folders and globs; for a video, the
    container's frame count or, when the container has none, duration x frame rate (an estimate);
    None for a camera unless max_frames caps it."""
    fps: float | None
    description: str
    root: Path | None = None
    """The folder that frame names are relative to (folder and glob sources): a folder -o mirrors it."""

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class ImageFilesSource(Source):
    """Image files decoded one by one, in order (kinds image, folder, glob)."""

    def __init__(
        self,
        kind: SourceKind,
        paths: list[Path],
        description: str,
        root: Path | None,
        first: np.ndarray | None = None,
    ) -> None:
        self.kind = kind
        self.paths = paths
        self.length = len(paths)
        self.fps = None
        self.description = description
        self.root = root
        self._first = first  # a single image, decoded once at open to refuse a bad file early

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if index == 0 and self._first is not None:
                image, self._first = self._first, None
            else:
                image = load_image(path)
            yield Frame(image=image, index=index, name=str(path), time_s=None)


class AVSource(Source):
    """Frames decoded by PyAV from a video file or a camera (kinds video, camera).

    Opening decodes the first frame, so a file that has no decodable frame is refused before the
    caller does any other work; that frame is kept and given first. For a camera that first frame
    is as old as the time between opening and iterating: open a camera after loading the model.
    """

    def __init__(self, kind: SourceKind, label: str, opener: Any, max_frames: int | None, describe: str) -> None:
        self.kind = kind
        self._label = label
        self._opener = opener  # () -> av container; raises InputError
        self._max_frames = max_frames
        self._container: Any = None
        self._first: Frame | None = None
        self._iterated = False
        self.skipped = 0
        """Packets the decoder rejected and that were skipped (damaged frames); 0 for a sound file."""
        self._av = _require_av(f"to read {kind} frames")
        self._reformatter = self._av.video.reformatter.VideoReformatter()
        container = self._open()
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        self.rate: Fraction | None = Fraction(rate) if rate else None
        self.fps = float(rate) if rate else None
        self.length = self._length(container, stream) if kind == "video" else None
        if max_frames is not None and kind == "camera":
            self.length = max_frames  # a camera never ends by itself
        elif max_frames is not None and self.length is not None:
            self.length = min(self.length, max_frames)
        self._frames = self._decode(container)
        try:
            self._first = next(self._frames, None)
        except InputError:
            self.close()
            raise
        if self._first is None:
            self.close()
            if self.skipped:
                raise InputError(f"{label}: none of its {self.skipped} frames decodes; the file is damaged")
            raise InputError(f"{label}: no frame of its video stream decodes (an empty or damaged file)")
        h, w = self._first.image.shape[:2]
        parts = [f"{w}x{h}"]
        if self.fps:
            parts.append(f"{self.fps:.4g} fps")
        if self.length is not None:
            parts.append(f"{self.length} frames")
        self.description = f"{describe} ({', '.join(parts)})"

    def _open(self) -> Any:
        self._container = self._opener()
        if not self._container.streams.video:
            self.close()
            raise InputError(f"{self._label}: has no video stream (audio only, or no frames at all); {ACCEPTED}")
        stream = self._container.streams.video[0]
        # frame threads for files (throughput); slice threads only for a live camera, where frame
        # threading would hold back N frames of latency
        stream.thread_type = "AUTO" if self.kind == "video" else "SLICE"
        return self._container

    @staticmethod
    def _length(container: Any, stream: Any) -> int | None:
        if stream.frames:
            return int(stream.frames)
        rate = stream.average_rate or stream.guessed_rate
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / 1_000_000  # AV_TIME_BASE
        else:
            return None
        return max(1, round(seconds * float(rate))) if rate else None

    def _to_rgb(self, frame: Any) -> np.ndarray:
        """RGB uint8, rotated upright by the stream's display matrix (counter-clockwise degrees).

        One reformatter for the whole stream: ``frame.to_ndarray(format="rgb24")`` would build a
        new swscale context per frame, measured 30 % slower (docs/media.md)."""
        rgb = self._reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()
        turns = round(getattr(frame, "rotation", 0) / 90) % 4
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb

    def _packets(self, container: Any, stream: Any) -> Iterator[list[Any]]:
        """Decoded frames packet by packet. A packet the decoder rejects (a damaged frame inside a
        long video) is skipped and counted in ``skipped``, as players do; a container that cannot be
        read further is one InputError."""
        av = self._av
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as err:
                raise InputError(
                    f"{self._label}: cannot read the file further ({_reason(err)}); it is damaged"
                ) from err
            try:
                yield packet.decode()
            except av.FFmpegError:
                self.skipped += 1

    def _decode(self, container: Any) -> Iterator[Frame]:
        stream = container.streams.video[0]
        start = stream.start_time
        origin: float | None = None
        wall0 = time.monotonic()
        index = 0
        for frames in self._packets(container, stream):
            for frame in frames:
                t: float | None = None
                if frame.pts is not None and frame.time_base is not None:
                    t = float((frame.pts - (start or 0)) * frame.time_base)
                    if self.kind == "camera":  # device clocks start anywhere: count from the first frame
                        origin = t if origin is None else origin
                        t -= origin
                elif self.kind == "camera":
                    t = time.monotonic() - wall0
                yield Frame(image=self._to_rgb(frame), index=index, name=f"{self._label}#{index:06d}", time_s=t)
                index += 1
                if self._max_frames is not None and index >= self._max_frames:
                    return

    def __iter__(self) -> Iterator[Frame]:
        if self._iterated and self.kind == "video":
            # a second pass over a file starts again from the top
            self.close()
            self.skipped = 0
            self._frames = self._decode(self._open())
            self._first = next(self._frames, None)
        self._iterated = True
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._frames

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def _open_video(path: Path, max_frames: int | None) -> AVSource:
    av = _require_av("to read video files")

    def opener() -> Any:
        try:
            return av.open(str(path), mode="r")
        except av.error.EOFError as err:
            raise InputError(f"{path}: the video ends before its first frame; pass a video with frames") from err
        except av.FFmpegError as err:
            raise InputError(
                f"{path}: not a video FFmpeg can decode ({_reason(err)}); is the file complete, and a video?"
            ) from err

    return AVSource("video", str(path), opener, max_frames, f"video {path}")


def _open_camera(index: int, max_frames: int | None) -> AVSource:
    av = _require_av("to read a camera")
    label = f"camera:{index}"
    if sys.platform.startswith("linux"):
        device = Path(f"/dev/video{index}")
        if not device.exists():
            found = sorted(glob.glob("/dev/video*"), key=lambda p: _natural_key(Path(p)))
            have = f"cameras here: {', '.join(found)}" if found else "no /dev/video* device exists here"
            raise InputError(f"camera {index}: {device} does not exist ({have}); {ACCEPTED}")
        file, fmt = str(device), "v4l2"
    elif sys.platform == "darwin":
        file, fmt = f"{index}:none", "avfoundation"
    else:
        raise InputError(f"camera {index}: cameras are read on Linux (v4l2) and macOS only; pass a video file")

    def opener() -> Any:
        try:
            return av.open(file, format=fmt, mode="r")
        except av.FFmpegError as err:
            raise InputError(
                f"camera {index}: cannot open {file} ({_reason(err)}); is it a capture device, and not in use?"
            ) from err

    return AVSource("camera", label, opener, max_frames, f"camera {index} ({file})")


def _single_image(path: Path) -> ImageFilesSource:
    image = load_image(path)
    h, w = image.shape[:2]
    return ImageFilesSource("image", [path], f"image {path} ({w}x{h})", root=path.parent, first=image)


def _sniff(path: Path, max_frames: int | None) -> Source:
    """A file whose suffix says neither image nor video (``.jfif``, ``.mts``, none): an image if
    Pillow identifies it, else a video if FFmpeg opens it (when the video extra is installed)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            pass
    except (UnidentifiedImageError, OSError):
        pass  # not an image: try it as a video below
    except Image.DecompressionBombError:
        return _single_image(path)  # an image, refused by load_image with its own line
    else:
        return _single_image(path)
    try:
        import av  # noqa: F401  (optional: without it, such a file is simply not a video)
    except ImportError:
        raise InputError(
            f"{path}: not an image (and the video extra is not installed to try it as a video); {ACCEPTED}"
        ) from None
    try:
        return _open_video(path, max_frames)
    except InputError as err:
        raise InputError(f"{path}: neither an image Pillow reads nor a video FFmpeg decodes; {ACCEPTED}") from err


def _images_in(folder: Path) -> list[Path]:
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    images = sorted((p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()), key=_natural_key)
    if images:
        return images
    videos = [p.name for p in entries if p.suffix.lower() in VIDEO_EXTENSIONS]
    if videos:
        raise InputError(
            f"{folder}: contains no image files but {len(videos)} video(s) ({videos[0]}...); pass a video file itself"
        )
    raise InputError(
        f"{folder}: contains no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}; subfolders are not read)"
    )


def _glob_root(pattern: str) -> Path:
    """The deepest folder of a pattern before its first wildcard: 'a/b/*/c.jpg' -> 'a/b'."""
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if _GLOB_MAGIC.search(p))]]
    return Path(*fixed) if fixed else Path(".")


def open_source(spec: str | Path | int, *, max_frames: int | None = None) -> Source:
    """Open ``spec`` (see the module docstring for what it may be) as a lazy Source of Frames.

    ``max_frames`` stops after that many frames (and caps ``length``). Raises InputError for a
    SOURCE that is none of the accepted kinds, a glob matching no image, an empty folder, a video
    that cannot be decoded or has no frames, a camera that does not exist; MissingDependencyError
    naming ``zoo[video]`` when a video or camera is asked for without PyAV.
    """
    if max_frames is not None and max_frames < 1:
        raise InputError(f"max_frames must be at least 1 (got {max_frames})")
    if isinstance(spec, bool):
        raise InputError(f"{spec!r}: {ACCEPTED}")
    if isinstance(spec, int):
        if spec < 0:
            raise InputError(f"camera {spec}: a camera index is 0 or more")
        return _open_camera(spec, max_frames)
    text = str(spec)
    if not text.strip():
        raise InputError(f"empty SOURCE; {ACCEPTED}")
    if isinstance(spec, str) and text.isdigit():
        return _open_camera(int(text), max_frames)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        raise InputError(f"{text}: URLs are not read as a SOURCE; download the file first. {ACCEPTED}")
    path = Path(text).expanduser()
    if path.is_dir():
        paths = _images_in(path)
        paths = paths[:max_frames] if max_frames else paths
        return ImageFilesSource("folder", paths, f"folder {path} ({len(paths)} images)", root=path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return _open_video(path, max_frames)
        if suffix in IMAGE_EXTENSIONS:  # a bad image file gets load_image's own, specific line
            return _single_image(path)
        return _sniff(path, max_frames)
    if path.exists():
        raise InputError(f"{path}: not a regular file or folder; {ACCEPTED}")
    if _GLOB_MAGIC.search(text):
        matches = [Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True)]
        images = sorted((m for m in matches if m.suffix.lower() in IMAGE_EXTENSIONS and m.is_file()), key=_natural_key)
        if not images:
            what = f"{len(matches)} path(s), none of them an image file" if matches else "nothing"
            raise InputError(f"{text}: the pattern matches {what}; {ACCEPTED}")
        images = images[:max_frames] if max_frames else images
        return ImageFilesSource("glob", images, f"glob {text} ({len(images)} images)", root=_glob_root(text))
    raise InputError(f"{text}: no such file or folder; {ACCEPTED}")


# --------------------------------------------------------------------------------------------- sinks


class Sink:
    """Where annotated frames go. ``write(frame, image)`` per frame, then ``close()``."""

    kind: SinkKind
    path: Path
    written: int = 0

    def write(self, frame: Frame, image: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def description(self) -> str:
        unit = "frame" if self.written == 1 else "frames"
        return f"{self.written} {unit} written to {self.path}"


def _check_image(image: np.ndarray) -> np.ndarray:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise TypeError(f"a sink writes RGB uint8 HxWx3 arrays, got {getattr(image, 'shape', type(image))}")
    return image


def _save_image(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    options: dict[str, Any] = {"quality": 92} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    try:
        Image.fromarray(image).save(path, **options)
    except OSError as err:
        raise InputError(f"{path}: cannot write image ({err.strerror or err}); choose another -o") from err


class ImageFileSink(Sink):
    kind: SinkKind = "image"

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if self.written:
            raise InputError(f"-o {self.path}: one image file holds one frame; pass a folder or a video file for more")
        _save_image(self.path, _check_image(image))
        self.written += 1


class FolderSink(Sink):
    """One image per frame, named after the source frame: photos keep their name (and, for a
    folder or glob source, their path below its root), video frames become ``clip_000012.jpg``."""

    kind: SinkKind = "folder"

    def __init__(self, path: Path, like: Source) -> None:
        self.path = path
        self.like = like
        self._resolved = path.resolve()

    def target(self, frame: Frame) -> Path:
        if self.like.kind in ("video", "camera"):
            label = frame.name.rsplit("#", 1)[0]  # clip.mp4 / camera:0
            stem = Path(label).stem if self.like.kind == "video" else label.replace(":", "")
            return self.path / f"{stem}_{frame.index:06d}.jpg"
        source = Path(frame.name)
        relative = Path(source.name)
        if self.like.root is not None:
            try:
                relative = Path(os.path.relpath(source, self.like.root))
            except ValueError:  # another drive (Windows)
                relative = Path(source.name)
            if relative.parts and relative.parts[0] == "..":
                relative = Path(source.name)
        if relative.suffix.lower() not in SINK_IMAGE_EXTENSIONS:
            relative = relative.with_suffix(".png")  # a .gif source, say
        return self.path / relative

    def write(self, frame: Frame, image: np.ndarray) -> None:
        target = self.target(frame)
        if self.like.kind in ("image", "folder", "glob") and target.resolve() == Path(frame.name).resolve():
            raise InputError(f"-o {self.path}: would overwrite the source image {frame.name}; choose another folder")
        if target.parent != self.path:
            target.parent.mkdir(parents=True, exist_ok=True)
        _save_image(target, _check_image(image))
        self.written += 1


class VideoSink(Sink):
    """A video file; the encoder opens on the first frame, whose size (rounded up to even, as
    4:2:0 chroma needs) fixes the video's. Later frames of another size are letterboxed into it."""

    kind: SinkKind = "video"

    def __init__(self, path: Path, fps: float | Fraction) -> None:
        self.path = path
        self.codec = SINK_VIDEO_CODECS[path.suffix.lower()]
        self._av = _require_av("to write video files")
        try:
            self._av.codec.Codec(self.codec, "w")
        except (self._av.FFmpegError, ValueError) as err:  # ValueError: unknown codec name
            raise InputError(f"-o {path}: this PyAV build has no {self.codec} encoder; use .mp4 or a folder") from err
        self.rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        self._container: Any = None
        self._stream: Any = None
        self.size: tuple[int, int] | None = None  # (h, w) of the video

    def _start(self, height: int, width: int) -> None:
        av = self._av
        options = {"movflags": "+faststart"} if self.path.suffix.lower() == ".mp4" else {}
        try:
            self._container = av.open(str(self.path), mode="w", options=options)
        except (av.FFmpegError, OSError) as err:
            raise InputError(f"-o {self.path}: cannot write ({_reason(err)}); choose another -o") from err
        stream = self._container.add_stream(self.codec, rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if self.codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "23"}
        else:  # bit-rate codecs: about 0.15 bit per pixel, clean for annotated frames
            stream.bit_rate = int(width * height * float(self.rate) * 0.15)
            if self.codec == "libvpx":
                stream.options = {"deadline": "realtime", "cpu-used": "8"}
        self._stream = stream
        self.size = (height, width)

    def _fit(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        h, w = size
        ih, iw = image.shape[:2]
        if (ih, iw) == (h, w):
            return image
        if ih <= h and iw <= w and (h - ih) <= 1 and (w - iw) <= 1:  # odd size rounded up: repeat the edge
            return np.pad(image, ((0, h - ih), (0, w - iw), (0, 0)), mode="edge")
        from PIL import Image

        scale = min(h / ih, w / iw)
        nh, nw = max(1, round(ih * scale)), max(1, round(iw * scale))
        resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR))
        canvas = np.zeros((h, w, 3), np.uint8)
        top, left = (h - nh) // 2, (w - nw) // 2
        canvas[top : top + nh, left : left + nw] = resized
        return canvas

    def write(self, frame: Frame, image: np.ndarray) -> None:
        image = _check_image(image)
        if self.size is None:
            ih, iw = image.shape[:2]
            self._start(ih + ih % 2, iw + iw % 2)
        if self._container is None or self.size is None:
            raise InputError(f"-o {self.path}: the video is already closed; open a new sink")
        fitted = np.ascontiguousarray(self._fit(image, self.size))
        av_frame = self._av.VideoFrame.from_ndarray(fitted, format="rgb24")
        av_frame.pts = self.written
        for packet in self._stream.encode(av_frame):
            self._container.mux(packet)
        self.written += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def open_sink(path: str | Path, *, like: Source, fps: float | None = None) -> Sink:
    """Open ``path`` (the ``-o`` target) for the annotated frames of ``like``.

    - an existing folder, or a path with no suffix: a folder, created if needed;
    - ``.jpg .jpeg .png .bmp .webp .tif .tiff``: one image file; ``like`` must give exactly one frame;
    - ``.mp4 .mkv`` (H.264), ``.webm`` (VP8), ``.avi`` (MPEG-4 Part 2): a video at ``fps``, else the
      source's frame rate, else 30 (folders and globs have none).

    Everything checkable is checked here, before any frame is computed: an unknown suffix, an
    unwritable place, a folder target that is an existing file, an image target for a many-frame
    source, writing over the source image itself.
    """
    from zoo.paths import ensure_writable_dir

    raw = str(path)
    path = Path(raw).expanduser()
    suffix = path.suffix.lower()
    accepted = (
        f"an image ({' '.join(sorted(SINK_IMAGE_EXTENSIONS))}) for one frame, a video "
        f"({' '.join(sorted(SINK_VIDEO_CODECS))}) or a folder"
    )
    if path.is_dir() or (not suffix and not path.exists()) or raw.endswith(("/", os.sep)):
        if path.exists() and not path.is_dir():
            raise InputError(f"-o {path}: is an existing file, not a folder; -o takes {accepted}")
        ensure_writable_dir(path)
        if like.kind == "folder" and like.root is not None and path.resolve() == like.root.resolve():
            raise InputError(f"-o {path}: is the source folder, and would overwrite its images; choose another folder")
        return FolderSink(path, like)
    if not suffix:
        raise InputError(f"-o {path}: is an existing file, not a folder; -o takes {accepted}")
    if suffix not in SINK_IMAGE_EXTENSIONS and suffix not in SINK_VIDEO_CODECS:
        raise InputError(f"-o {path}: unknown extension {suffix!r}; -o takes {accepted}")
    ensure_writable_dir(path.parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"-o {path}: exists and is not writable; choose another -o")
    if suffix in SINK_IMAGE_EXTENSIONS:
        if like.length != 1:
            many = "an unknown number of" if like.length is None else f"{like.length}"
            raise InputError(
                f"-o {path}: one image file, but the {like.kind} source gives {many} frames; "
                "pass a folder or a video file (.mp4)"
            )
        if isinstance(like, ImageFilesSource) and path.resolve() == like.paths[0].resolve():
            raise InputError(f"-o {path}: is the source image itself; choose another file name")
        return ImageFileSink(path)
    rate: float | Fraction = fps or getattr(like, "rate", None) or like.fps or DEFAULT_SINK_FPS
    return VideoSink(path, rate)
