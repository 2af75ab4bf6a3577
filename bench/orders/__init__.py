"""Order-lookup latency benchmark (bench/orders/README.md)."""
