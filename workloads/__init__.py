"""Workloads: HF-style config.json → ModelConfig → operator Trace for a Scenario."""

from workloads.builder import build_trace
from workloads.dtypes import DType
from workloads.model import ModelConfig, list_models, load_model
from workloads.scenario import Parallelism, Phase, Precision, Scenario, SpecDecode
from workloads.summary import ModelSummary
from workloads.trace import Trace

__all__ = [
    "DType", "ModelConfig", "ModelSummary", "Parallelism", "Phase", "Precision", "Scenario",
    "SpecDecode", "Trace", "build_trace", "list_models", "load_model",
]
