"""Files others read (hand-offs, exports, reports) appear whole or not at all."""

import os
import tempfile
from pathlib import Path

from vsat_assets.crash import crash_point


def write_atomically(path: Path, content: bytes | str, mode: int = 0o644, step: str = "") -> None:
    """Write beside the target, then rename over it: a reader never sees half a file,
    and a failure leaves the previous file as it was. A kill leaves `.<name>.*.partial`
    behind, which the next writer of the folder removes. `step` names the crash points."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        crash_point(f"{step}.before_rename")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_csv_atomically(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """A CSV of `rows` under a `columns` header (CRLF, as spreadsheets and the contracts expect), whole or not at all."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, buffer.getvalue())
