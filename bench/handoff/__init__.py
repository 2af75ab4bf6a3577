"""Handoff bridge benchmarks: end-to-end latency and queue operations (bench/handoff/README.md)."""
