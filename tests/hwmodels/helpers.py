"""Shared fixtures data for the hwmodels tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "hwmodels" / "specs"
SPECS = sorted(SPEC_DIR.glob("*.yaml"))
H100_TEXT = (SPEC_DIR / "h100-sxm.yaml").read_text()
