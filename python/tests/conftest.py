"""Fixtures: unique ring names (removed afterwards), and the programs the tests talk to."""
import itertools
import os
import pathlib

import pytest

import shmpipe

ROOT = pathlib.Path(__file__).resolve().parents[2]
_counter = itertools.count()


@pytest.fixture
def name(request):
    """A ring name no other test (or test run) uses; removed if the test leaves it behind."""
    n = f"pytest-{os.getpid()}-{next(_counter)}-{request.node.name[:40]}"
    n = "".join(c if c.isalnum() or c in "-_." else "_" for c in n)
    yield n
    try:
        shmpipe.remove(n)
    except shmpipe.NotFound:
        pass


def _program(env, default):
    path = pathlib.Path(os.environ.get(env, default))
    if not path.exists():
        if os.environ.get("SHMPIPE_REQUIRE_PROGRAMS"):  # set by python/tests/run.sh
            pytest.fail(f"{path} is not built")
        pytest.skip(f"{path} is not built (set {env}, or build it: see python/README.md)")
    return str(path)


@pytest.fixture
def cli():
    """The Rust `shmpipe` command."""
    return _program("SHMPIPE_CLI", ROOT / "target" / "debug" / "shmpipe")


@pytest.fixture
def c_bin():
    """The directory of the C programs `make -C shmpipe-c` builds."""
    path = pathlib.Path(_program("SHMPIPE_C_BIN", ROOT / "target" / "c"))
    return path
