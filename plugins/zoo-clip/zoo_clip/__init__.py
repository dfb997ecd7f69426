"""zoo plugin: CLIP (image and text towers on ncnn, zero-shot classification, embeddings)."""
