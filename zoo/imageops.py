"""Fast image operations for pre-processing, shared by every task plugin.

The implementations are the ncnn runtime's (its C pixel routines), so plugins reach them here and
never import ncnn themselves. Pure-numpy references of the same rules live with the plugins' tests.
"""

from __future__ import annotations

from zoo.runtimes.ncnn.pixels import resize_pad_normalize

__all__ = ["resize_pad_normalize"]
