"""The local quarantine file: where a record goes when even its cut-down dead letter was refused.

One JSON object per line (JSON Lines), appended and ``fsync``'d before the loop commits the
record's offset, so a quarantined record is never lost with its offset committed:

    {"at": "2026-01-01T00:00:00+00:00", "topic": "news", "partition": 0, "offset": 7,
     "reason": "not_json", "detail": "...", "error": "MessageSizeTooLargeError: ...",
     "key_b64": null, "value_b64": "eyJ0ZXh0Ijog...", "headers": [["h", "dmFsdWU="]]}

Bytes are base64 (the whole record: this file is the copy of last resort). Replay a line with
``finsentry produce`` after fixing the cause. A file that cannot be written raises
:class:`~finsentry.errors.QuarantineError`: the loop then treats it as an outage (nothing committed).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from finsentry.errors import QuarantineError
from ingest.kafka_io import Record


def _b64(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(b).decode("ascii")


class Quarantine:
    """Append-only, fsync'd JSON Lines file. Example: ``Quarantine("var/quarantine.jsonl").put(rec, ...)``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def put(self, rec: Record, reason: str, detail: str, error: str) -> None:
        """Append ``rec`` durably (flushed and fsync'd) or raise QuarantineError."""
        line = json.dumps({
            "at": datetime.now(UTC).isoformat(), "topic": rec.topic, "partition": rec.partition,
            "offset": rec.offset, "reason": reason, "detail": detail[:500], "error": error[:500],
            "key_b64": _b64(rec.key), "value_b64": _b64(rec.value),
            "headers": [[k, _b64(v)] for k, v in rec.headers],
        }, ensure_ascii=True)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                created = not self.path.exists()
                with open(self.path, "a", encoding="ascii") as fh:
                    fh.write(line + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                if created:  # a new file's directory entry must be durable too
                    dir_fd = os.open(self.path.parent, os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
        except OSError as exc:
            raise QuarantineError(f"cannot write the quarantine file {self.path}: {exc}") from exc

    def read(self) -> list[dict[str, object]]:
        """Every quarantined record (for operators and tests); [] when there is no file."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="ascii").splitlines() if line.strip()]
