"""Benchmarks: each reports figures next to a baseline measured in the same run."""
