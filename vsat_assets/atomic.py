"""Files others read (hand-offs, exports, reports) appear whole or not at all."""

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, content: bytes | str, mode: int = 0o644) -> None:
    """Write beside the target, then rename over it: a reader never sees half a file,
    and a failure leaves the previous file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
