"""Arrow out: the PyCapsule stream read by pyarrow, polars, pandas and DuckDB; types kept
(decimals stay decimals)."""

import datetime as dt
import decimal
import subprocess
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import epicor_kinetic as ek

QUERY = (
    "SELECT CustNum, CustID, CreditLimit, CreditHold, EstDate, SysRowID "
    "FROM Customers ORDER BY CustNum"
)


def expected_types():
    return [
        pa.int32(),
        pa.string(),
        pa.decimal128(17, 3),
        pa.bool_(),
        pa.timestamp("us", tz="UTC"),
        pa.string(),
    ]


def test_pyarrow_reads_the_capsule(cur):
    cur.execute(QUERY)
    assert hasattr(cur, "__arrow_c_stream__")
    table = pa.table(cur)
    assert [f.type for f in table.schema] == expected_types()
    assert table.num_rows == cur.connection.cursor().execute("SELECT COUNT(*) FROM Customers").fetchone()[0] > 0
    # The metadata of $metadata rides along.
    assert table.schema.field("SysRowID").metadata[b"edm_type"] == b"Edm.Guid"
    # The cursor is exhausted: its rows went to Arrow, which counts them (rowcount says -1,
    # not the 0 tuples fetched).
    assert cur.fetchall() == []
    assert cur.rowcount == -1


def test_arrow_rows_equal_dbapi_rows(conn):
    a = conn.cursor().execute(QUERY).fetch_arrow_table()
    rows = conn.cursor().execute(QUERY).fetchall()
    assert a.num_rows == len(rows)
    limits = a.column("CreditLimit").to_pylist()
    assert limits == [r[2] for r in rows]
    assert all(isinstance(v, decimal.Decimal) for v in limits)
    assert a.column("EstDate").to_pylist() == [r[4] for r in rows]


def test_the_rest_of_a_partly_fetched_result(conn):
    cur = conn.cursor().execute(QUERY)
    first = cur.fetchmany(5)
    table = cur.fetch_arrow_table()
    everything = conn.cursor().execute(QUERY).fetchall()
    assert len(first) + table.num_rows == len(everything)
    assert table.column("CustNum").to_pylist() == [r[0] for r in everything[5:]]


def test_record_batches_stream(cur):
    cur.execute("SELECT OrderNum, OrderLine, DocExtPriceDtl FROM OrderDtls")
    reader = cur.fetch_record_batches()
    assert isinstance(reader, pa.RecordBatchReader)
    sizes = [b.num_rows for b in reader]
    n = sum(sizes)
    # The server's 100-row pages arrive joined into larger batches.
    assert max(sizes) > 100, sizes
    assert n == cur.connection.cursor().execute("SELECT COUNT(*) FROM OrderDtls").fetchone()[0] > 0


def test_sum_in_arrow_equals_sqlite_to_the_cent(emu, cur):
    cur.execute("SELECT DocExtPriceDtl FROM OrderDtls")
    total = sum(cur.fetch_arrow_table().column(0).to_pylist())
    # The emulator's own store, the lines of the connection's company, summed exactly. Read in
    # another process: two SQLite libraries in one process (Python's and the emulator's) break
    # each other's POSIX locks on the same file. The emulator's text columns compare as SQL
    # Server's do, by its collation EPICOR_CI (case and trailing spaces ignored): the reader
    # registers it to open them.
    code = (
        "import sqlite3, sys\n"
        "def ci(a, b):\n"
        "    a, b = a.rstrip(' ').casefold(), b.rstrip(' ').casefold()\n"
        "    return (a > b) - (a < b)\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        "db.create_collation('EPICOR_CI', ci)\n"
        "for (v,) in db.execute('SELECT DocExtPriceDtl FROM OrderDtl WHERE Company = ?', [sys.argv[2]]):\n"
        "    print(v)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, emu.info["db"], emu.info["company"]],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    expected = sum(decimal.Decimal(v) for v in out)
    assert len(out) > 0
    assert total == expected


def test_pandas(cur):
    cur.execute(QUERY)
    df = cur.fetch_df()
    assert isinstance(df, pd.DataFrame)
    assert isinstance(df["CreditLimit"].iloc[0], decimal.Decimal)
    assert str(df["EstDate"].dtype).startswith("datetime64") and "UTC" in str(df["EstDate"].dtype)
    assert df["CustNum"].dtype.kind == "i"


def test_polars_reads_the_cursor(cur):
    cur.execute(QUERY)
    df = pl.DataFrame(cur)
    assert df.schema["CreditLimit"] == pl.Decimal(17, 3)
    assert df.schema["EstDate"] == pl.Datetime("us", "UTC")
    assert isinstance(df["CreditLimit"][0], decimal.Decimal)


def test_duckdb_reads_the_cursor(cur):
    cur.execute("SELECT CustNum, CreditLimit FROM Customers")
    reader = cur.fetch_record_batches()
    con = duckdb.connect()
    total = con.execute("SELECT SUM(CreditLimit), COUNT(*) FROM reader").fetchone()
    assert isinstance(total[0], decimal.Decimal) and total[1] > 0


def test_arrow_without_a_result_set(cur):
    cur.execute("UPDATE Customers SET Name = Name WHERE CustNum = -1")
    with pytest.raises(ek.ProgrammingError, match="no result set"):
        pa.table(cur)
