from __future__ import annotations

from collections.abc import Iterator

import pytest

from picohub_release.build import Build
from picohub_release.repository import Repository
from picohub_release.signing import Signer
from tests.conftest import need_tools
from tests.integration.repo_fixtures import make_repository, make_signer, stop_agents


@pytest.fixture(scope="session", autouse=True)
def _no_gpg_agents_left_behind() -> Iterator[None]:
    yield
    stop_agents()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    """A throwaway release key for this module's repositories."""
    need_tools("gpg", "gpgv")
    return make_signer(tmp_path_factory.mktemp("key") / "gnupg")


@pytest.fixture(scope="module")
def repository(
    release_a: Build, signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Repository:
    """Release A as a signed flat repository."""
    return make_repository(release_a, tmp_path_factory.mktemp("repo") / "repo", signer)
