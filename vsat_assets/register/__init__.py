"""The forces register: the 43 territorial police forces of England and Wales (forces.csv beside
this module, docs/national.md).

Names are the forces' own; codes are the platform's three-letter codes (DUR is the code the
HMICFRS export has always carried). Populations are rounded resident populations, for weighting
only. Policing areas are synthetic except Durham's four, and the most similar groups (MSG1..MSG6)
are synthetic groups of 7 or 8 forces: neither is the Home Office's list. Which force a deployment
runs is `VSAT_FORCE` (default DUR).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

FORCE_ENV = "VSAT_FORCE"
DEFAULT_FORCE = "DUR"
COLUMNS = ("code", "name", "population", "most_similar_group", "policing_areas")
_CODE = re.compile(r"^[A-Z]{3}$")
_AREA = re.compile(r"^[A-Z][A-Z0-9_]*$")


class RegisterError(ValueError):
    """The register file breaks a rule; the message names the file, line and column."""


@dataclass(frozen=True)
class Force:
    code: str
    name: str
    population: int
    most_similar_group: str
    policing_areas: tuple[str, ...]
    index: int  # position in the register (the generator's seed stream for the force)


def register_path() -> Path:
    return Path(str(resources.files("vsat_assets.register").joinpath("forces.csv")))


def read_register(path: Path) -> dict[str, Force]:
    """code -> Force, in file order; RegisterError naming the file, line and column of a fault."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise RegisterError(f"{path.name}, line 1: the header must be {','.join(COLUMNS)}")
    forces: dict[str, Force] = {}
    areas_seen: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        def fault(column: str, why: str) -> RegisterError:
            return RegisterError(f"{path.name}, line {line}, column {column}: {why}")
        if len(row) != len(COLUMNS):
            raise RegisterError(f"{path.name}, line {line}: {len(row)} fields, the header has {len(COLUMNS)}")
        code, name, population, group, areas = (cell.strip() for cell in row)
        if not _CODE.match(code):
            raise fault("code", f"{code!r} is not three capital letters")
        if code in forces:
            raise fault("code", f"{code} is listed twice")
        if not name:
            raise fault("name", "empty")
        if not population.isdigit() or int(population) <= 0:
            raise fault("population", f"{population!r} is not a whole number above 0")
        if not group:
            raise fault("most_similar_group", "empty")
        area_list = tuple(a.strip() for a in areas.split("|"))
        for area in area_list:
            if not _AREA.match(area):
                raise fault("policing_areas", f"{area!r} is not an area code (capitals, digits, _)")
            if area in areas_seen:
                raise fault("policing_areas", f"{area} is already an area of {areas_seen[area]}")
            areas_seen[area] = code
        forces[code] = Force(code, name, int(population), group, area_list, len(forces))
    return forces


@lru_cache(maxsize=1)
def forces() -> dict[str, Force]:
    """The built-in register."""
    return read_register(register_path())


def force(code: str) -> Force:
    try:
        return forces()[code]
    except KeyError:
        raise RegisterError(f"{code!r} is not a force of the register ({register_path().name}); "
                            f"known: {', '.join(forces())}") from None


def current_force() -> Force:
    """The force this deployment runs: `VSAT_FORCE` (default DUR)."""
    return force(os.environ.get(FORCE_ENV, DEFAULT_FORCE).strip() or DEFAULT_FORCE)


def group_members(group: str) -> list[str]:
    return [f.code for f in forces().values() if f.most_similar_group == group]
