"""Benchmarks that need the local cluster (`make bench-rollout`); not part of `make test`."""
