"""Prometheus metrics: ``GET /metrics``, built from the kernel's events and timed operations."""
