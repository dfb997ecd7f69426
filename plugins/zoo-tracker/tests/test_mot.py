"""MOTChallenge files (reading, one-line errors) and HOTA/MOTA/IDF1 through TrackEval."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import InputError
from zoo_tracker.mot import MotData, evaluate, evaluate_dirs, format_mot, parse_mot, read_mot, read_seqinfo

pytest.importorskip("trackeval")

# two people over 4 frames; person 2 leaves after frame 3
GT = """\
1,1,10,10,20,40,1,1,1
1,2,100,10,20,40,1,1,1
2,1,12,10,20,40,1,1,1
2,2,98,10,20,40,1,1,1
3,1,14,10,20,40,1,1,1
3,2,96,10,20,40,1,1,1
4,1,16,10,20,40,1,1,1
"""


def test_parse_and_format_round_trip() -> None:
    gt = parse_mot(GT, "gt.txt", kind="gt")
    assert len(gt) == 7 and gt.num_frames == 4 and gt.frame(4).tolist() == [6]
    np.testing.assert_allclose(gt.boxes_xyxy()[0], [10, 10, 30, 50])
    again = parse_mot(format_mot(gt), kind="gt")
    np.testing.assert_allclose(again.boxes, gt.boxes)
    assert again.ids.tolist() == gt.ids.tolist()
    assert parse_mot("", "empty.txt").num_frames == 0
    assert len(parse_mot("1 3 1 2 3 4 0.5 -1 -1 -1\n")) == 1  # whitespace-separated works too


@pytest.mark.parametrize(("text", "where"), [
    ("1,1,10,10,20\n", r"gt\.txt:1: column 6 \(height\) is missing"),
    ("1,1,10,10,20,40\n2,1,a,10,20,40\n", r"gt\.txt:2: column 3 \(left\) is 'a', not a number"),
    ("1,1,10,10,-20,40\n", r"gt\.txt:1: column 5 \(width\) is '-20'"),
    ("0,1,10,10,20,40\n", r"gt\.txt:1: column 1 \(frame\) is '0'"),
    ("1.5,1,10,10,20,40\n", r"gt\.txt:1: column 1 \(frame\)"),
    ("1,0,10,10,20,40\n", r"gt\.txt:1: column 2 \(id\) is '0': ground-truth ids are positive"),
    ("1,1,10,10,20,inf\n", r"column 6 \(height\) is 'inf', not a finite number"),
    ("1,3,10,10,20,40\n2,3,1,1,2,2\n1,3,5,5,5,5\n", r"gt\.txt:3: column 2 \(id\) repeats id 3 in frame 1 \(first at line 1\)"),
    ("9,1,10,10,20,40\n", r"gt\.txt:1: column 1 \(frame\) is '9', past the sequence's last frame 5"),
])
def test_bad_lines_name_file_line_and_column(text: str, where: str) -> None:
    with pytest.raises(InputError, match=where) as err:
        parse_mot(text, "gt.txt", kind="gt", seq_length=5)
    assert "\n" not in str(err.value) and "MOTChallenge" in str(err.value)


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such MOT file"):
        read_mot(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="cannot read it as text"):
        read_mot(tmp_path / "bin.txt")
    ini = tmp_path / "seqinfo.ini"
    ini.write_text("[Sequence]\nname=a\nseqLength=x\nimWidth=640\nimHeight=480\nframeRate=25\n")
    with pytest.raises(InputError, match=r"seqLength='x' is not a int"):
        read_seqinfo(ini)
    ini.write_text("[Other]\n")
    with pytest.raises(InputError, match=r"no \[Sequence\] section"):
        read_seqinfo(ini)
    ini.write_text("[Sequence]\nname=a\nseqLength=4\nimWidth=640\nimHeight=480\nframeRate=25\n")
    assert read_seqinfo(ini).seq_length == 4


def _results(text: str) -> MotData:
    return parse_mot(text, "res.txt")


def test_perfect_tracks_score_one() -> None:
    gt = parse_mot(GT, kind="gt")
    res = evaluate({"s": (gt, _results(GT.replace(",1,1,1\n", ",0.9,-1,-1,-1\n")))})["s"]
    assert res["HOTA"] == pytest.approx(1.0) and res["MOTA"] == 1.0 and res["IDF1"] == 1.0
    assert res["IDSW"] == 0 and res["CLR_FP"] == 0 and res["CLR_FN"] == 0


def test_known_errors() -> None:
    gt = parse_mot(GT, kind="gt")
    # person 1's track changes id at frame 3 (one switch); person 2 is missed in frame 2;
    # one false positive far from everyone in frame 4
    res_text = GT.replace("3,1,14", "3,7,14").replace("4,1,16", "4,7,16").replace("2,2,98,10,20,40,1,1,1\n", "")
    res_text += "4,9,300,300,20,40,1,1,1\n"
    res = evaluate({"s": (gt, _results(res_text))})["s"]
    assert res["IDSW"] == 1 and res["CLR_FN"] == 1 and res["CLR_FP"] == 1
    assert res["MOTA"] == pytest.approx(1 - (1 + 1 + 1) / 7)
    # IDF1: best id mapping 1->1 (2 frames) or 1->7 (2 frames), 2->2 (2 frames): IDTP 4 of 7 gt, 7 tracker boxes
    assert res["IDF1"] == pytest.approx(2 * 4 / (7 + 7))
    assert 0.0 < res["HOTA"] < 1.0
    empty = evaluate({"s": (gt, MotData.empty())})["s"]
    assert empty["MOTA"] == 0.0 and empty["HOTA"] == 0.0 and empty["CLR_FN"] == 7


def test_zero_flagged_gt_and_mot17_distractors() -> None:
    # frame 1: a pedestrian (class 1) and a static person (class 7, a distractor); frame 2: the
    # pedestrian flagged 0 (ignored). A tracker box on the distractor is not a false positive.
    gt = parse_mot("1,1,10,10,20,40,1,1,1\n1,2,100,10,20,40,1,7,1\n2,1,12,10,20,40,0,1,1\n", kind="gt")
    res = _results("1,5,10,10,20,40,1\n1,6,100,10,20,40,1\n2,5,12,10,20,40,1\n")
    mot17 = evaluate({"s": (gt, res)})["s"]  # auto: MOT16+ classes present
    # one pedestrian to find (found), the distractor's box removed, frame 2's box on an ignored row: FP
    assert mot17["CLR_FP"] == 1 and mot17["CLR_FN"] == 0 and mot17["MOTA"] == pytest.approx(0.0)
    mot15 = evaluate({"s": (gt, res)}, preprocess="mot15")["s"]
    # MOT15 has no distractor classes: two people to find in frame 1, both found; the same FP
    assert mot15["CLR_FP"] == 1 and mot15["CLR_FN"] == 0 and mot15["MOTA"] == pytest.approx(0.5)
    with pytest.raises(InputError, match="unknown MOT preprocessing"):
        evaluate({"s": (gt, res)}, preprocess="mot99")


def _write_mot_tree(root: Path, name: str, gt_text: str, res_text: str, length: int) -> tuple[Path, Path]:
    gt_dir = root / "gt" / "MOT15-train"
    (gt_dir / name / "gt").mkdir(parents=True)
    (gt_dir / name / "gt" / "gt.txt").write_text(gt_text)
    (gt_dir / name / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nseqLength={length}\nimWidth=640\nimHeight=480\nimExt=.jpg\n")
    res_dir = root / "trackers" / "MOT15-train" / "zoo" / "data"
    res_dir.mkdir(parents=True)
    (res_dir / f"{name}.txt").write_text(res_text)
    return gt_dir, res_dir


def test_same_numbers_as_trackeval_own_loader(tmp_path: Path) -> None:
    """Our reading and preprocessing against TrackEval's MotChallenge2DBox end to end, on real MOT15
    ground truth with a tracker that drops, shifts and swaps boxes."""
    import trackeval

    from zoo_tracker.faults import mot15_sequence

    try:
        seq = mot15_sequence("TUD-Campus")
    except InputError:
        pytest.skip("motmetrics (MOT15 ground truth) is not installed")
    rng = np.random.default_rng(3)
    keep = rng.random(len(seq.gt)) > 0.15
    boxes = seq.gt.boxes + rng.normal(0, 4, seq.gt.boxes.shape)
    ids = np.where(seq.gt.frames > 40, seq.gt.ids % 3 + 1, seq.gt.ids) + 10  # id switches after frame 40
    rows = [f"{f},{i},{b[0]:.2f},{b[1]:.2f},{b[2]:.2f},{b[3]:.2f},1,-1,-1,-1"
            for f, i, b, k in zip(seq.gt.frames, ids, boxes, keep, strict=True) if k]
    # a (frame, id) pair repeated by the id relabelling would be invalid: keep the first
    seen, res_rows = set(), []
    for r in rows:
        key = tuple(r.split(",")[:2])
        if key not in seen:
            seen.add(key)
            res_rows.append(r)
    gt_dir, res_dir = _write_mot_tree(tmp_path, "TUD-Campus", format_mot(seq.gt), "\n".join(res_rows) + "\n", 71)

    ours = evaluate_dirs(gt_dir, res_dir)["TUD-Campus"]
    eval_cfg = {"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False,
                "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "LOG_ON_ERROR": None,
                "DISPLAY_LESS_PROGRESS": True}
    data_cfg = {"GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"), "BENCHMARK": "MOT15",
                "SPLIT_TO_EVAL": "train", "TRACKERS_TO_EVAL": ["zoo"], "SEQ_INFO": {"TUD-Campus": 71},
                "PRINT_CONFIG": False}
    quiet = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    with contextlib.redirect_stdout(io.StringIO()):
        out, _ = trackeval.Evaluator(eval_cfg).evaluate(
            [trackeval.datasets.MotChallenge2DBox(data_cfg)],
            [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(dict(quiet)), trackeval.metrics.Identity(dict(quiet))])
    theirs = out["MotChallenge2DBox"]["zoo"]["TUD-Campus"]["pedestrian"]
    assert ours["HOTA"] == pytest.approx(float(np.mean(theirs["HOTA"]["HOTA"])), abs=1e-9)
    assert ours["MOTA"] == pytest.approx(theirs["CLEAR"]["MOTA"], abs=1e-9)
    assert ours["IDF1"] == pytest.approx(theirs["Identity"]["IDF1"], abs=1e-9)
    assert ours["IDSW"] == theirs["CLEAR"]["IDSW"] > 0
    assert 0.3 < ours["HOTA"] < 0.9  # a real, imperfect score


def test_evaluate_dirs_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no sequences found"):
        evaluate_dirs(tmp_path, tmp_path)
    gt_dir, res_dir = _write_mot_tree(tmp_path, "seq-a", GT, GT, 4)
    (res_dir / "seq-a.txt").unlink()
    with pytest.raises(InputError, match=r"seq-a\.txt: no results for sequence seq-a"):
        evaluate_dirs(gt_dir, res_dir)
    (res_dir / "seq-a.txt").write_text("1,1,10,10,20,40,1\n7,1,10,10,20,40,1\n")
    with pytest.raises(InputError, match=r"seq-a\.txt:2: column 1 \(frame\) is '7', past the sequence's last frame 4"):
        evaluate_dirs(gt_dir, res_dir)
    (res_dir / "seq-a.txt").write_text(GT)
    both = evaluate_dirs(gt_dir, res_dir)
    assert both["seq-a"]["HOTA"] == pytest.approx(1.0) and both["COMBINED"]["MOTA"] == 1.0


def test_numpy_alias_shim_only_when_trackeval_needs_it() -> None:
    from trackeval.metrics import CLEAR, HOTA, Identity

    from zoo_tracker.mot import _numpy2_aliases_if_needed

    assert _numpy2_aliases_if_needed(HOTA, CLEAR, Identity) is False  # PyPI's trackeval: NumPy 2 clean
    assert "float" not in np.__dict__

    class OldTrackEvalMetric:  # what the GitHub original does
        def __init__(self, config: object = None) -> None:
            pass

        def eval_sequence(self, data: object) -> np.ndarray:
            return np.zeros(1, dtype=np.float)  # type: ignore[attr-defined]

    present = {a for a in ("float", "int", "bool", "object") if a in np.__dict__}  # NumPy 2 has np.bool again
    try:
        with pytest.warns(UserWarning, match="np.float"):
            assert _numpy2_aliases_if_needed(OldTrackEvalMetric) is True
        assert np.float is float  # type: ignore[attr-defined]
    finally:
        for alias in {"float", "int", "bool", "object"} - present:
            np.__dict__.pop(alias, None)
    assert "float" not in np.__dict__ and np.bool is np.bool_
