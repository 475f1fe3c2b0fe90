"""The data dictionary (docs/data-dictionary.md), generated from the assets' own documentation.

    .venv/bin/python scripts/data_dictionary.py --write docs/data-dictionary.md   # refresh it
    .venv/bin/python scripts/data_dictionary.py --check docs/data-dictionary.md   # fail if it is stale (the tests do)
"""

from pathlib import Path

from vsat_assets import cli

START, END = "<!-- data-dictionary:start -->", "<!-- data-dictionary:end -->"


def section() -> str:
    from vsat_assets.definitions import defs
    from vsat_assets.defs.publish.dictionary import as_markdown, marts_documentation

    from vsat_assets.defs.publish.published import NOT_PUBLISHED, PUBLISHED_TABLES

    tiers = {**{t: f"Published (analysts' file and extracts): {rule}." for t, rule in PUBLISHED_TABLES.items()},
             **{t: f"Not published: {why}." for t, why in NOT_PUBLISHED.items()}}
    return f"{START}\n{as_markdown(marts_documentation(list(defs.assets)), tiers)}{END}"


def main() -> int:
    parser = cli.parser("scripts/data_dictionary.py")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args()
    path = args.write or args.check
    text = path.read_text(encoding="utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    updated = before + section() + after
    if args.check:
        if updated != text:
            print(f"{path}: the data dictionary is out of date; run scripts/data_dictionary.py --write {path}")
            return 1
        return 0
    path.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    cli.run(main, "scripts/data_dictionary.py")
