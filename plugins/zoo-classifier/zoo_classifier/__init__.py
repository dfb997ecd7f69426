"""zoo's image-classification plugin: the classifier task and resnet18/resnet34."""
