"""Serving study: Llama-3.1-70B on GPU, wafer, LPU and CIM systems under 1-1000 users."""
