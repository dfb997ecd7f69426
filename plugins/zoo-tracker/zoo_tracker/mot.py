"""MOTChallenge-format data: read and check gt.txt / result files and seqinfo.ini, write results,
and score trackers with HOTA, MOTA and IDF1 through TrackEval's metric classes.

A MOT line is ``frame, id, left, top, width, height, conf, x, y, z`` (results) or
``frame, id, left, top, width, height, flag, class, visibility`` (MOT16+ ground truth; MOT15 gt
has -1 in the class column). Frames count from 1. A bad line stops reading with one line naming
the file, the line, the column and the fix.

Scoring builds TrackEval's per-sequence data (ids per frame, IoU similarity) itself and calls
``trackeval.metrics.HOTA / CLEAR / Identity``, with the MOTChallenge preprocessing of
``trackeval.datasets.MotChallenge2DBox``: gt rows flagged 0 are ignored; for MOT16+ ground truth
(classes present) tracker boxes matched (IoU >= 0.5) to distractor classes are removed and only
pedestrians (class 1) are kept. A test checks the numbers equal TrackEval's own loader's.
"""

from __future__ import annotations

import configparser
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError, MissingDependencyError

COLUMNS = ("frame", "id", "left", "top", "width", "height", "conf", "class", "visibility", "z")
MOT_FORMAT = "frame,id,left,top,width,height,conf,x,y,z"
DISTRACTOR_CLASSES = (2, 7, 8, 12)
"""MOT16/17 classes whose matched tracker boxes are removed: person on vehicle, static person,
distractor, reflection (TrackEval's MotChallenge2DBox; MOT20 adds non-motorised vehicle, 6)."""
PEDESTRIAN = 1


@dataclass(frozen=True)
class MotData:
    """Rows of a MOT file. boxes are (N, 4) xywh (left, top, width, height) in pixels."""

    frames: np.ndarray
    ids: np.ndarray
    boxes: np.ndarray
    conf: np.ndarray
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Column 8: the class in MOT16+ ground truth; in MOT15 files a world x coordinate or -1."""
    visibility: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Column 9: visibility in MOT16+ ground truth; in MOT15 files a world y coordinate or -1."""
    source: str = ""

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def num_frames(self) -> int:
        return int(self.frames.max()) if len(self) else 0

    def frame(self, t: int) -> np.ndarray:
        """Row indices of frame ``t``."""
        return np.flatnonzero(self.frames == t)

    def boxes_xyxy(self) -> np.ndarray:
        return np.concatenate([self.boxes[:, :2], self.boxes[:, :2] + self.boxes[:, 2:]], axis=1)

    @classmethod
    def empty(cls, source: str = "") -> MotData:
        return cls(frames=np.zeros(0, np.int64), ids=np.zeros(0, np.int64), boxes=np.zeros((0, 4)),
                   conf=np.zeros(0), classes=np.zeros(0), visibility=np.zeros(0), source=source)

    def has_mot16_classes(self) -> bool:
        """True when column 8 holds MOT16+ classes (whole numbers 1..12) and column 9 visibilities in [0, 1]."""
        c, v = self.classes, self.visibility
        return bool(len(self)) and bool(((c == np.round(c)) & (c >= 1) & (c <= 12)).all() and ((v >= 0) & (v <= 1)).all())


@dataclass(frozen=True)
class SeqInfo:
    name: str
    seq_length: int
    im_width: int
    im_height: int
    frame_rate: float
    im_dir: str = "img1"
    """The frames' folder inside the sequence folder."""
    im_ext: str = ".jpg"
    """The frames' file suffix; frame t is ``{t:06d}{im_ext}``."""


def _bad(path: str, line: int, col: int, message: str) -> InputError:
    name = COLUMNS[col - 1] if 1 <= col <= len(COLUMNS) else f"column {col}"
    return InputError(f"{path}:{line}: column {col} ({name}) {message}; "
                      f"fix the file: MOTChallenge lines are {MOT_FORMAT}, frames from 1")


