"""Design studies: sweeps that scale out, Pareto fronts, plots, HTML reports, teaching labs.

    from infersim.studies import load_study, run_sweep, pareto_front
    study = load_study("study.yaml")
    result = run_sweep(study, "out/", executor="local", workers=2)
    result.frame                      # one row per point: parameters, status, metrics

Shipped studies: `studies.registry.list_studies()` / `run_study(name, out_dir)`
(CLI: `infersim study list|run`). Labs: `studies/labs/`.
Names are imported lazily so that worker processes import only what they use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Study", "SweepResult", "list_studies", "load_study", "pareto_front", "run_study",
           "run_sweep"]

if TYPE_CHECKING:
    from infersim.studies.pareto import pareto_front
    from infersim.studies.registry import list_studies, run_study
    from infersim.studies.runner import SweepResult, run_sweep
    from infersim.studies.spec import load_study
    from infersim.studies.types import Study

_WHERE = {"Study": "infersim.studies.types", "load_study": "infersim.studies.spec", "SweepResult": "infersim.studies.runner",
          "run_sweep": "infersim.studies.runner", "pareto_front": "infersim.studies.pareto",
          "list_studies": "infersim.studies.registry", "run_study": "infersim.studies.registry"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'studies' has no attribute {name!r}")
