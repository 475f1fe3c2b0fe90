"""Each register force's planted truth, for the stand-in and the national run.

Durham keeps `Truth()` exactly (the demo's figures). Every other force gets its own level of
satisfaction, a shift of every question's log-odds drawn once from a hash of its code (uniform on
[-MAX_SHIFT, MAX_SHIFT], about -6 to +6 points on whole experience), and its own area effects
(hashed likewise, on [-0.15, 0.15]). Nothing here is random at run time: a force's truth is a
pure function of its code.
"""

from __future__ import annotations

import hashlib
import math

from vsat_assets.contractor_sim.truth import Truth
from vsat_assets.register import force

MAX_SHIFT = 0.4


def _unit(text: str) -> float:
    """A number in [0, 1) from the SHA-256 of the text."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def planted_shift(code: str) -> float:
    """The force's planted log-odds shift on every question (0 for Durham)."""
    return 0.0 if code == "DUR" else MAX_SHIFT * (2 * _unit(f"level:{code}") - 1)


def truth_for_force(code: str) -> Truth:
    if code == "DUR":
        return Truth()
    base, shift = Truth(), planted_shift(code)
    targets = {q: 1 / (1 + math.exp(-(math.log(p / (1 - p)) + shift)))
               for q, p in base.satisfaction_targets.items()}
    areas = {a: 0.3 * _unit(f"area:{a}") - 0.15 for a in force(code).policing_areas}
    return Truth(satisfaction_targets=targets, area=areas)
