from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a study YAML (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return p

    return write


SMALL_GRID = """
name: small-grid
description: batch × context on one chip
fixed:
  model: llama-3.1-8b
  hardware: h100-sxm
  scenario: {phase: decode}
sweep:
  scenario.batch: [1, 4, 16]
  scenario.context: [512, 2048]
search: {method: grid}
metrics: [latency_s, tokens_per_s, cost_per_mtok_usd]
"""
