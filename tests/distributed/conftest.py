"""The ``namespaced_hosts`` fixture: hosts with their own addresses (network namespaces), removed afterwards."""

from __future__ import annotations

import os

import pytest

from tests.support.netns import NamespacedHosts, NamespacesUnavailable


@pytest.fixture
def namespaced_hosts():
    """``make(count)`` returns a created :class:`NamespacedHosts`; every one is removed after the test, also
    when it fails. Where namespaces cannot be made (no root, no ``ip``) the test is skipped with the reason,
    except under CI (``CI`` set), which must run it."""
    made: list[NamespacedHosts] = []

    def make(count: int) -> NamespacedHosts:
        hosts = NamespacedHosts(count)
        try:
            hosts.create()
        except NamespacesUnavailable as err:
            if os.environ.get("CI"):
                pytest.fail(f"CI must run the multi-host test, but {err}")
            pytest.skip(str(err))
        made.append(hosts)
        return hosts

    yield make
    for hosts in made:
        hosts.remove()
