"""The pack as an accessible spreadsheet: a cover sheet, a contents sheet, a notes sheet, then one
table per sheet under its title row; no merged cells, no blank rows above a table, no colour-only
meaning (the rating is a word). ODS through pandas and odfpy; XLSX through gptables (the Government
Statistical Service's package for accessible tables, on XlsxWriter). Both files are written beside
their target and renamed over it (vsat_assets/atomic.py)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from vsat_assets.atomic import write_atomically
from vsat_assets.defs.quarterly.figures import Pack
from vsat_assets.defs.quarterly.targets import RAG_MEANING

COVER, CONTENTS, NOTES = "Cover", "Contents", "Notes"
# The XLSX marks a cell without a figure with the GSS shorthand (gptables asks for one); the ODS leaves it blank.
NOT_PUBLISHED = "[x]"
LEGEND = "[x] = not published: suppressed, not tested (low base) or not available; the row's note says which"


def notes_rows(pack: Pack, low_base: int, suppress: int) -> list[list[str]]:
    rows = [
        ["Satisfied", "Completely, very or fairly satisfied, as a share of victims who answered on the seven-point "
                      "scale (don't know and not applicable left out)."],
        ["Intervals", "95% intervals, allowing for the weighting (docs/method.md)."],
        ["Low base", f"Fewer than {low_base} respondents: read with care."],
        ["Suppressed", f"Fewer than {suppress} respondents, or a figure from which such a one could be worked out: "
                       "the row keeps its label and shows no figure and no base."],
        ["Blank cells and [x]", "A blank figure (ODS) or [x] (XLSX) is one not published (see the row's note) or "
                                "not tested (low base)."],
        *[[f"Rating: {k}", v] for k, v in RAG_MEANING.items()],
        ["Targets", f"General survey {pack.targets.general_whole_experience_pct:g}%, domestic abuse survey "
                    f"{pack.targets.domestic_abuse_whole_experience_pct:g}% (whole experience; set in the run's "
                    "configuration)."],
    ]
    return rows


def cover_lines(pack: Pack, force_name: str) -> list[str]:
    return [f"{force_name}: Police and Crime Commissioner's quarterly pack, {pack.label}",
            "National police and crime measure: improve satisfaction amongst victims, with a particular focus on "
            "victims of domestic abuse.", *pack.sentences,
            "The Contents sheet lists the tables; the Notes sheet explains the terms. No personal data."]


def _grids(pack: Pack, force_name: str, low_base: int, suppress: int) -> dict[str, list[list]]:
    grids = {COVER: [[line] for line in cover_lines(pack, force_name)],
             CONTENTS: [["Contents"], ["Sheet", "Table"], *[[t.key, t.title] for t in pack.tables],
                        [NOTES, "Notes and definitions"]],
             NOTES: [["Notes"], ["Term", "Meaning"], *notes_rows(pack, low_base, suppress)]}
    for table in pack.tables:
        grids[table.key] = [[table.title], table.columns, *table.rows]
    return grids


def write_ods(path: Path, pack: Pack, force_name: str, low_base: int, suppress: int) -> None:
    import pandas as pd

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder) / path.name
        with pd.ExcelWriter(scratch, engine="odf") as writer:
            for sheet, grid in _grids(pack, force_name, low_base, suppress).items():
                width = max(len(row) for row in grid)
                pd.DataFrame([row + [None] * (width - len(row)) for row in grid], dtype=object).to_excel(writer, sheet_name=sheet, header=False, index=False)
        write_atomically(path, scratch.read_bytes(), step="pcc_pack.ods")


def write_xlsx(path: Path, pack: Pack, force_name: str, low_base: int, suppress: int) -> None:
    import gptables as gpt
    import pandas as pd

    sheets = {}
    for table in pack.tables:
        rows = [[NOT_PUBLISHED if v is None else v for v in row] for row in table.rows]
        # gptables refuses a table without data: say so in a row of its own.
        rows = rows or [["No figures published yet", *[NOT_PUBLISHED] * (len(table.columns) - 1)]]
        frame = pd.DataFrame(rows, columns=table.columns, dtype=object)
        sheets[table.key] = gpt.GPTable(
            table=frame, table_name=table.key.lower(), title=table.title, instructions=table.description or
            "One row per line of the table.", source="Source: the survey's published tables (analysts' file)",
            index_columns={2: 0}, legend=[LEGEND])
    lines = cover_lines(pack, force_name)
    cover = gpt.Cover(title=lines[0], intro=lines[1:-1], about=[lines[-1]])
    notes = pd.DataFrame(notes_rows(pack, low_base, suppress), columns=["Note reference", "Note text"])
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder) / path.name
        with warnings.catch_warnings():  # its advice on notes and pandas' deprecations inside it
            warnings.filterwarnings("ignore", module="gptables")
            gpt.write_workbook(filename=str(scratch), sheets=sheets, cover=cover, contentsheet_label=CONTENTS,
                               notes_table=notes, notesheet_label=NOTES)
        write_atomically(path, scratch.read_bytes(), step="pcc_pack.xlsx")
