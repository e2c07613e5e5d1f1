"""Fixtures shared by the whole suite.

Library hardware and models are loaded once per session: `Hardware` and `ModelConfig` are
frozen, so every test can share one object. Tests that load with overrides, or whose subject is
the loading itself, still call the loaders.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from infersim.hwmodels import load_hardware
from infersim.hwmodels.spec import Hardware
from infersim.workloads import load_model
from infersim.workloads.model import ModelConfig
from tests._support import h100_like

# ---- library hardware -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def h100() -> Hardware:
    return load_hardware("h100-sxm")


@pytest.fixture(scope="session")
def a100() -> Hardware:
    return load_hardware("a100-sxm-80gb")


@pytest.fixture(scope="session")
def dgx_h100() -> Hardware:
    return load_hardware("dgx-h100")


@pytest.fixture(scope="session")
def cs3() -> Hardware:
    return load_hardware("cs-3")


@pytest.fixture(scope="session")
def groq_lpu() -> Hardware:
    return load_hardware("groq-lpu")


@pytest.fixture(scope="session")
def groq_576() -> Hardware:
    return load_hardware("groq-576")


@pytest.fixture(scope="session")
def cpu_host() -> Hardware:
    return load_hardware("cpu-host")


# ---- library models ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llama8b() -> ModelConfig:
    return load_model("llama-3.1-8b")


@pytest.fixture(scope="session")
def llama70b() -> ModelConfig:
    return load_model("llama-3.1-70b")


@pytest.fixture(scope="session")
def mixtral() -> ModelConfig:
    return load_model("mixtral-8x7b")


@pytest.fixture(scope="session")
def deepseek_v3() -> ModelConfig:
    return load_model("deepseek-v3")


# ---- hand-built systems (simulator tests; independent of the YAML library) --------------------


@pytest.fixture(scope="session")
def hw1() -> Hardware:
    return h100_like(1)


@pytest.fixture(scope="session")
def hw8() -> Hardware:
    return h100_like(8)


# ---- studies ----------------------------------------------------------------------------------


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """Write a study YAML (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return p

    return write


# ---- order ------------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` first, in their collected order (a stable sort), then the rest.
    The suite runs on every core (pytest-xdist, `-n auto` in pyproject.toml): a worker that
    starts the slowest test (`infersim validate`, minutes) at the end would run alone while
    the others wait; started first, it overlaps the thousands of short tests."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for `-n auto`: the cores this process may run on (its CPU affinity, and a
    cgroup v2 CPU quota where one is set, as in a container), at most 8: each worker holds
    about 1 GB (torch, the shared fixtures), and `infersim validate` starts its own workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores or 1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, min(cores or 1, 8))
