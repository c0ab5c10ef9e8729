"""Sandbox fixtures: a fresh sandbox per test, always stopped (also when the test fails)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openflow_sandbox.environment import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb
