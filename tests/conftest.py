"""Spreading the suite over pytest-xdist workers (`make test` runs `pytest -n ...`).

A test file runs whole on one worker, in file order (as with `--dist loadfile`), so module-scoped
fixtures and tests that build on the one before keep working as written. The files in SPREAD are
the exception: each of their tests starts its own sandbox and depends on no other, so each test
goes to whichever worker is free; these are the long end-to-end files that would otherwise leave a
core idle at the end of the run. Add a file here only when that is true of every test in it.

The scheduler is our own (the `pytest_xdist_make_scheduler` hook) because xdist's `loadgroup`
does not see `xdist_group` marks under pytest 9: it renames `item._nodeid`, which pytest 9 no
longer reads.
"""

from __future__ import annotations

from typing import Any

SPREAD = frozenset(
    f"tests/sandbox/{name}.py"
    for name in (
        "test_concurrency_sandbox",
        "test_deployment_sandbox",
        "test_faults",
        "test_gen1_nifi_sandbox",
        "test_power_sandbox",
        "test_provision_sandbox",
        "test_secrets_never_leak",
    )
)


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    # hand out work in collection order, the long sandbox tests first and the many quick unit
    # files after them to fill the gaps (xdist's default puts the scopes with the most tests first)
    config.option.loadscopereorder = False

    class FileOrTestScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.partition("::")[0]
            return nodeid if path in SPREAD else path

    return FileOrTestScheduling(config, log)
