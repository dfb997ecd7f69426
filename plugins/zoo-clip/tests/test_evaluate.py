"""The zero-shot evaluator's dataset: class folders, checked before any model loads (no model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zoo.errors import InputError
from zoo_clip.evaluate import load_class_folders

IMAGES = Path(__file__).resolve().parents[3] / "zoo" / "data" / "images"


def make(root: Path, layout: dict[str, list[str]]) -> Path:
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            shutil.copy(IMAGES / name, root / folder / f"{i}.jpg")
    return root


def test_class_folders_are_labels_interleaved_for_limit(tmp_path: Path) -> None:
    root = make(tmp_path / "d", {"tabby_cat": ["chelsea.jpg", "chelsea.jpg"], "rocket": ["rocket.jpg"],
                                 "cup": ["coffee.jpg", "coffee.jpg"]})  # fmt: skip
    (root / ".hidden").mkdir()
    (root / "empty").mkdir()
    ds = load_class_folders(root)
    assert ds.classes == ("cup", "rocket", "tabby cat") and ds.name == "d"
    assert [c for _, c in ds.items] == [0, 1, 2, 0, 2]
    assert [c for _, c in load_class_folders(root, limit=3).items] == [0, 1, 2]


@pytest.mark.parametrize(("layout", "message"), [
    ({}, "found 0 class folder"),
    ({"cat": ["chelsea.jpg"]}, "found 1 class folder"),
    ({"cat,dog": ["chelsea.jpg"], "x": ["rocket.jpg"]}, "without commas"),
    ({"a_b": ["chelsea.jpg"], "a b": ["rocket.jpg"]}, "the same label"),
])  # fmt: skip
def test_bad_datasets_are_one_line(tmp_path: Path, layout: dict[str, list[str]], message: str) -> None:
    root = make(tmp_path / "d", layout)
    root.mkdir(exist_ok=True)
    with pytest.raises(InputError, match=message) as err:
        load_class_folders(root)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="no such folder"):
        load_class_folders(tmp_path / "missing")
