"""One YAML document parses identically as part of a hardware spec and as part of a study.

The same spelling of a value is written once into a hardware spec (`power: {tdp_w: ...}`) and
once into a study (`fixed: {hw: {power.tdp_w: ...}}`). Both must agree: the same number in the
built hardware, or a refusal in both naming the same problem."""

from __future__ import annotations

import re

import pytest

from infersim.foundation.errors import SpecError
from infersim.foundation.yaml import parse_document
from infersim.hwmodels.loader import load_hardware, load_hardware_text
from infersim.studies.spec import load_study
from tests._support import H100_TEXT, SPEC_DIR

# spelling -> the TDP in watts it means in YAML 1.2, or None when it is not a number
SPELLINGS: dict[str, float | None] = {
    "700": 700.0, "7e2": 700.0, "7.0E+2": 700.0, "0.7e3": 700.0, "+700": 700.0,
    "0700": 700.0,  # YAML 1.1 would read octal 448
    "1e-1": None,  # a number (0.1 W), below the idle power: refused in both alike
    "yes": None, "true": None, "1_000": None, "700 W": None, "2024-01-01": None,
    "0x2BC": 700.0,
}


def spec_with_tdp(spelling: str) -> str:
    old = "\n  tdp_w: 700\n"  # the power block of h100-sxm.yaml
    assert H100_TEXT.count(old) == 1
    return H100_TEXT.replace(old, f"\n  tdp_w: {spelling}\n")


def study_with_tdp(spelling: str) -> str:
    return ("name: tdp\nfixed:\n  hardware: h100-sxm\n  hw:\n"
            f"    power.tdp_w: {spelling}\n"
            "sweep:\n  scenario.batch: [1, 2]\n")


def _problem_text(message: str) -> str:
    return re.sub(r" \(value given by --set\)", "", message)


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_a_value_means_the_same_in_a_spec_and_in_a_study(spelling, tmp_path):
    expected = SPELLINGS[spelling]
    spec_path = tmp_path / "chip.yaml"
    spec_path.write_text(spec_with_tdp(spelling))
    study_path = tmp_path / "study.yaml"
    study_path.write_text(study_with_tdp(spelling))
    if expected is not None:
        hw = load_hardware_text(spec_path.read_text(), str(spec_path), base_dir=SPEC_DIR)
        study = load_study(study_path)
        value = study.fixed["hw.power.tdp_w"]
        assert hw.chip.power.tdp_w == expected
        assert load_hardware("h100-sxm", {"power.tdp_w": value}).chip.power.tdp_w == expected
        return
    with pytest.raises(SpecError) as spec_err:
        load_hardware_text(spec_path.read_text(), str(spec_path), base_dir=SPEC_DIR)
    with pytest.raises(SpecError) as study_err:
        load_study(study_path)
    in_spec = {f"{p.path}: {p.message}" for p in spec_err.value.problems}
    in_study = {_problem_text(p.message) for p in study_err.value.problems}
    assert in_study == in_spec
    assert {(p.path, p.line) for p in study_err.value.problems} == {("fixed.hw.power.tdp_w", 5)}


def test_economics_number_in_exponent_form_is_accepted_by_a_study(tmp_path):
    """`usd_per_kwh: 1e-1` was the string '1e-1' in studies (YAML 1.1) and so refused."""
    p = tmp_path / "s.yaml"
    p.write_text("name: e\nfixed:\n  economics: {usd_per_kwh: 1e-1}\n"
                 "sweep:\n  scenario.batch: [1]\n")
    assert load_study(p, check_refs=False).fixed["economics.usd_per_kwh"] == 0.1


def test_the_whole_document_is_the_same_data_in_both():
    """The spec file read as a study document (where it is refused for its fields) yields
    the same data and lines as when read as a spec."""
    text = spec_with_tdp("7e2")
    doc = parse_document(text)
    with pytest.raises(SpecError) as ei:
        from infersim.studies.spec import parse_study

        parse_study(doc.data, "spec-as-study", doc.lines, check_refs=False)
    unknown = {p.path: p.line for p in ei.value.problems if "unknown field" in p.message}
    for key in ("kind", "compute", "memory", "power"):
        assert unknown[key] == doc.lines[key]
    assert doc.data["power"]["tdp_w"] == 700.0
