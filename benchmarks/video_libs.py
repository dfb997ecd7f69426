"""PyAV or opencv-python-headless for zoo's video extra? Size, import time, decode and encode speed.

Each library runs in its own interpreter (a venv with only that library and numpy, so installed
size and import time are the library's own), interleaved in rounds so machine noise hits both
alike. The clips are H.264 (libx264, yuv420p, 30 fps, moving shapes over a textured background),
written once with PyAV. Decoding means "file -> RGB uint8 numpy array per frame", which is what
zoo.media hands to a predictor; encoding means "RGB numpy array -> file".

    python3 -m venv /tmp/m-av && /tmp/m-av/bin/pip install av numpy
    python3 -m venv /tmp/m-cv && /tmp/m-cv/bin/pip install opencv-python-headless numpy
    python3 benchmarks/video_libs.py --av /tmp/m-av/bin/python --cv2 /tmp/m-cv/bin/python [--frames 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

MAKE_CLIP = textwrap.dedent(
    """
    import sys
    import av
    import numpy as np

    path, width, height, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (np.stack([xx * 255 // width, yy * 255 // height, (xx ^ yy) & 255], -1)).astype(np.uint8)
    background = np.clip(background + rng.integers(-20, 20, background.shape), 0, 255).astype(np.uint8)
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(frames):
            img = background.copy()
            for k in range(4):
                cx = int((0.2 + 0.6 * ((i * (k + 1) * 3) % width) / width) * width)
                cy = int(height * (0.2 + 0.15 * k))
                img[max(cy - 30, 0) : cy + 30, max(cx - 40, 0) : cx + 40] = (60 * k, 255 - 50 * k, 128)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    """
)

# One job in the library's own interpreter: prints a JSON dict of measurements.
JOB = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    lib = sys.argv[1]
    if lib == "av":
        import av
        import av.video.reformatter
    else:
        import cv2
    import_s = time.perf_counter() - t0
    import numpy as np
    from importlib import metadata

    dist = metadata.distribution("av" if lib == "av" else "opencv-python-headless")
    size = sum((f.size or 0) for f in dist.files or [])
    result = {"import_s": import_s, "version": dist.version, "installed_bytes": size}

    def decode(path, threads):
        n = 0
        t = time.perf_counter()
        if lib == "av":
            with av.open(path) as container:
                stream = container.streams.video[0]
                if threads == 1:
                    stream.codec_context.thread_count = 1
                    stream.thread_type = "SLICE"
                else:
                    stream.thread_type = "AUTO"
                # one reformatter for the whole clip (frame.to_ndarray(format=...) makes a new
                # swscale context per frame, about 30 % slower), colour conversion on one thread
                reformatter = av.video.reformatter.VideoReformatter()
                for frame in container.decode(stream):
                    rgb = reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()
                    n += 1
        else:
            params = [cv2.CAP_PROP_N_THREADS, threads] if threads == 1 else []
            cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, params)
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                n += 1
            cap.release()
        assert rgb.dtype == np.uint8 and rgb.ndim == 3
        return n / (time.perf_counter() - t), n

    def encode(path, codec, frames):
        h, w = frames[0].shape[:2]
        t = time.perf_counter()
        if lib == "av":
            with av.open(path, "w") as out:
                stream = out.add_stream(codec, rate=30)
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                if codec == "libx264":
                    stream.options = {"preset": "veryfast", "crf": "23"}
                for img in frames:
                    for p in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                        out.mux(p)
                for p in stream.encode():
                    out.mux(p)
        else:
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), 30, (w, h))
            if not writer.isOpened():
                return None
            for img in frames:
                writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            writer.release()
        import os
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            return None
        return len(frames) / (time.perf_counter() - t)

    def decode_naive(path):
        # PyAV as its README shows it: a new swscale context per frame
        n = 0
        t = time.perf_counter()
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                n += 1
        return n / (time.perf_counter() - t)

    job = json.loads(sys.argv[2])
    if lib == "av":
        result["decode_480p_t1_to_ndarray"] = decode_naive(job["clips"]["480p"])
    for name, path in job["clips"].items():
        for threads in (1, 0):
            fps, n = decode(path, threads)
            result[f"decode_{name}_t{threads or 'auto'}"] = fps
            result[f"frames_{name}"] = n
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) // 4 + 96 for _ in range(job["encode_frames"])]
    codecs = ["libx264", "mpeg4"] if lib == "av" else ["avc1", "mp4v"]
    for codec in codecs:
        fps = encode(job["tmp"] + f"/enc-{lib}-{codec}.mp4", codec, frames)
        result[f"encode_{codec}"] = fps
    print(json.dumps(result))
    """
)


def run_job(python: str, lib: str, job: dict) -> dict:
    done = subprocess.run([python, "-c", JOB, lib, json.dumps(job)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{lib} job failed in {python}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--av", required=True, help="python of a venv with av + numpy")
    parser.add_argument("--cv2", required=True, help="python of a venv with opencv-python-headless + numpy")
    parser.add_argument("--frames", type=int, default=300, help="frames per test clip (30 fps)")
    parser.add_argument("--encode-frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clips = {}
        for name, (w, h) in {"480p": (640, 480), "720p": (1280, 720)}.items():
            path = str(Path(tmp) / f"clip-{name}.mp4")
            subprocess.run([args.av, "-c", MAKE_CLIP, path, str(w), str(h), str(args.frames)], check=True)
            clips[name] = path
        job = {"clips": clips, "encode_frames": args.encode_frames, "tmp": tmp}
        runs: dict[str, list[dict]] = {"av": [], "cv2": []}
        for _ in range(args.rounds):
            for lib, python in (("av", args.av), ("cv2", args.cv2)):
                runs[lib].append(run_job(python, lib, job))

    keys = sorted({k for rs in runs.values() for r in rs for k in r} - {"version"})
    print(f"{'measure':<24} {'av ' + runs['av'][0]['version']:>14} {'cv2 ' + runs['cv2'][0]['version']:>18}")
    for key in keys:
        cells = []
        for lib in ("av", "cv2"):
            values = [r[key] for r in runs[lib] if r.get(key) is not None]
            if not values:
                cells.append("n/a")
            elif key == "installed_bytes":
                cells.append(f"{values[0] / 1e6:.1f} MB")
            elif key.startswith("frames"):
                cells.append(str(values[0]))
            elif key == "import_s":
                cells.append(f"{statistics.median(values) * 1e3:.0f} ms")
            else:
                cells.append(f"{statistics.median(values):.0f} fps")
        print(f"{key:<24} {cells[0]:>14} {cells[1]:>18}")


if __name__ == "__main__":
    main()
