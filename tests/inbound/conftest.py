"""Fixtures shared by the inbound tests: blob stores, the shared corpus, a real Dovecot."""

from __future__ import annotations

from pathlib import Path

import pytest

from postdesk.store.blobs import FileBlobStore
from tests.inbound.corpus_eval import corpus_root
from tests.support.imap import dovecot, imap_store, imap_user  # noqa: F401 - fixtures


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


@pytest.fixture(scope="session")
def corpus() -> Path:
    root = corpus_root()
    if root is None:
        pytest.skip("shared corpus not found (../shared/corpus or POSTDESK_CORPUS)")
    return root


@pytest.fixture(scope="session")
def session_blobs(tmp_path_factory: pytest.TempPathFactory) -> FileBlobStore:
    return FileBlobStore(tmp_path_factory.mktemp("corpus-blobs"))
