"""zoo's image-classification plugin: the classifier task, resnet18/resnet34 and efficientnet-lite0."""
