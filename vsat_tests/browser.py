"""Headless Chromium from the command line: screenshots and rendered DOM of a page.

The Dagster UI is a React app: a plain `--screenshot` captures the empty shell (a blank
page of ~6 KB). `--virtual-time-budget` lets the page's scripts and requests run to idle
first, which is enough for the asset graph to render. Uses Debian's `chromium` package.
"""

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",  # needed when running as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise FileNotFoundError("chromium not found: run scripts/install_test_deps.sh")
    return path


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    # A fresh profile every time: no cache, no localStorage left by an earlier run.
    with tempfile.TemporaryDirectory(prefix="vsat-chromium-") as profile:
        cmd = [chromium_path(), *FLAGS, f"--user-data-dir={profile}", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"chromium exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def screenshot(
    url: str, out: Path, width: int = 1400, height: int = 900, budget_ms: int = 15000, timeout: float = 90
) -> Path:
    """Save a PNG of `url` after `budget_ms` of virtual time for its scripts to render."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    _run(
        [f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}", f"--screenshot={out}", url],
        timeout,
    )
    if not out.exists():
        raise RuntimeError(f"chromium wrote no screenshot for {url}")
    return out


def dump_dom(url: str, budget_ms: int = 15000, timeout: float = 90) -> str:
    """The page's DOM (HTML) after its scripts ran for `budget_ms` of virtual time."""
    return _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], timeout).stdout


def visible_text(dom: str) -> str:
    """The text a person would read in a dumped DOM: no tags, scripts or styles; spaces collapsed."""
    dom = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def rendered_text(url: str, budget_ms: int = 15000, timeout: float = 90) -> str:
    return visible_text(dump_dom(url, budget_ms, timeout))


def print_to_pdf(url: str, out: Path, budget_ms: int = 10000, timeout: float = 120) -> Path:
    """Print `url` to a PDF as a reader's browser would (A4 from the page's @page rule), without
    the browser's own header and footer."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    _run(["--no-pdf-header-footer", f"--virtual-time-budget={budget_ms}", f"--print-to-pdf={out}", url], timeout)
    if not out.exists():
        raise RuntimeError(f"chromium wrote no PDF for {url}")
    return out
