"""Disaggregation study: GPU prefill with GPU, LPU or CIM decode pools vs colocated GPUs."""
