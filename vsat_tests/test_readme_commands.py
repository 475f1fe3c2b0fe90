"""Every shell command of README.md and docs/*.md runs as pasted on the demo's data.

The fenced ```sh, ```bash, ```shell and ```console blocks are run in document order (README.md,
then docs/ by name), each in a fresh bash with `set -e`, from a clone-like directory after one
demo run (conftest's `demo_clone`), in a user's environment (none of the suite's VSAT_* settings).
A block that cannot run so is preceded by `<!-- not-run: reason -->` and must give its reason.
A block that appears twice runs once. The analysts' ```sql examples run against the published
file with the analysts' shell (.venv/bin/duckdb), each returning rows.

The commands change the demo's data (an opt-out, a re-opened and re-run month), so this file
runs after the tests that read the demo's data as it was built.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vsat_tests.conftest import PROJECT_ROOT, users_shell_env

SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
NOT_RUN = re.compile(r"^<!--\s*not-run:(.*?)-->\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass
class Block:
    file: str
    line: int
    language: str
    text: str
    not_run_reason: str | None


def doc_files() -> list[Path]:
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def fenced_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening or not opening.group(1):
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = NOT_RUN.match(before.strip())
        name = str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else path.name
        blocks.append(Block(name, index + 1, opening.group(1),
                            "\n".join(lines[index + 1:end]), marker.group(1).strip() if marker else None))
        index = end + 1
    return blocks


def shell_script(block: Block) -> str:
    if block.language != "console":
        return block.text
    return "\n".join(line[2:] for line in block.text.split("\n") if line.startswith("$ "))


def all_blocks() -> list[Block]:
    return [block for path in doc_files() for block in fenced_blocks(path)]


def test_every_skipped_block_says_why_and_every_marker_precedes_a_shell_block():
    blocks = all_blocks()
    shell = [b for b in blocks if b.language in SHELL_LANGUAGES]
    assert len(shell) >= 8, [f"{b.file}:{b.line}" for b in shell]
    assert all(b.not_run_reason for b in shell if b.not_run_reason is not None)
    assert [f"{b.file}:{b.line}" for b in blocks if b.not_run_reason is not None and b.language not in SHELL_LANGUAGES] == []
    markers = sum(bool(NOT_RUN.match(line.strip())) for path in doc_files()
                  for line in path.read_text(encoding="utf-8").split("\n"))
    assert markers == sum(b.not_run_reason is not None for b in shell), "a not-run marker not just before a block"
    # Honest and short: the skipped blocks are the servers, the suite itself and placeholders.
    assert len([b for b in shell if b.not_run_reason]) <= 5


def test_a_not_run_marker_is_read_and_a_failing_block_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- not-run: a server -->\n```sh\nmake ui\n```\n\n```console\n$ false\noutput\n```\n")
    skipped, console = fenced_blocks(page)
    assert skipped.not_run_reason == "a server" and console.not_run_reason is None
    assert shell_script(console) == "false"
    assert run_block(console, tmp_path).returncode != 0


def run_block(block: Block, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", shell_script(block)], cwd=cwd,
                          env=users_shell_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_every_command_of_the_readme_and_docs_runs_as_pasted_on_the_demos_data(demo_clone):
    ran, seen = [], set()
    for block in all_blocks():
        if block.language not in SHELL_LANGUAGES or block.not_run_reason or block.text in seen:
            continue
        seen.add(block.text)
        done = run_block(block, demo_clone["root"])
        assert done.returncode == 0, (f"{block.file}:{block.line} failed ({done.returncode}):\n{block.text}\n"
                                      f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        ran.append((block, done))
    # What the commands did, on the demo's data.
    outputs = {f"{b.file}:{b.line}": d.stdout + d.stderr for b, d in ran}
    text = "\n".join(outputs.values())
    assert "opt-out recorded" in text
    assert "2026-03 re-opened" in text
    assert "recorded as sent" in text or "already" in text
    assert (demo_clone["root"] / "report.pdf").stat().st_size > 10_000  # the annual report printed to PDF
    assert len(ran) >= 8, list(outputs)


def analysts_queries() -> list[str]:
    queries = [b.text for path in doc_files() for b in fenced_blocks(path) if b.language == "sql"]
    return [q.strip() for block in queries for q in block.split(";") if q.strip()]


@pytest.mark.slow
def test_every_sql_example_runs_in_the_analysts_shell_on_the_published_file(demo_clone):
    queries = analysts_queries()
    assert len(queries) >= 5
    published = demo_clone["data"] / "vsat_analytics.duckdb"
    for query in queries:
        done = subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "duckdb"), "-readonly", "-csv", str(published)],
                              input=query + ";", capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and not done.stderr, (query, done.stderr)
        assert len(done.stdout.strip().splitlines()) > 1, (query, done.stdout)  # a header and rows


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_link_between_the_readme_and_docs_resolves_to_a_file_and_heading():
    broken = []
    for page in doc_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    for page in sorted((PROJECT_ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name}" in readme, f"README does not link docs/{page.name}"