def parse_mot(text: str, source: str = "<text>", *, kind: str = "results", seq_length: int | None = None) -> MotData:
    """Parse MOT lines. ``kind`` is 'gt' or 'results' (gt ids must be positive; both need unique ids per frame)."""
    rows: list[tuple[float, ...]] = []
    line_of: list[int] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        cells = [c.strip() for c in (line.split(",") if "," in line else line.split())]
        if len(cells) < 6:
            raise _bad(source, n, len(cells) + 1, f"is missing: the line has {len(cells)} values, at least 6 are needed")
        values: list[float] = []
        for c, cell in enumerate(cells[:9], start=1):
            try:
                v = float(cell)
            except ValueError:
                raise _bad(source, n, c, f"is {cell!r}, not a number") from None
            if not np.isfinite(v):
                raise _bad(source, n, c, f"is {cell!r}, not a finite number")
            values.append(v)
        frame, tid, _, _, w, h = values[:6]
        if frame != int(frame) or frame < 1:
            raise _bad(source, n, 1, f"is {cells[0]!r}: frames are whole numbers from 1")
        if seq_length is not None and frame > seq_length:
            raise _bad(source, n, 1, f"is {cells[0]!r}, past the sequence's last frame {seq_length} (seqinfo.ini seqLength)")
        if tid != int(tid):
            raise _bad(source, n, 2, f"is {cells[1]!r}: ids are whole numbers")
        if kind == "gt" and tid < 1:
            raise _bad(source, n, 2, f"is {cells[1]!r}: ground-truth ids are positive")
        if w < 0:
            raise _bad(source, n, 5, f"is {cells[4]!r}: widths cannot be negative")
        if h < 0:
            raise _bad(source, n, 6, f"is {cells[5]!r}: heights cannot be negative")
        conf = values[6] if len(values) > 6 else 1.0
        cls = values[7] if len(values) > 7 else -1.0
        vis = values[8] if len(values) > 8 else 1.0
        rows.append((frame, tid, *values[2:6], conf, cls, vis))
        line_of.append(n)
    if not rows:
        return MotData.empty(source)
    arr = np.asarray(rows, dtype=np.float64)
    frames = arr[:, 0].astype(np.int64)
    ids = arr[:, 1].astype(np.int64)
    # one id per frame: the first repeated (frame, id) pair names both lines
    order = np.lexsort((ids, frames))
    same = (frames[order][1:] == frames[order][:-1]) & (ids[order][1:] == ids[order][:-1])
    if same.any():
        k = int(np.flatnonzero(same)[0])
        first, second = sorted((line_of[order[k]], line_of[order[k + 1]]))
        raise _bad(source, second, 2, f"repeats id {ids[order[k]]} in frame {frames[order[k]]} (first at line {first}): "
                   "an id appears at most once per frame")
    return MotData(frames=frames, ids=ids, boxes=arr[:, 2:6], conf=arr[:, 6], classes=arr[:, 7], visibility=arr[:, 8],
                   source=source)


def read_mot(path: str | Path, *, kind: str = "results", seq_length: int | None = None) -> MotData:
    """Read a MOT file (gt.txt or a tracker's result file); one-line errors name file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such MOT file; give a MOTChallenge {'gt/gt.txt' if kind == 'gt' else 'result'} file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read it as text ({err}); MOT files are comma-separated text") from err
    return parse_mot(text, str(path), kind=kind, seq_length=seq_length)


def write_mot(path: str | Path, rows: Iterable[str]) -> None:
    """Write MOT result lines (e.g. from ``Tracks.to_mot_rows()``), one per line."""
    Path(path).write_text("".join(f"{r}\n" for r in rows), encoding="utf-8")


def format_mot(data: MotData) -> str:
    """MotData as MOT text (gt columns: frame, id, box, conf, class, visibility)."""
    return "".join(
        f"{f},{i},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},{c:g},{k:g},{v:g}\n"
        for f, i, b, c, k, v in zip(data.frames.tolist(), data.ids.tolist(), data.boxes, data.conf.tolist(),
                                    data.classes.tolist(), data.visibility.tolist(), strict=True)
    )


def read_seqinfo(path: str | Path) -> SeqInfo:
    """seqinfo.ini's [Sequence] section: name, seqLength, imWidth, imHeight, frameRate."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; a MOTChallenge sequence folder has seqinfo.ini beside gt/")
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not an ini file ({str(err).splitlines()[0]}); it needs a [Sequence] section") from err
    if "Sequence" not in parser:
        raise InputError(f"{path}: no [Sequence] section; add one with name, seqLength, imWidth, imHeight, frameRate")
    sec = parser["Sequence"]

    def number(key: str, kind: type) -> Any:
        if key not in sec:
            raise InputError(f"{path}: [Sequence] has no {key}; add {key}=...")
        try:
            value = kind(sec[key])
        except ValueError:
            raise InputError(f"{path}: [Sequence] {key}={sec[key]!r} is not a {kind.__name__}; fix the value") from None
        if value <= 0:
            raise InputError(f"{path}: [Sequence] {key}={sec[key]!r} must be positive")
        return value

    im_dir, im_ext = sec.get("imDir", "img1").strip(), sec.get("imExt", ".jpg").strip()
    if not im_dir or "/" in im_dir or "\\" in im_dir or im_dir in (".", ".."):
        raise InputError(f"{path}: [Sequence] imDir={im_dir!r} must name a folder inside the sequence, e.g. img1")
    if not im_ext.startswith(".") or len(im_ext) < 2:
        raise InputError(f"{path}: [Sequence] imExt={im_ext!r} must be a file suffix such as .jpg")
    return SeqInfo(name=sec.get("name", path.parent.name), seq_length=number("seqLength", int),
                   im_width=number("imWidth", int), im_height=number("imHeight", int),
                   frame_rate=number("frameRate", float), im_dir=im_dir, im_ext=im_ext)


