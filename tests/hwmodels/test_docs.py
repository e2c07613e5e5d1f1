"""docs/hardware-spec.md documents what the schema accepts (guards against drift)."""

from __future__ import annotations

from infersim.hwmodels.schema import FAMILIES, kind_fields
from infersim.hwmodels.spec import (
    CimParams,
    CpuParams,
    LpuParams,
    MeshParams,
    SocParams,
    SystolicParams,
    Topology,
    WaferParams,
)
from tests._support import ROOT

DOC = (ROOT / "docs" / "hardware-spec.md").read_text()


def test_every_unit_suffix_and_rejected_spelling_is_documented():
    for fam in FAMILIES.values():
        for suffix in [*fam.suffixes, *fam.ambiguous]:
            assert f"`{suffix}`" in DOC, (fam.name, suffix)


def test_every_kind_field_and_topology_is_documented():
    for cls in (WaferParams, LpuParams, CimParams, CpuParams, SystolicParams, MeshParams,
                SocParams):
        for kf in kind_fields(cls):
            assert kf.key in DOC, (cls.__name__, kf.key)
    for key in ("sm_count", "l2_mib", "kernel_launch_us", "host_launch_us"):
        assert key in DOC
    for t in Topology:
        assert t.value in DOC
