"""The transport tests' certificate holder, the page's files, and a renewed certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.transport import Site, TlsCertificates
from adapters.web import load_site
from tests.pki import Pki, write_pair


@pytest.fixture(scope="session")
def certificates(pki: Pki) -> TlsCertificates:
    return TlsCertificates(str(pki.cert_file), str(pki.key_file))


@pytest.fixture(scope="session")
def site() -> Site:
    return load_site()


@pytest.fixture
def fresh_pair(pki: Pki, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A second certificate for ``localhost`` from the same CA, in files a test may rewrite."""
    yield write_pair(pki.ca, tmp_path, "renewed")
