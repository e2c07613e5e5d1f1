"""Package layout only; all metadata lives in pyproject.toml.

The layer folders sit at the top of the repository (the product card fixes them) but install
under one import name — `infersim.workloads`, `infersim.hwmodels`, ... — so that after
`pip install .` the only new top-level import name is `infersim` (regular and editable installs).
"""

from setuptools import find_namespace_packages, setup

LAYERS = ("workloads", "hwmodels", "mapper", "simulator", "validation", "studies")


def _packages(root: str, prefix: str) -> list[str]:
    found = find_namespace_packages(include=[root, f"{root}.*"], exclude=["*__pycache__*"])
    return [f"{prefix}{name}" for name in found]


packages = _packages("infersim", "")
for layer in LAYERS:
    packages += _packages(layer, "infersim.")

setup(packages=packages, package_dir={f"infersim.{layer}": layer for layer in LAYERS})
