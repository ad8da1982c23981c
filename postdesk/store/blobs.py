"""A content-addressed blob store on the file system: ``<dir>/ab/<sha256>``.

Writes go to a temporary file that is fsync'd and renamed, so a blob is either whole or
absent; a blob written just before a crash without its database row is only garbage.

One level of 256 directories: all of them exist after about 1,500 blobs, so a new blob
costs two fsyncs (its file, its directory). Earlier versions wrote ``<dir>/ab/cd/<sha>``,
65,536 directories: until most existed (some 700,000 blobs) a new blob usually made one
and synced two more, twice the fsyncs (``benchmarks/profile_ingest.py``). Blobs in that
layout are still found where they are; nothing needs to move.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

_HEX = frozenset("0123456789abcdef")


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob is (or would be written)."""
        return self._find(sha256) or self._path(sha256)

    def _find(self, sha256: str) -> Path | None:
        """The blob's file, in this layout or the earlier one; None when there is none."""
        own = self._path(sha256)
        if own.exists():
            return own
        legacy = self.root / sha256[:2] / sha256[2:4] / sha256
        return legacy if legacy.exists() else None

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not _HEX.issuperset(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        return self.put_stream([data])[0]

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        # As tempfile.mkstemp does, without its per-call setup (this runs for every message).
        tmp_name = os.path.join(self.root, f".tmp-{secrets.token_hex(8)}")
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as tmp:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            sha = digest.hexdigest()
            final = self._path(sha)
            if self._find(sha) is not None:  # the same bytes again (in either layout)
                os.unlink(tmp_name)
                return sha, size
            try:
                os.replace(tmp_name, final)
            except FileNotFoundError:  # the first blob under this prefix: make its directory
                self._make_dir(final.parent)
                os.replace(tmp_name, final)
            _fsync_dir(final.parent)
            return sha, size
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    @staticmethod
    def _make_dir(directory: Path) -> None:
        """``<root>/ab``, its entry made durable in the root. Synced even when it exists:
        another thread may have just made it and not yet synced the root (rare: once per
        prefix)."""
        directory.mkdir(exist_ok=True)
        _fsync_dir(directory.parent)

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self._find(sha256) is not None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
