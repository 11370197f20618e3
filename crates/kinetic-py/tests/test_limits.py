"""The SQL bounds a service that runs its users' SQL sets (issue 26): each attack of the review
stops with OperationalError (kind "limit") naming the property, when the statement runs or
when its rows are read (as PEP 249 allows), and the credential procedures can be turned off."""

import time

import pytest

import epicor_kinetic


def test_memory_limit_stops_a_value_too_large(basic):
    with epicor_kinetic.connect(basic, MemoryLimit=64) as conn:
        cur = conn.cursor()
        with pytest.raises(epicor_kinetic.OperationalError) as e:
            cur.execute("SELECT length(repeat('a', 2000000000))").fetchall()
        assert e.value.kind == "limit"
        assert "MemoryLimit" in str(e.value)
        # Within the bound the same connection answers.
        assert cur.execute("SELECT length(repeat('a', 1000))").fetchone() == (1000,)


def test_statement_timeout_stops_a_cross_join(basic):
    with epicor_kinetic.connect(basic, StatementTimeout=1) as conn:
        cur = conn.cursor()
        started = time.monotonic()
        with pytest.raises(epicor_kinetic.OperationalError) as e:
            cur.execute(
                "SELECT sum(a.OrderLine * b.OrderLine * c.OrderLine * d.OrderLine)"
                " FROM OrderDtls a CROSS JOIN OrderDtls b CROSS JOIN OrderDtls c CROSS JOIN OrderDtls d"
            )
            cur.fetchall()
        took = time.monotonic() - started
        assert e.value.kind == "limit"
        assert "StatementTimeout" in str(e.value)
        assert took < 5, f"a 1 s timeout stopped the statement after {took:.1f} s"


def test_recursion_is_capped(conn):
    cur = conn.cursor()
    with pytest.raises(epicor_kinetic.OperationalError) as e:
        cur.execute(
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"
        ).fetchall()
    assert e.value.kind == "limit"
    assert "MaxRecursion" in str(e.value)


def test_credential_procedures_can_be_turned_off(basic):
    with epicor_kinetic.connect(basic, CredentialProcedures=False) as conn:
        with pytest.raises(epicor_kinetic.ProgrammingError) as e:
            conn.cursor().callproc("RefreshOAuthAccessToken")
        assert "CredentialProcedures=false" in str(e.value)
