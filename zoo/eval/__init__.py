"""Accuracy evaluation through well-kept libraries (COCO mAP via faster-coco-eval or pycocotools).

``zoo.eval.coco`` reads and checks COCO-format datasets, hands results to the COCO library, and
offers ``BoxEvaluator`` for tasks whose results are boxes. Which evaluator a task uses is its
TaskDef's business; ``zoo.flows.eval`` runs it and writes the card. Nothing heavy is imported here.
"""
