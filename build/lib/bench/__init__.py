"""Benchmarks (`make bench`): each stage against its physical floor, measured in the same run."""
