"""IoU, score fusion and gated linear assignment."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_tracker.assignment import box_iou, fuse_score, linear_assignment


def test_box_iou_known_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    iou = box_iou(a, b)
    np.testing.assert_allclose(iou[0], [1.0, 50 / 150, 0.0])
    np.testing.assert_allclose(iou[2], [0.0, 0.0, 0.0])  # a flat box overlaps nothing
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_fuse_score() -> None:
    cost = np.array([[0.2, 1.0]])
    np.testing.assert_allclose(fuse_score(cost, np.array([0.5, 0.9])), [[1 - 0.8 * 0.5, 1.0]])


def test_gated_assignment_is_lapjv_with_cost_limit() -> None:
    # lapjv(cost_limit=0.8) minimises sum(cost - 0.8): A-1 alone (gain 0.7) beats A-2 + B-1 (0.3 + 0.3);
    # an unrestricted solve would take A-2 and B-1 (total 1.0 < 1.1) and keep both under the limit
    cost = np.array([[0.1, 0.5], [0.5, 1.0]])
    matches, ur, uc = linear_assignment(cost, 0.8)
    assert matches.tolist() == [[0, 0]]
    assert ur.tolist() == [1] and uc.tolist() == [1]


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty(shape: tuple[int, int]) -> None:
    matches, ur, uc = linear_assignment(np.zeros(shape), 0.5)
    assert matches.shape == (0, 2)
    assert ur.tolist() == list(range(shape[0])) and uc.tolist() == list(range(shape[1]))


def test_threshold_and_rectangular() -> None:
    cost = np.array([[0.9, 0.3, 0.7], [0.2, 0.95, 0.6]])
    matches, ur, uc = linear_assignment(cost, 0.5)
    assert matches.tolist() == [[0, 1], [1, 0]]
    assert ur.tolist() == [] and uc.tolist() == [2]
    matches, ur, uc = linear_assignment(cost, 0.25)  # only the 0.2 pair is under the limit
    assert matches.tolist() == [[1, 0]] and ur.tolist() == [0] and uc.tolist() == [1, 2]
