from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.repo_fixtures import stop_agents


@pytest.fixture(scope="session", autouse=True)
def _no_gpg_agents_left_behind() -> Iterator[None]:
    yield
    stop_agents()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)
