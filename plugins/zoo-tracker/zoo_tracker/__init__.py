"""zoo plugin: multi-object tracking (ByteTrack over any zoo detector) and single-object tracking
(a NanoTrack-style Siamese tracker), with all state and post-processing in numpy."""
