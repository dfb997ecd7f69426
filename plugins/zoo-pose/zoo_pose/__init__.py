"""zoo plugin: 2-D human pose estimation."""
