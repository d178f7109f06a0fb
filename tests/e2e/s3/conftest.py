"""The session's S3 server (``tests/s3.py``) and a fresh prefix of its bucket for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.s3 import SeaweedFS, start_seaweedfs

BUCKET = "models"


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedFS]:
    try:
        server = start_seaweedfs((BUCKET,))
    except RuntimeError as e:
        pytest.fail(str(e))
    yield server
    server.stop()


@pytest.fixture
def s3_url(seaweed: SeaweedFS) -> str:
    """``s3://models/<new prefix>``: a store of its own for each test, on the session's server."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
