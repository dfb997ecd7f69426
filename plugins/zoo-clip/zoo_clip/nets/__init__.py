"""CLIP networks in the upstream checkpoint layout (torch side)."""
