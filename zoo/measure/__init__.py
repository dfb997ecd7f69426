"""Benchmarking: timing statistics, host probe, op counting, and the isolated bench worker."""
