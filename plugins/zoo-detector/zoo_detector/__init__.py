"""zoo's object-detection plugin: the detector task and yolov8n, yolox-s and fcos."""
