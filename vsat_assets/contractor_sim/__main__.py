"""CLI: simulate returns for every hand-off in the outbox that has none yet.

    python -m vsat_assets.contractor_sim --outbox DIR --inbox DIR \
        [--month YYYY-MM ...] [--seed N] [--reports-db WAREHOUSE.duckdb]

Prints one line per hand-off: file names, row count and outcome counts. It never
prints a cell of the hand-off other than counts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from vsat_assets import cli
from vsat_assets.contractor_sim.simulate import (
    HANDOFF_NAME,
    OUTCOMES,
    ContractorSettings,
    ManifestMismatch,
    returns_path_for,
    simulate_returns,
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = cli.parser("python -m vsat_assets.contractor_sim",
                   description="Stand-in survey contractor: hand-offs in, returns out.")
    p.add_argument("--outbox", type=Path, required=True, help="folder of handoff_YYYY-MM.csv files")
    p.add_argument("--inbox", type=Path, required=True, help="folder to write returns_YYYY-MM.csv")
    p.add_argument("--month", action="append", default=[], metavar="YYYY-MM",
                   help="only these sampling months (repeatable)")
    p.add_argument("--seed", type=int, default=ContractorSettings.seed)
    p.add_argument("--force", help="register force whose planted truth to answer from (default VSAT_FORCE, "
                                   "else DUR)")
    p.add_argument("--reports-db", type=Path,
                   help="warehouse whose raw.reports give each victim's area, age and ethnicity "
                        "(simulation harness; needs the force's pseudonym key in VSAT_PSEUDONYM_KEY)")
    return p.parse_args(argv)


def _handoffs(outbox: Path, months: list[str]) -> tuple[list[Path], list[str]]:
    """(hand-off files to consider, names asked for but not in the outbox)."""
    found = sorted(p for p in outbox.glob("handoff_*.csv") if HANDOFF_NAME.match(p.name))
    if not months:
        return found, []
    wanted = {f"handoff_{m}.csv" for m in months}
    missing = sorted(wanted - {p.name for p in found})
    return [p for p in found if p.name in wanted], missing


def _read_profiles(path: Path | None, handoffs: list[Path]) -> dict | None:
    if path is None:
        return None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such warehouse (--reports-db)")
    from vsat_assets import settings
    from vsat_assets.contractor_sim.profiles import handoff_survey_ids, profiles_from_reports

    return profiles_from_reports(path, settings.pseudonym_key()[0], handoff_survey_ids(handoffs))


def _summary(handoff: Path, returns: Path) -> str:
    outcome = pl.read_csv(returns, columns=["outcome"], infer_schema=False)["outcome"]
    counts = outcome.value_counts()
    by = dict(zip(counts["outcome"].to_list(), counts["count"].to_list()))
    parts = " ".join(f"{o}={by.get(o, 0)}" for o in OUTCOMES)
    return f"{handoff.name} -> {returns.name}: rows={len(outcome)} {parts}"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not args.outbox.is_dir():
        raise FileNotFoundError(f"{args.outbox}: no such folder (--outbox)")
    from vsat_assets.contractor_sim.forces import truth_for_force
    from vsat_assets.register import current_force, force

    code = force(args.force).code if args.force else current_force().code
    settings = ContractorSettings(seed=args.seed, truth=truth_for_force(code))
    handoffs, missing = _handoffs(args.outbox, args.month)
    profiles = _read_profiles(args.reports_db, handoffs)
    for name in missing:
        print(f"ERROR {name}: not in outbox", file=sys.stderr)
    status = 1 if missing else 0
    if not handoffs and not missing:
        print(f"nothing to do: no hand-off files in {args.outbox}" + (" for the months asked" if args.month else ""))
    answered = 0
    for handoff in handoffs:
        target = returns_path_for(handoff, args.inbox)
        if target.exists():
            print(f"{handoff.name}: {target.name} already present, skipped")
            continue
        answered += 1
        try:
            written = simulate_returns(handoff, args.inbox, settings, profiles)
        except ManifestMismatch as e:
            print(f"ERROR {e}", file=sys.stderr)
            status = 1
            continue
        print(_summary(handoff, written))
    if handoffs and not answered:
        print(f"nothing to do: every hand-off in {args.outbox} has its returns in {args.inbox} already")
    return status


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.contractor_sim")
