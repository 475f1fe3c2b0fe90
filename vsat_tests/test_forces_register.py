"""The forces register: the 43 forces, each with its own areas, used by the settings, the
generator and the contractor stand-in; Durham exactly as before."""

from datetime import date

import pytest

from vsat_assets import register
from vsat_assets.contractor_sim.forces import planted_shift, truth_for_force
from vsat_assets.contractor_sim.truth import Truth
from vsat_assets.defs.annual.config import AnnualSettings
from vsat_assets.defs.raw_reports.generator import GeneratorSettings, generate_month_frame
from vsat_assets.resources import SurveySettings
from vsat_assets.vocabulary import POLICING_AREAS


def test_the_register_holds_43_forces_each_with_its_own_areas_and_a_group_of_7_or_8():
    forces = register.forces()
    assert len(forces) == 43 and forces["DUR"].name == "Durham Constabulary"
    assert forces["DUR"].policing_areas == POLICING_AREAS
    areas = [a for f in forces.values() for a in f.policing_areas]
    assert len(areas) == len(set(areas))
    sizes = {g: len(register.group_members(g)) for g in {f.most_similar_group for f in forces.values()}}
    assert set(sizes.values()) <= {7, 8} and sum(sizes.values()) == 43
    assert all(f.population > 0 for f in forces.values())


@pytest.mark.parametrize("line, column", [
    ("DUR,Durham,640000,MSG1,NORTH|SOUTH\nDUR,Again,1,MSG1,EAST", "code"),
    ("DUR,Durham,lots,MSG1,NORTH", "population"),
    ("DUR,Durham,640000,MSG1,north area", "policing_areas"),
])
def test_a_bad_register_is_refused_naming_file_line_and_column(tmp_path, line, column):
    path = tmp_path / "forces.csv"
    path.write_text(",".join(register.COLUMNS) + "\n" + line + "\n")
    with pytest.raises(register.RegisterError, match=rf"forces.csv, line \d, column {column}"):
        register.read_register(path)


def test_vsat_force_picks_the_force_its_areas_and_its_export_code(monkeypatch):
    assert SurveySettings().policing_areas == list(POLICING_AREAS)
    monkeypatch.setenv("VSAT_FORCE", "CLE")
    assert SurveySettings().policing_areas == list(register.force("CLE").policing_areas)
    assert SurveySettings().force_name == "Cleveland Police"
    assert AnnualSettings().force_code_for_hmicfrs == "CLE"
    monkeypatch.setenv("VSAT_FORCE", "XYZ")
    with pytest.raises(register.RegisterError, match="'XYZ' is not a force of the register"):
        register.current_force()


def test_the_generator_gives_each_force_its_own_areas_and_durham_its_old_data():
    april = date(2025, 4, 1)
    durham = generate_month_frame(april, GeneratorSettings(scale=0.03))
    assert durham.equals(generate_month_frame(april, GeneratorSettings(scale=0.03, force_code="DUR")))
    cleveland = generate_month_frame(april, GeneratorSettings(
        scale=0.03, force_code="CLE", areas=register.force("CLE").policing_areas))
    assert set(cleveland["force_code"]) == {"CLE"}
    assert set(cleveland["policing_area"]) == set(register.force("CLE").policing_areas)


def test_each_force_has_its_own_planted_level_and_durham_keeps_its_truth():
    assert truth_for_force("DUR") == Truth()
    shifts = {c: planted_shift(c) for c in register.forces()}
    assert shifts["DUR"] == 0 and len({round(s, 6) for s in shifts.values()}) == 43
    cleveland = truth_for_force("CLE")
    assert set(cleveland.area) == set(register.force("CLE").policing_areas)
    assert (cleveland.satisfaction_targets["whole_experience"] > 0.82) == (shifts["CLE"] > 0)
