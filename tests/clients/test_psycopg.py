"""psycopg 3 (libpq's protocol, as Python applications and BI tools' Python connectors use it)
against `kinetic serve`: parameters typed by the server (the extended protocol), exact
decimals, text and binary results, a server-side cursor, the read-only refusal, a wrong
password, and two users at once each in their own company. Every answer is compared with the
emulator's SQLite file."""

import datetime
from decimal import Decimal

import psycopg
import pytest

from conftest import MANAGER, PLANNER03, connect


def scale_of(conn, table, column):
    """A numeric column's scale, as the server's information_schema gives it."""
    row = conn.execute(
        "SELECT numeric_scale FROM information_schema.columns "
        "WHERE table_name = %s AND column_name = %s",
        (table, column),
    ).fetchone()
    assert row is not None and row[0] is not None, f"no scale for {table}.{column}"
    return int(row[0])


def exact(value, scale):
    """SQLite's REAL as the decimal of `scale` places it stands for."""
    return Decimal(f"{value:.{scale}f}")


def test_parameters_take_the_types_the_server_gives_them(conn, sqlite):
    name, limit = sqlite.execute(
        "SELECT Name, CreditLimit FROM Customer WHERE Company = 'EPIC06' AND CustNum = 5"
    ).fetchone()
    scale = scale_of(conn, "Customers", "CreditLimit")
    query = "SELECT CustNum, Name, CreditLimit FROM Customers WHERE CustNum = %s"
    # Once as psycopg sends any statement with parameters (Parse/Bind/Execute, unnamed), then
    # prepared on the server and run again by name.
    for prepare in (False, True, True):
        rows = conn.execute(query, (5,), prepare=prepare).fetchall()
        assert rows == [(5, name, exact(limit, scale))]
        assert isinstance(rows[0][2], Decimal)


def test_a_count_and_a_sum_are_exact(conn, sqlite):
    count, total = sqlite.execute(
        "SELECT COUNT(*), SUM(CreditLimit) FROM Customer WHERE Company = 'EPIC06'"
    ).fetchone()
    scale = scale_of(conn, "Customers", "CreditLimit")
    got = conn.execute("SELECT COUNT(*), SUM(CreditLimit) FROM Customers").fetchone()
    assert got[0] == count
    assert isinstance(got[1], Decimal), type(got[1])
    assert got[1] == exact(total, scale)


def test_a_text_parameter(conn, sqlite):
    cust_id, num = sqlite.execute(
        "SELECT CustID, CustNum FROM Customer WHERE Company = 'EPIC06' ORDER BY CustNum DESC LIMIT 1"
    ).fetchone()
    got = conn.execute("SELECT CustNum FROM Customers WHERE CustID = %s", (cust_id,)).fetchall()
    assert got == [(num,)]
    assert conn.execute(
        "SELECT CustNum FROM Customers WHERE CustID = %s", ("no such id",)
    ).fetchall() == []


def test_a_date_parameter(conn, sqlite):
    since = datetime.date(2024, 1, 1)
    (count,) = sqlite.execute(
        "SELECT COUNT(*) FROM OrderHed WHERE Company = 'EPIC06' AND OrderDate >= ?",
        (since.isoformat(),),
    ).fetchone()
    assert count > 0, "the demo data has orders since 2024"
    got = conn.execute(
        "SELECT COUNT(*) FROM SalesOrders WHERE OrderDate >= %s", (since,)
    ).fetchone()
    assert got == (count,)


def test_binary_results_equal_text_results_and_sqlite(conn, sqlite):
    query = (
        "SELECT CustNum, Name, CreditLimit, CreditHold, EstDate FROM Customers "
        "WHERE CustNum <= %s ORDER BY CustNum"
    )
    text = conn.execute(query, (10,)).fetchall()
    with conn.cursor(binary=True) as cur:
        binary = cur.execute(query, (10,)).fetchall()
        result = cur.pgresult
        assert result is not None
        assert [result.fformat(i) for i in range(result.nfields)] == [
            psycopg.pq.Format.BINARY
        ] * result.nfields, "every column came in binary"
    assert binary == text
    scale = scale_of(conn, "Customers", "CreditLimit")
    want = [
        (num, name, exact(limit, scale), bool(hold), datetime.date.fromisoformat(est))
        for num, name, limit, hold, est in sqlite.execute(
            "SELECT CustNum, Name, CreditLimit, CreditHold, EstDate FROM Customer "
            "WHERE Company = 'EPIC06' AND CustNum <= 10 ORDER BY CustNum"
        )
    ]
    got = [(n, name, limit, hold, est.date()) for n, name, limit, hold, est in binary]
    assert got == want


def test_a_write_is_refused_and_the_session_goes_on(conn):
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as refused:
        conn.execute("UPDATE Customers SET City = %s WHERE CustNum = %s", ("X", 1))
    assert "read-only" in str(refused.value)
    conn.rollback()
    assert conn.execute("SELECT 1 AS one").fetchone() == (1,)


def test_a_wrong_password_is_refused(port):
    with pytest.raises(psycopg.OperationalError) as refused:
        connect(port, ("manager", "not the password"))
    assert "password authentication failed" in str(refused.value)


def test_two_users_at_once_each_see_their_own_company(own_company_port, sqlite):
    with connect(own_company_port, MANAGER) as manager, connect(
        own_company_port, PLANNER03
    ) as planner:
        for c, company in ((manager, "EPIC06"), (planner, "EPIC03"), (manager, "EPIC06")):
            (count,) = sqlite.execute(
                "SELECT COUNT(*) FROM Customer WHERE Company = ?", (company,)
            ).fetchone()
            assert c.execute("SELECT DISTINCT Company FROM Customers").fetchall() == [
                (company,)
            ]
            assert c.execute("SELECT COUNT(*) FROM Customers").fetchone() == (count,)
