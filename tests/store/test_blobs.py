"""The blob store: a blob is whole or absent, stored once, and nothing temporary is left."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from postdesk.store.blobs import FileBlobStore


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".tmp-"))


def test_a_blob_is_stored_once_under_its_hash(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    data = b"Subject: hello\r\n\r\nbody\r\n"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path(sha) == tmp_path / "blobs" / sha[:2] / sha
    assert store.get(sha) == data and store.exists(sha)
    assert store.put(data) == sha  # the same bytes again: nothing new, nothing left over
    assert [p.name for p in store.path(sha).parent.iterdir()] == [sha]
    assert _leftovers(tmp_path / "blobs") == []


def test_streams_and_missing_directories(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    sha, size = store.put_stream([b"a" * 1000, b"b" * 24])
    assert size == 1024 and store.get(sha) == b"a" * 1000 + b"b" * 24
    # Someone removed a prefix directory: the next blob under it makes it again.
    shutil.rmtree(store.path(sha).parent)
    assert store.put_stream([b"a" * 1000, b"b" * 24]) == (sha, 1024)
    assert store.get(sha) == b"a" * 1000 + b"b" * 24


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")

    def chunks() -> Iterator[bytes]:
        yield b"first part"
        raise OSError("the connection dropped")

    with pytest.raises(OSError, match="dropped"):
        store.put_stream(chunks())
    assert list((tmp_path / "blobs").iterdir()) == []


def test_only_hashes_name_blobs(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    for bad in ("../etc/passwd", "A" * 64, "0" * 63, "g" * 64):
        with pytest.raises(ValueError):
            store.path(bad)


def test_blobs_of_the_earlier_two_level_layout_are_found_and_not_written_again(
    tmp_path: Path,
) -> None:
    """Earlier versions wrote ``<root>/ab/cd/<sha>``; a store upgraded in place keeps them."""
    store = FileBlobStore(tmp_path / "blobs")
    data = b"Subject: stored long ago\r\n\r\nbody\r\n"
    sha = hashlib.sha256(data).hexdigest()
    legacy = tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(data)
    assert store.exists(sha) and store.get(sha) == data and store.path(sha) == legacy
    with store.open(sha) as f:
        assert f.read() == data
    assert store.put(data) == sha  # a redelivery of the same bytes: found, not copied
    assert not (tmp_path / "blobs" / sha[:2] / sha).exists()
    assert _leftovers(tmp_path / "blobs") == []
    # A blob that is nowhere is missing in both layouts.
    other = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(other) and store.path(other) == tmp_path / "blobs" / other[:2] / other
