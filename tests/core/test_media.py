"""Frame sources and sinks (zoo.media) and image loading (zoo.images): every source kind, lazy
decoding, sink round trips, EXIF orientation, size limits, and one clear line for each bad input.

The videos are made here (moving shapes, PyAV); no video file is committed."""

from __future__ import annotations

import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo import media
from zoo.errors import InputError, MissingDependencyError, ZooError
from zoo.images import MAX_ASPECT, MAX_PIXELS, load_image
from zoo.media import Frame, open_sink, open_source

W, H, FPS = 96, 64, 25
SQUARE = 12  # side of the moving square, pixels
STEP = 3  # pixels per frame it moves right


def scene(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Frame i: a red square moving right by STEP px a frame over a dark blue background."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 2] = 60
    x = 4 + STEP * i
    img[8 : 8 + SQUARE, x : x + SQUARE] = (230, 20, 20)
    return img


def red_centre(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the red square's centre: the mean over clearly red pixels."""
    red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 120)
    rows, cols = np.nonzero(red)
    assert len(rows) > SQUARE * SQUARE // 2, "the red square is missing (channels swapped?)"
    return float(rows.mean()), float(cols.mean())


def square_x(image: np.ndarray) -> float:
    """Column of the red square's centre."""
    return red_centre(image)[1]


def write_video(
    path: Path, frames: int, codec: str = "libx264", rotation: float | None = None, size: tuple[int, int] = (H, W)
) -> Path:
    av = pytest.importorskip("av", reason="video tests need the video extra: pip install 'zoo[video]'")
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.height, stream.width = size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        out.start_encoding()
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(scene(i, *size), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text and isinstance(err.value, ZooError), text
    return text


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid PNG signature and IHDR declaring width x height, with a tiny IDAT: what a
    decompression bomb looks like to a reader before it decodes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


# ------------------------------------------------------------------------------------------ images

# What a viewer shows for each EXIF orientation, from the stored pixels S (EXIF 2.3, tag 0x0112).
EXIF_VIEW: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda s: s,
    2: lambda s: s[:, ::-1],  # mirrored
    3: lambda s: s[::-1, ::-1],  # rotated 180
    4: lambda s: s[::-1],  # flipped
    5: lambda s: np.rot90(s[:, ::-1], 1),  # mirrored, then 90 counter-clockwise (transpose)
    6: lambda s: np.rot90(s, -1),  # 90 clockwise: a phone held upright
    7: lambda s: np.rot90(s[:, ::-1], -1),  # mirrored, then 90 clockwise (transverse)
    8: lambda s: np.rot90(s, 1),  # 90 counter-clockwise
}


def quadrants(h: int = 48, w: int = 96) -> np.ndarray:
    """Four flat colours, one per quadrant, so any flip or turn is unmistakable after JPEG."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (220, 30, 30)
    img[: h // 2, w // 2 :] = (30, 220, 30)
    img[h // 2 :, : w // 2] = (30, 30, 220)
    img[h // 2 :, w // 2 :] = (230, 230, 40)
    return img


@pytest.mark.parametrize("orientation", sorted(EXIF_VIEW))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    stored = quadrants()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"phone-{orientation}.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    got = load_image(path)
    want = EXIF_VIEW[orientation](stored)
    assert got.shape == want.shape
    diff = np.abs(got.astype(int) - want.astype(int)).mean()
    assert diff < 6, f"orientation {orientation}: mean abs diff {diff:.1f}"
    if orientation != 1 and got.shape == stored.shape:  # and the unrotated pixels are far off
        assert np.abs(got.astype(int) - stored.astype(int)).mean() > 40


def test_phone_photo_tagged_6_comes_out_upright(tmp_path: Path) -> None:
    """A phone held upright stores a landscape sensor image tagged 6; the user sees portrait."""
    upright = quadrants(96, 48)  # portrait, red at top-left
    stored = np.rot90(upright, 1)  # what the sensor wrote: turned 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "p.jpg", quality=95, exif=exif.tobytes())
    got = load_image(tmp_path / "p.jpg")
    assert got.shape == (96, 48, 3)
    assert got[5, 5, 0] > 180 and got[5, 5, 1] < 80  # red top-left, as the user held it


def test_exif_orientation_can_be_left_off(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(quadrants()).save(tmp_path / "p.jpg", quality=95, exif=exif.tobytes())
    assert load_image(tmp_path / "p.jpg").shape == (96, 48, 3)
    assert load_image(tmp_path / "p.jpg", orientation=False).shape == (48, 96, 3)


def test_malformed_exif_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bad-exif.jpg"
    Image.fromarray(quadrants()).save(path, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    assert load_image(path).shape == (48, 96, 3)


def test_decompression_bomb_is_one_line_and_fast(tmp_path: Path) -> None:
    bomb = png_header_only(tmp_path / "bomb.png", 50_000, 50_000)  # 2.5 GP, Pillow's own error
    t = time.perf_counter()
    with pytest.raises(InputError) as err:
        load_image(bomb)
    assert "bomb" in one_line(err) and time.perf_counter() - t < 1.0


def test_image_over_zoo_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    side = int((MAX_PIXELS * 1.1) ** 0.5)  # between zoo's limit and Pillow's
    big = png_header_only(tmp_path / "big.png", side, side)
    with pytest.raises(InputError) as err:
        load_image(big)
    assert "MP" in one_line(err) and "limit" in str(err.value)


def test_extreme_aspect_ratio_is_refused(tmp_path: Path) -> None:
    strip = tmp_path / "strip.png"
    Image.fromarray(np.zeros((1, 60_000, 3), np.uint8)).save(strip)
    with pytest.raises(InputError) as err:
        load_image(strip)
    assert f"{MAX_ASPECT}:1" in one_line(err)
    ok = tmp_path / "panorama.png"
    Image.fromarray(np.zeros((10, 10 * MAX_ASPECT, 3), np.uint8)).save(ok)
    assert load_image(ok).shape == (10, 640, 3)


# ---------------------------------------------------------------------------------- image sources


def save(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def test_single_image_source(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", scene(0))
    with open_source(path) as src:
        assert (src.kind, src.length, src.fps) == ("image", 1, None)
        frames = list(src)
    assert len(frames) == 1
    f = frames[0]
    assert (f.index, f.name, f.time_s) == (0, str(path), None)
    assert f.image.dtype == np.uint8 and np.array_equal(f.image, scene(0))
    with pytest.raises(AttributeError):
        f.index = 3  # type: ignore[misc]


def test_folder_source_is_natural_order_non_recursive_and_images_only(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    for i in (10, 2, 1):
        save(folder / f"f{i}.png", scene(i))
    save(folder / "sub" / "f0.png", scene(0))  # not read: not recursive
    save(folder / ".hidden.png", scene(0))  # not read: hidden
    (folder / "notes.txt").write_text("not an image")
    src = open_source(folder)
    assert src.kind == "folder" and src.length == 3 and "3 images" in src.description
    frames = list(src)
    assert [Path(f.name).name for f in frames] == ["f1.png", "f2.png", "f10.png"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert square_x(frames[2].image) == pytest.approx(4 + STEP * 10 + SQUARE / 2 - 0.5)
    assert open_source(folder, max_frames=2).length == 2


def test_folder_frames_are_decoded_lazily(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    save(folder / "1.png", scene(1))
    save(folder / "2.png", scene(2))
    (folder / "3.png").write_bytes(b"not a png")  # fails only when its turn comes
    it = iter(open_source(folder))
    assert next(it).index == 0 and next(it).index == 1
    with pytest.raises(InputError) as err:
        next(it)
    assert "3.png" in one_line(err)


def test_glob_source_recurses_with_double_star(tmp_path: Path) -> None:
    for rel in ("a/x1.png", "a/b/x2.png", "c/x3.png", "a/skip.txt"):
        if rel.endswith(".png"):
            save(tmp_path / rel, scene(0))
        else:
            (tmp_path / rel).write_text("x")
    src = open_source(str(tmp_path / "a" / "**" / "*"))
    assert src.kind == "glob" and src.length == 2 and src.root == tmp_path / "a"
    assert [Path(f.name).relative_to(tmp_path).as_posix() for f in src] == ["a/b/x2.png", "a/x1.png"]
    assert open_source(str(tmp_path / "*" / "x*.png")).length == 2  # a/x1, c/x3


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: str(p / "nothing-*.jpg"), "matches nothing"),
        (lambda p: (p / "t.txt").write_text("x") and str(p / "*.txt"), "none of them an image"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "contains no image files"),
        (lambda p: (p / "vids").mkdir() or (p / "vids" / "a.mp4").write_bytes(b"x") and p / "vids", "video"),
        (lambda p: p / "missing.jpg", "no such file"),
        (lambda p: "rtsp://camera.local/stream", "URLs are not read"),
        (lambda p: "", "empty SOURCE"),
        (lambda p: (p / "x.jpg").write_text("plain text") and p / "x.jpg", "not an image"),
    ],
    ids=["glob-nothing", "glob-no-images", "empty-folder", "folder-of-videos", "missing", "url", "empty", "bad-image"],
)
def test_bad_sources_are_one_line(tmp_path: Path, make: Callable[[Path], object], needle: str) -> None:
    with pytest.raises(InputError) as err:
        open_source(make(tmp_path))  # type: ignore[arg-type]
    assert needle in one_line(err)


def test_files_with_other_suffixes_are_sniffed(tmp_path: Path) -> None:
    jfif = tmp_path / "photo.jfif"
    Image.fromarray(scene(0)).save(jfif, format="JPEG")
    assert open_source(jfif).kind == "image"
    clip = write_video(tmp_path / "clip.mkv", 4).rename(tmp_path / "clip.data")
    src = open_source(clip)
    assert src.kind == "video" and len(list(src)) == 4
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(InputError) as err:
        open_source(notes)
    assert "neither an image Pillow reads nor a video" in one_line(err) and "camera index" in str(err.value)


def test_bad_source_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        open_source(tmp_path / "nope")
    text = one_line(err)
    for kind in ("image file", "folder", "glob", "video file", "camera index"):
        assert kind in text


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        open_source(save(tmp_path / "a.png", scene(0)), max_frames=0)
    with pytest.raises(InputError):
        open_source(-1)
    with pytest.raises(InputError):
        open_source(True)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------- video


def test_video_source_frames_order_and_timing(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4", 20)
    with open_source(clip) as src:
        assert (src.kind, src.length, src.fps) == ("video", 20, FPS)
        assert "20 frames" in src.description and f"{W}x{H}" in src.description
        frames = list(src)
    assert len(frames) == 20
    assert frames[12].name == f"{clip}#000012"
    assert [f.index for f in frames] == list(range(20))
    assert [f.time_s for f in frames] == pytest.approx([i / FPS for i in range(20)])
    for f in frames:  # red stays red (RGB, not BGR) and the square moves as drawn, within H.264 blur
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
        assert square_x(f.image) == pytest.approx(4 + STEP * f.index + SQUARE / 2 - 0.5, abs=1.0)


def test_video_max_frames_and_second_pass(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mkv", 12)
    src = open_source(clip, max_frames=5)
    assert src.length == 5
    assert [f.index for f in src] == [0, 1, 2, 3, 4]
    assert [f.index for f in src] == [0, 1, 2, 3, 4]  # a second pass starts again
    src.close()


def test_video_frames_are_decoded_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = write_video(tmp_path / "clip.mp4", 30)
    converted: list[int] = []
    real = media.AVSource._to_rgb

    def counting(self: media.AVSource, frame: object) -> np.ndarray:
        converted.append(1)
        return real(self, frame)

    monkeypatch.setattr(media.AVSource, "_to_rgb", counting)
    src = open_source(clip)
    assert len(converted) == 1  # opening checks the first frame, and only that one
    it = iter(src)
    for _ in range(3):
        next(it)
    assert len(converted) == 3
    src.close()


@pytest.mark.parametrize(("rotation", "turn"), [(-90, -1), (90, 1), (180, 2)])
def test_video_rotation_metadata_is_applied(tmp_path: Path, rotation: int, turn: int) -> None:
    """Phones record portrait video as landscape frames plus a display rotation; frames come out
    as the phone's player shows them (rotation counter-clockwise, as FFmpeg's display matrix)."""
    clip = write_video(tmp_path / "phone.mp4", 2, rotation=rotation)
    image = next(iter(open_source(clip))).image
    want = np.ascontiguousarray(np.rot90(scene(0), turn))
    assert image.shape == want.shape
    assert red_centre(image) == pytest.approx(red_centre(want), abs=1.0)


@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("text.mp4", lambda p: p.write_text("this is not a video"), "not a video FFmpeg can decode"),
        ("noise.mkv", lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "not a video FFmpeg can decode"),
        ("cut.mp4", lambda p: p.write_bytes(write_video(p, 10).read_bytes()[:600]), "not a video FFmpeg can decode"),
        ("zero.avi", lambda p: write_video(p, 0, codec="mpeg4"), "no frame of its video stream decodes"),
        ("zero.mkv", lambda p: write_video(p, 0), "ends before its first frame"),
        ("zero.mp4", lambda p: write_video(p, 0), "no video stream"),
    ],
)
def test_undecodable_videos_are_one_line(
    tmp_path: Path, name: str, make: Callable[[Path], object], needle: str, capfd: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av")
    path = tmp_path / name
    make(path)
    capfd.readouterr()
    with pytest.raises(InputError) as err:
        open_source(path)
    text = one_line(err)
    assert needle in text and name in text
    assert capfd.readouterr().err == ""  # FFmpeg's own log stays quiet: the error is the one line


def damage_packets(path: Path, which: Callable[[int], bool]) -> Path:
    """Overwrite the payload of the chosen video packets with a byte no decoder accepts as data."""
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        spans = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    data = bytearray(path.read_bytes())
    for i, (pos, size) in enumerate(spans):
        if which(i):
            data[pos : pos + size] = b"\x55" * size
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_frame_inside_a_video_is_skipped_and_counted(tmp_path: Path) -> None:
    clip = damage_packets(write_video(tmp_path / "mj.avi", 10, codec="mjpeg"), lambda i: i == 5)
    src = open_source(clip)
    frames = list(src)
    assert len(frames) == 9 and src.skipped == 1
    assert frames[5].time_s == pytest.approx(6 / FPS)  # the gap shows in the timestamps


def test_a_video_whose_every_frame_is_damaged_is_one_line(tmp_path: Path) -> None:
    clip = damage_packets(write_video(tmp_path / "mj.avi", 4, codec="mjpeg"), lambda i: True)
    with pytest.raises(InputError) as err:
        open_source(clip)
    assert "none of its 4 frames decodes" in one_line(err)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="camera devices are /dev/videoN on Linux")
@pytest.mark.parametrize("spec", [57, "57"])
def test_missing_camera_is_one_line(spec: int | str) -> None:
    pytest.importorskip("av")
    with pytest.raises(InputError) as err:
        open_source(spec)
    assert "/dev/video57 does not exist" in one_line(err)


def test_missing_video_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 16)
    image = save(tmp_path / "a.png", scene(0))
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now fails as if not installed
    with pytest.raises(MissingDependencyError) as err:
        open_source(clip)
    assert "pip install 'zoo[video]'" in one_line(err)
    assert len(list(open_source(image))) == 1  # images need no extra


# ----------------------------------------------------------------------------------------- sinks


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi"])
def test_video_sink_round_trip(tmp_path: Path, suffix: str) -> None:
    src = open_source(write_video(tmp_path / "in.mp4", 15))
    with open_sink(tmp_path / f"out{suffix}", like=src) as sink:
        assert sink.kind == "video"
        for frame in src:
            sink.write(frame, frame.image)
    assert sink.written == 15 and "15 frames" in sink.description
    back = open_source(tmp_path / f"out{suffix}")
    frames = list(back)
    assert len(frames) == 15 and back.fps == pytest.approx(FPS)
    assert frames[0].image.shape == (H, W, 3)
    assert square_x(frames[10].image) == pytest.approx(4 + STEP * 10 + SQUARE / 2 - 0.5, abs=1.5)


def test_video_sink_pads_odd_sizes_and_letterboxes_changes(tmp_path: Path) -> None:
    pytest.importorskip("av")
    folder = tmp_path / "imgs"
    save(folder / "1.png", scene(0, 63, 95))  # odd: padded to 64x96
    save(folder / "2.png", scene(0, 200, 100))  # another size: fitted inside 64x96
    src = open_source(folder)
    with open_sink(tmp_path / "out.mp4", like=src) as sink:
        for frame in src:
            sink.write(frame, frame.image)
    back = open_source(tmp_path / "out.mp4")
    assert back.length == 2 and back.fps == media.DEFAULT_SINK_FPS
    assert [f.image.shape for f in back] == [(64, 96, 3), (64, 96, 3)]


def test_folder_sink_mirrors_folder_source_names(tmp_path: Path) -> None:
    for name in ("a.png", "b.jpg"):
        save(tmp_path / "in" / name, scene(1))
    src = open_source(tmp_path / "in")
    with open_sink(tmp_path / "out", like=src) as sink:
        assert sink.kind == "folder"
        for frame in src:
            sink.write(frame, frame.image[::-1].copy())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg"]
    assert np.array_equal(load_image(tmp_path / "out" / "a.png"), scene(1)[::-1])


def test_folder_sink_keeps_glob_subfolders(tmp_path: Path) -> None:
    save(tmp_path / "in" / "x" / "p.png", scene(0))
    save(tmp_path / "in" / "y" / "p.png", scene(1))  # same file name in two folders: both kept
    src = open_source(str(tmp_path / "in" / "**" / "*.png"))
    with open_sink(tmp_path / "out", like=src) as sink:
        for frame in src:
            sink.write(frame, frame.image)
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png")) == [
        "x/p.png",
        "y/p.png",
    ]


def test_folder_sink_names_video_frames(tmp_path: Path) -> None:
    src = open_source(write_video(tmp_path / "clip.mp4", 3))
    with open_sink(str(tmp_path / "frames") + "/", like=src) as sink:
        for frame in src:
            sink.write(frame, frame.image)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "clip_000000.jpg",
        "clip_000001.jpg",
        "clip_000002.jpg",
    ]


def test_image_sink_for_one_image(tmp_path: Path) -> None:
    src = open_source(save(tmp_path / "a.png", scene(2)))
    with open_sink(tmp_path / "sub" / "out.png", like=src) as sink:
        frame = next(iter(src))
        sink.write(frame, frame.image)
        with pytest.raises(InputError):
            sink.write(frame, frame.image)
    assert np.array_equal(load_image(tmp_path / "sub" / "out.png"), scene(2))


def test_frame_is_plain_data() -> None:
    f = Frame(image=scene(0), index=4, name="x.png")
    assert f.time_s is None and f.index == 4


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        (lambda p: p / "out.xyz", "unknown extension '.xyz'"),
        (lambda p: (p / "file").write_text("x") and p / "file", "is an existing file, not a folder"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt" / "out.mp4", "not writable"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt" / "frames", "not writable"),
        (lambda p: p / "one.jpg", "pass a folder or a video file"),
        (lambda p: p / "in", "is the source folder"),
    ],
    ids=["unknown-ext", "folder-is-file", "video-unwritable", "folder-unwritable", "image-for-many", "onto-source"],
)
def test_bad_sink_targets_are_one_line(tmp_path: Path, target: Callable[[Path], Path], needle: str) -> None:
    save(tmp_path / "in" / "a.png", scene(0))
    save(tmp_path / "in" / "b.png", scene(1))
    src = open_source(tmp_path / "in")
    with pytest.raises(InputError) as err:
        open_sink(target(tmp_path), like=src)
    assert needle in one_line(err)


def test_sink_never_overwrites_the_source_image(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", scene(0))
    with pytest.raises(InputError) as err:
        open_sink(path, like=open_source(path))
    assert "source image itself" in one_line(err)
    assert np.array_equal(load_image(path), scene(0))


def test_streaming_a_video_keeps_memory_flat(tmp_path: Path) -> None:
    """300 frames of 640x480 are 276 MB decoded; streaming them must hold about one at a time."""
    import psutil

    clip = write_video(tmp_path / "long.avi", 300, codec="mpeg4", size=(480, 640))
    process = psutil.Process()
    list(open_source(clip, max_frames=3))  # warm up: codec tables, allocator arenas
    before = peak = process.memory_info().rss
    with open_source(clip) as src:
        assert src.length == 300
        last = -1
        for frame in src:
            peak = max(peak, process.memory_info().rss)
            last = frame.index
        assert last == 299
    grown_mb = (peak - before) / 2**20
    assert grown_mb < 60, f"RSS grew {grown_mb:.0f} MB while streaming (all frames would be 276 MB)"


# -- the JPEG fast path (simplejpeg) against Pillow's decoder ---------------------------------------
def _pillow_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize(
    "save", [{"quality": 95}, {"quality": 75, "subsampling": 0}, {"quality": 80, "subsampling": 1},
             {"quality": 90, "progressive": True}, {"quality": 60, "optimize": True}],
)  # fmt: skip
def test_jpeg_fast_path_gives_pillows_pixels(tmp_path: Path, save: dict) -> None:
    """simplejpeg and Pillow both decode with libjpeg-turbo (accurate IDCT, fancy upsampling): the
    same pixels, bit for bit, on photos and a noisy odd-sized picture, every chroma subsampling."""
    import simplejpeg

    from zoo.images import _decode_jpeg, sample_image_paths

    rng = np.random.default_rng(0)
    pictures = [_pillow_pixels(p) for p in sample_image_paths()]
    pictures.append(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    for i, pixels in enumerate(pictures):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(pixels).save(path, **save)
        with Image.open(path) as opened:
            fast = _decode_jpeg(path, opened)
        assert fast is not None, f"{simplejpeg.__version__} refused {path}"
        assert fast.dtype == np.uint8 and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, _pillow_pixels(path))
        np.testing.assert_array_equal(load_image(path), fast)


def test_jpeg_fast_path_leaves_the_rest_to_pillow(tmp_path: Path) -> None:
    """Grayscale and CMYK JPEGs, EXIF-rotated ones, PNGs: Pillow's path (converted, rotated); a
    truncated JPEG: Pillow's one-line error, not simplejpeg's."""
    from zoo.images import _decode_jpeg

    gray = tmp_path / "gray.jpg"
    Image.fromarray(quadrants()[..., 0]).save(gray)
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(quadrants()).convert("CMYK").save(cmyk)
    png = tmp_path / "p.png"
    Image.fromarray(quadrants()).save(png)
    for path in (gray, cmyk, png):
        with Image.open(path) as opened:
            assert _decode_jpeg(path, opened) is None
        assert load_image(path).shape == (48, 96, 3)
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(whole)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:-400])
    with Image.open(cut) as opened:
        assert _decode_jpeg(cut, opened) is None  # strict: libjpeg's "premature end" is refused
    with pytest.raises(InputError) as err:
        load_image(cut)
    assert "cut.jpg" in one_line(err) and "truncated" in str(err.value)
