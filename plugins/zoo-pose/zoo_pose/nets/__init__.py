"""Torch modules in the upstream checkpoint layouts (imported only on the export side)."""
