"""Network definitions in their upstreams' module layouts, so published checkpoints load key for key.

Each network's ``forward`` returns its raw head outputs as one channels-first tensor
(1, C, anchors): the export stays static and all decoding happens in numpy (zoo_detector.decode).
"""
