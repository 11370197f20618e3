"""The emulator, started from Python (as users start it for their own tests), shared by the
session's tests; each test opens its own connections."""

import pytest

import epicor_kinetic
from epicor_kinetic import emulator


@pytest.fixture(scope="session")
def emu():
    with emulator.start(scale=2000, request_log=50_000) as e:
        yield e


@pytest.fixture(scope="session")
def basic(emu):
    return emu.connection_string("basic")


@pytest.fixture
def conn(basic):
    with epicor_kinetic.connect(basic) as c:
        yield c


@pytest.fixture
def cur(conn):
    with conn.cursor() as c:
        yield c