# --- scoring ----------------------------------------------------------------------------------

SUMMARY_FIELDS = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1", "IDSW", "CLR_FP", "CLR_FN", "Frag", "MT", "ML")


def _trackeval_metrics() -> tuple[Any, Any, Any]:
    """TrackEval's HOTA, CLEAR and Identity metric objects (imported lazily: an optional extra)."""
    try:
        from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError as err:
        raise MissingDependencyError("trackeval", "eval", "to score trackers with HOTA/MOTA/IDF1") from err
    _numpy2_aliases_if_needed(HOTA, CLEAR, Identity)
    quiet = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    return HOTA(), CLEAR(dict(quiet)), Identity(dict(quiet))


_REMOVED_ALIASES = {"float": float, "int": int, "bool": bool, "object": object}


@functools.lru_cache(maxsize=1)
def _numpy2_aliases_if_needed(*metric_classes: Any) -> bool:
    """Every trackeval on PyPI (1.0-1.3, the maintained fork) runs on NumPy 2 as is. The GitHub
    original (JonathonLuiten/TrackEval, "1.0.dev1") still writes ``np.float`` / ``np.int``, which
    NumPy 1.24 removed. Score a one-frame sequence once; only if that fails on one of those names,
    put the aliases back (they name the builtins, exactly what the code meant) and say so.
    Returns whether the aliases were needed."""
    one = {"num_timesteps": 1, "num_gt_ids": 1, "num_tracker_ids": 1, "num_gt_dets": 1, "num_tracker_dets": 1,
           "gt_ids": [np.array([0])], "tracker_ids": [np.array([0])], "similarity_scores": [np.array([[1.0]])]}
    try:
        for cls in metric_classes:
            cls({"THRESHOLD": 0.5, "PRINT_CONFIG": False}).eval_sequence(one)
        return False
    except AttributeError as err:
        if "numpy" not in str(err) or not any(f"'{a}'" in str(err) for a in _REMOVED_ALIASES):
            raise
    import warnings

    for alias, builtin in _REMOVED_ALIASES.items():
        if alias not in np.__dict__:
            setattr(np, alias, builtin)
    warnings.warn("trackeval uses NumPy aliases removed in NumPy 1.24 (np.float, np.int...); zoo put them back "
                  "for it. pip install 'trackeval>=1.3' avoids this.", stacklevel=2)
    return True


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from zoo_tracker.assignment import box_iou

    return box_iou(np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], 1), np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1))


def sequence_data(gt: MotData, results: MotData, num_frames: int | None = None,
                  preprocess: str = "auto") -> dict[str, Any]:
    """TrackEval's per-sequence dict for one class (pedestrians): ids per frame made contiguous,
    IoU similarities, counts. ``preprocess``: 'mot15' (ignore gt rows flagged 0), 'mot17' (also
    remove tracker boxes on distractors and keep class-1 gt only), or 'auto' (mot17 when the gt
    columns 8 and 9 are MOT16+ classes and visibilities, mot15 otherwise)."""
    from scipy.optimize import linear_sum_assignment

    if num_frames is None:
        num_frames = max(gt.num_frames, results.num_frames)
    if preprocess == "auto":
        preprocess = "mot17" if gt.has_mot16_classes() else "mot15"
    if preprocess not in ("mot15", "mot17"):
        raise InputError(f"unknown MOT preprocessing {preprocess!r}; use 'mot15', 'mot17' or 'auto'")
    gt_ids, tr_ids, sims = [], [], []
    for t in range(1, num_frames + 1):
        g = gt.frame(t)
        r = results.frame(t)
        sim = _iou_xywh(gt.boxes[g], results.boxes[r])
        keep_gt = gt.conf[g] != 0
        if preprocess == "mot17":
            if len(g) and len(r):
                scores = np.where(sim >= 0.5 - np.finfo(float).eps, sim, 0.0)
                rows, cols = linear_sum_assignment(-scores)
                ok = scores[rows, cols] > np.finfo(float).eps
                on_distractor = np.isin(gt.classes[g][rows[ok]], DISTRACTOR_CLASSES)
                drop = cols[ok][on_distractor]
                keep_r = np.ones(len(r), bool)
                keep_r[drop] = False
                r, sim = r[keep_r], sim[:, keep_r]
            keep_gt &= gt.classes[g] == PEDESTRIAN
        gt_ids.append(gt.ids[g][keep_gt])
        tr_ids.append(results.ids[r])
        sims.append(sim[keep_gt])
    data: dict[str, Any] = {"num_timesteps": num_frames, "similarity_scores": sims}
    for key, per_frame in (("gt", gt_ids), ("tracker", tr_ids)):
        all_ids = np.unique(np.concatenate(per_frame)) if per_frame else np.zeros(0, np.int64)
        data[f"{key}_ids"] = [np.searchsorted(all_ids, ids).astype(int) for ids in per_frame]
        data[f"num_{key}_ids"] = len(all_ids)
        data[f"num_{key}_dets"] = int(sum(len(ids) for ids in per_frame))
    return data


