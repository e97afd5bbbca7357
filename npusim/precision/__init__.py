"""Mixed precision: the per-layer precision map, and the search for the accuracy / latency
trade-off (`npusim precision`)."""
