"""Agent-assist latency benchmark (bench/assist/README.md)."""
