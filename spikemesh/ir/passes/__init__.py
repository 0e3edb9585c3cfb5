"""IR passes: pure functions Graph -> Graph (BatchNorm folding, quantization, checks)."""
