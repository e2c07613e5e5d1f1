"""Workloads: HF-style config.json → ModelConfig → operator Trace for a Scenario."""

from infersim.workloads.builder import build_trace
from infersim.workloads.dtypes import DType
from infersim.workloads.hf_config import list_models, load_model
from infersim.workloads.model import ModelConfig
from infersim.workloads.scenario import Parallelism, Phase, Precision, Scenario, SpecDecode
from infersim.workloads.summary import ModelSummary, summarize
from infersim.workloads.trace import Trace

__all__ = [
    "DType", "ModelConfig", "ModelSummary", "Parallelism", "Phase", "Precision", "Scenario",
    "SpecDecode", "Trace", "build_trace", "list_models", "load_model", "summarize",
]
