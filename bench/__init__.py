"""Benchmarks that print throughput figures; run each with `python -m bench.<name>`."""
