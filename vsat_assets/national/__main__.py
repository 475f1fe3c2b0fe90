"""CLI: the national comparison over a national folder.

    python -m vsat_assets.national [--dir NATIONAL_DIR]
"""

from pathlib import Path

from vsat_assets import cli


def main(argv=None) -> int:
    from vsat_assets.national.stage import national_dir, run_national

    parser = cli.parser("python -m vsat_assets.national", description="The national comparison stage.")
    parser.add_argument("--dir", type=Path, help="national folder (default VSAT_NATIONAL_DIR)")
    args = parser.parse_args(argv)
    result = run_national(args.dir or national_dir())
    print(f"{result['forces']} forces from {result['files']} published files -> {result['warehouse']}")
    return 0


if __name__ == "__main__":
    cli.run(main, "python -m vsat_assets.national")
