"""Benchmarks of the sample service (`make bench-app`)."""
