"""What the client tests share: the servers run.sh started (their ports in the environment) and
the emulator's SQLite file, the oracle every answer is compared with."""

import os
import sqlite3

import psycopg
import pytest

MANAGER = ("manager", "Epicor123!")
PLANNER03 = ("planner03", "Planner03!")


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run these tests through tests/clients/run.sh", 2)
    return value


@pytest.fixture(scope="session")
def port():
    """The server whose connection names Company=EPIC06."""
    return int(_env("KINETIC_PG_PORT"))


@pytest.fixture(scope="session")
def own_company_port():
    """The server whose connection names no company: each user works in their own."""
    return int(_env("KINETIC_PG_OWN_COMPANY_PORT"))


def _compare_ci(a, b):
    # Epicor's (SQL Server's) default collation, as the emulator's EPICOR_CI: case and
    # trailing spaces ignored.
    a, b = a.rstrip(" ").casefold(), b.rstrip(" ").casefold()
    return (a > b) - (a < b)


@pytest.fixture(scope="session")
def sqlite():
    """The emulator's database, read-only."""
    db = sqlite3.connect(f"file:{_env('KINETIC_EMULATOR_DB')}?mode=ro", uri=True)
    db.create_collation("EPICOR_CI", _compare_ci)
    yield db
    db.close()


def connect(port, user=MANAGER, **kwargs):
    """A psycopg connection to the server on `port` (never waits long: nothing may hang CI)."""
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        dbname="kinetic",
        user=user[0],
        password=user[1],
        connect_timeout=10,
        **kwargs,
    )


@pytest.fixture
def conn(port):
    with connect(port) as c:
        yield c