def evaluate(sequences: Mapping[str, tuple[MotData, MotData]] | Sequence[tuple[str, MotData, MotData]],
             num_frames: Mapping[str, int] | None = None, preprocess: str = "auto") -> dict[str, Any]:
    """HOTA (mean over IoU thresholds 0.05..0.95), DetA, AssA, LocA, MOTA, MOTP, IDF1, IDSW, FP, FN...
    per sequence and combined ('COMBINED', as TrackEval combines sequences).

    ``sequences``: name -> (ground truth, tracker results)."""
    items = list(sequences.items()) if isinstance(sequences, Mapping) else [(n, (g, r)) for n, g, r in sequences]
    hota, clear, ident = _trackeval_metrics()
    raw: dict[str, dict[str, dict[str, Any]]] = {}
    for name, (gt, res) in items:
        data = sequence_data(gt, res, (num_frames or {}).get(name), preprocess)
        raw[name] = {"HOTA": hota.eval_sequence(data), "CLEAR": clear.eval_sequence(data),
                     "Identity": ident.eval_sequence(data)}
    out = {name: _summarise(r) for name, r in raw.items()}
    if len(raw) > 1:
        combined = {m: metric.combine_sequences({n: raw[n][m] for n in raw})
                    for m, metric in (("HOTA", hota), ("CLEAR", clear), ("Identity", ident))}
        out["COMBINED"] = _summarise(combined)
    elif raw:
        out["COMBINED"] = next(iter(out.values()))
    return out


def _summarise(r: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    h, c, i = r["HOTA"], r["CLEAR"], r["Identity"]
    return {
        "HOTA": float(np.mean(h["HOTA"])), "DetA": float(np.mean(h["DetA"])), "AssA": float(np.mean(h["AssA"])),
        "LocA": float(np.mean(h["LocA"])), "MOTA": float(c["MOTA"]), "MOTP": float(c["MOTP"]),
        "IDF1": float(i["IDF1"]), "IDSW": float(c["IDSW"]), "CLR_FP": float(c["CLR_FP"]),
        "CLR_FN": float(c["CLR_FN"]), "Frag": float(c["Frag"]), "MT": float(c["MT"]), "ML": float(c["ML"]),
    }


def evaluate_dirs(data_dir: str | Path, results_dir: str | Path, preprocess: str = "auto") -> dict[str, Any]:
    """Score a results folder (``<seq>.txt`` per sequence) against a MOTChallenge folder
    (``<seq>/gt/gt.txt`` and ``<seq>/seqinfo.ini`` per sequence)."""
    data_dir, results_dir = Path(data_dir), Path(results_dir)
    seqs = sorted(p for p in data_dir.iterdir() if (p / "gt" / "gt.txt").is_file()) if data_dir.is_dir() else []
    if not seqs:
        raise InputError(f"{data_dir}: no sequences found; a MOTChallenge folder has <sequence>/gt/gt.txt "
                         "and <sequence>/seqinfo.ini")
    pairs: dict[str, tuple[MotData, MotData]] = {}
    lengths: dict[str, int] = {}
    for seq in seqs:
        info = read_seqinfo(seq / "seqinfo.ini")
        res_file = results_dir / f"{seq.name}.txt"
        if not res_file.is_file():
            raise InputError(f"{res_file}: no results for sequence {seq.name}; write one <sequence>.txt per sequence")
        pairs[seq.name] = (read_mot(seq / "gt" / "gt.txt", kind="gt", seq_length=info.seq_length),
                           read_mot(res_file, kind="results", seq_length=info.seq_length))
        lengths[seq.name] = info.seq_length
    return evaluate(pairs, lengths, preprocess)
