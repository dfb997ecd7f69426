"""Accuracy evaluation through well-kept libraries (COCO mAP via faster-coco-eval or pycocotools).

``zoo.eval.api.evaluate`` runs a zoo model over a COCO-format dataset; ``zoo.eval.coco`` reads and
checks the dataset and hands detections to the COCO library. Nothing heavy is imported here.
"""
