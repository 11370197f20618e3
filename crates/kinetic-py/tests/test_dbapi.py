"""PEP 249, point by point, against the emulator."""

import datetime as dt
import decimal
import threading
import time
import urllib.parse
import uuid

import pytest

import epicor_kinetic as ek


# -- module interface ---------------------------------------------------------------------
def test_module_globals():
    assert ek.apilevel == "2.0"
    assert ek.threadsafety == 2
    assert ek.paramstyle == "qmark"
    assert isinstance(ek.__version__, str) and ek.__version__


def test_exception_hierarchy_is_peps():
    assert issubclass(ek.Warning, Exception)
    assert issubclass(ek.Error, Exception)
    assert not issubclass(ek.Warning, ek.Error)
    assert issubclass(ek.InterfaceError, ek.Error)
    assert issubclass(ek.DatabaseError, ek.Error)
    for sub in (
        ek.DataError,
        ek.OperationalError,
        ek.IntegrityError,
        ek.InternalError,
        ek.ProgrammingError,
        ek.NotSupportedError,
    ):
        assert issubclass(sub, ek.DatabaseError), sub
        assert not issubclass(sub, ek.InterfaceError), sub
    # The PEP's optional extension: the classes as attributes of the connection class.
    assert ek.Connection.ProgrammingError is ek.ProgrammingError


def test_type_objects_and_constructors():
    assert ek.STRING == str and ek.STRING == uuid.UUID
    assert ek.NUMBER == decimal.Decimal and ek.NUMBER == int and ek.NUMBER != str
    assert ek.DATETIME == dt.datetime and ek.DATETIME == dt.date
    assert ek.BINARY == bytes
    assert ek.Date(2024, 2, 29) == dt.date(2024, 2, 29)
    assert ek.Timestamp(2024, 1, 2, 3, 4, 5) == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert ek.Time(1, 2, 3) == dt.time(1, 2, 3)
    assert ek.Binary(b"x") == b"x"
    assert isinstance(ek.DateFromTicks(0), dt.date)
    assert isinstance(ek.TimeFromTicks(0), dt.time)
    assert isinstance(ek.TimestampFromTicks(0), dt.datetime)


# -- connect ------------------------------------------------------------------------------
def test_connect_merges_keywords_over_the_string(emu, basic):
    # The string's wrong password is replaced by the keyword's (any case of the name).
    wrong = basic.replace("Password=Epicor123!", "Password=wrong")
    assert wrong != basic
    with ek.connect(wrong, password="Epicor123!") as c:
        assert c.execute("SELECT COUNT(*) FROM Customers").fetchone()[0] > 0
    # Keywords alone.
    with ek.connect(
        URL=emu.url, ERPInstance="Kinetic", User="manager", Password="Epicor123!", Company="EPIC06"
    ) as c:
        assert c.execute("SELECT 1 + 1").fetchone() == (2,)


def test_bad_connection_properties_are_interface_errors(basic):
    with pytest.raises(ek.InterfaceError) as e:
        ek.connect(basic, Pasword="x")
    assert "did you mean `Password`" in str(e.value)
    assert e.value.kind == "invalid_settings"
    with pytest.raises(ek.InterfaceError, match="Timeout"):
        ek.connect(basic + ";Timeout=soon")
    with pytest.raises(ek.InterfaceError):
        ek.connect(basic, Timeout=object())


def test_repr_and_errors_never_show_the_password(emu, basic):
    with ek.connect(basic) as c:
        assert "Epicor123!" not in repr(c)
        assert "manager" in repr(c)
    # A URL carrying credentials is refused, without repeating them.
    with pytest.raises(ek.InterfaceError) as e:
        ek.connect(f"URL=http://u:pw-in-url@127.0.0.1:1;ERPInstance=Kinetic;User=a;Password=b")
    assert "pw-in-url" not in str(e.value)
    secret = "S3cret-never-shown"
    with pytest.raises(ek.OperationalError) as e:
        ek.connect(basic, Password=secret).execute("SELECT COUNT(*) FROM Customers")
    assert e.value.kind == "unauthorized" and e.value.status == 401
    assert secret not in str(e.value) and secret not in repr(e.value)


# -- cursor: description, fetching --------------------------------------------------------
def test_description_and_python_types(cur):
    cur.execute(
        "SELECT CustNum, CustID, CreditLimit, CreditHold, EstDate, SysRowID, SysRevID "
        "FROM Customers ORDER BY CustNum LIMIT 3"
    )
    d = cur.description
    assert [c[0] for c in d] == [
        "CustNum", "CustID", "CreditLimit", "CreditHold", "EstDate", "SysRowID", "SysRevID",
    ]
    assert all(len(c) == 7 for c in d)
    types = [c[1] for c in d]
    assert types == [int, str, decimal.Decimal, bool, dt.datetime, uuid.UUID, int]
    assert d[2][4:6] == (17, 3)  # precision, scale from $metadata
    assert d[0][1] == ek.NUMBER and d[1][1] == ek.STRING and d[4][1] == ek.DATETIME
    row = cur.fetchone()
    assert isinstance(row, tuple)
    num, cust_id, limit, hold, est, rowid, rev = row
    assert isinstance(num, int) and isinstance(cust_id, str)
    assert isinstance(limit, decimal.Decimal) and limit.as_tuple().exponent == -3
    assert isinstance(hold, bool)
    assert isinstance(est, dt.datetime) and est.tzinfo is not None
    assert est.utcoffset() == dt.timedelta(0)
    assert isinstance(rowid, uuid.UUID)
    assert isinstance(rev, int)


def test_description_sizes_and_null_ok(cur):
    # Sizes, precision and scale by type, as sys_tablecolumns gives them (ODBC's column and
    # display sizes); null_ok whether the result may hold None. (See the module's docstring.)
    cur.execute(
        "SELECT CustNum, CustID, CreditLimit, CreditHold, EstDate, SysRowID, SysRevID "
        "FROM Customers ORDER BY CustNum LIMIT 1"
    )
    table_columns = {c[0]: c[2:] for c in cur.description}
    assert table_columns == {
        #              display internal precision scale null_ok
        "CustNum":     (11,    10,      10,       0,    True),
        "CustID":      (None,  None,    None,     None, True),  # text: MaxLength is not in a result
        "CreditLimit": (19,    17,      17,       3,    True),  # Edm.Decimal(17, 3)
        "CreditHold":  (5,     1,       None,     None, True),
        "EstDate":     (26,    26,      None,     None, True),
        "SysRowID":    (36,    36,      None,     None, True),  # a GUID's text
        "SysRevID":    (20,    19,      19,       0,    True),  # Edm.Int64
    }
    cur.fetchall()
    # The same numbers as the system table, for every column that is not text.
    cur.execute(
        "SELECT ColumnName, DisplaySize, Length, NumericPrecision, NumericScale "
        "FROM sys_tablecolumns WHERE SchemaName = 'Erp.BO.CustomerSvc' AND TableName = 'Customers' "
        "AND ColumnName IN ('CustNum', 'CreditLimit', 'CreditHold', 'EstDate', 'SysRevID')"
    )
    system = {name: tuple(rest) for name, *rest in cur.fetchall()}
    assert system == {name: table_columns[name][:4] for name in system} and len(system) == 5
    # Computed columns: COUNT(*) and values that are not None cannot be null; SUM can.
    cur.execute(
        "SELECT COUNT(*) AS n, SUM(CreditLimit) AS total, ? AS label, ? AS nothing, ? AS t, "
        "? AS f FROM Customers",
        ["x", None, dt.time(1, 2, 3), 1.5],
    )
    assert [c[1:] for c in cur.description] == [
        (int, 20, 19, 19, 0, False),
        (decimal.Decimal, 29, 27, 27, 3, True),  # DataFusion's SUM: 10 more digits
        (str, None, None, None, None, False),
        (type(None), None, None, None, None, True),
        (dt.time, 15, 15, None, None, False),
        (float, 24, 15, 15, None, False),
    ]


def test_fetchone_fetchmany_fetchall_and_iteration(cur):
    cur.execute("SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 10")
    assert cur.arraysize == 1
    first = cur.fetchone()
    assert len(cur.fetchmany()) == 1  # arraysize
    cur.arraysize = 3
    assert len(cur.fetchmany()) == 3
    assert len(cur.fetchmany(2)) == 2
    rest = cur.fetchall()
    assert len(rest) == 3
    assert cur.fetchone() is None and cur.fetchall() == [] and cur.fetchmany(5) == []
    assert cur.rowcount == 10
    cur.execute("SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 10")
    assert cur.rowcount == -1  # not known before the rows are
    nums = [r[0] for r in cur]
    assert nums[0] == first[0] and len(nums) == 10 and nums == sorted(nums)


def test_rows_match_the_aggregate_to_the_cent(cur):
    cur.execute("SELECT DocExtPriceDtl FROM OrderDtls")
    total = sum(r[0] for r in cur.fetchall())
    cur.execute("SELECT SUM(DocExtPriceDtl), COUNT(*) FROM OrderDtls")
    s, n = cur.fetchone()
    assert isinstance(s, decimal.Decimal) and n > 0
    assert total == s


def test_no_result_set_is_a_programming_error(cur):
    with pytest.raises(ek.ProgrammingError, match="no result set"):
        cur.fetchone()


def test_closed_cursor_and_connection(basic):
    c = ek.connect(basic)
    cur = c.cursor()
    cur.close()
    cur.close()  # idempotent
    with pytest.raises(ek.InterfaceError, match="cursor is closed"):
        cur.execute("SELECT 1")
    other = c.cursor()
    c.commit()
    with pytest.raises(ek.NotSupportedError, match="no transactions"):
        c.rollback()
    c.close()
    c.close()
    assert c.closed
    # Closing the connection closed its cursors.
    assert other.closed
    with pytest.raises(ek.InterfaceError, match="cursor is closed"):
        other.execute("SELECT 1")
    with pytest.raises(ek.InterfaceError):
        c.cursor()


def test_setinputsizes_and_setoutputsize_are_accepted(cur):
    cur.setinputsizes([10])
    cur.setoutputsize(100)
    cur.setoutputsize(100, 0)


# -- parameters ---------------------------------------------------------------------------
HOSTILE = [
    "x' OR '1'='1",
    "'; DELETE FROM Customers; --",
    "a\\'b",
    "\" OR \"\"=\"",
    "?",
    "$1",
    "Ω≈ç√ 東京 🚀",
    "line\nbreak\ttab",
    "x\x00y",
    "' UNION SELECT Password FROM Users --",
]


def test_parameters_are_values_never_sql(cur):
    for text in HOSTILE:
        cur.execute("SELECT COUNT(*) FROM Customers WHERE Name = ?", [text])
        assert cur.fetchone() == (0,), text
        cur.execute("SELECT ? AS v", (text,))
        assert cur.fetchone() == (text,), text
    cur.execute("SELECT COUNT(*) FROM Customers")
    assert cur.fetchone()[0] > 0  # nothing was deleted


def test_hostile_strings_round_trip_through_writes(cur):
    cur.execute("SELECT MAX(CustNum) FROM Customers")
    base = cur.fetchone()[0] + 1000
    names = [t for t in HOSTILE if "\x00" not in t]
    rows = [("EPIC06", base + i, f"HOST{i}", name) for i, name in enumerate(names)]
    cur.executemany(
        "INSERT INTO Customers (Company, CustNum, CustID, Name) VALUES (?, ?, ?, ?)", rows
    )
    assert cur.rowcount == len(rows)
    for company, num, cust_id, name in rows:
        cur.execute("SELECT CustNum, Name FROM Customers WHERE Name = ? AND CustNum = ?", [name, num])
        assert cur.fetchall() == [(num, name)]
    cur.execute(
        "UPDATE Customers SET Name = ? WHERE CustNum = ?", ["It's \"quoted\"; -- fine", base]
    )
    assert cur.rowcount == 1 and cur.description is None
    cur.execute("SELECT Name FROM Customers WHERE CustNum = ?", [base])
    assert cur.fetchone() == ("It's \"quoted\"; -- fine",)
    cur.execute("DELETE FROM Customers WHERE CustNum >= ? AND CustID LIKE ?", [base, "HOST%"])
    assert cur.rowcount == len(rows)


def test_parameter_types(cur):
    cur.execute(
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?",
        [
            None,
            True,
            42,
            2**70,
            1.5,
            decimal.Decimal("1234.50"),
            dt.date(2024, 2, 29),
            dt.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
        ],
    )
    row = cur.fetchone()
    assert row[0] is None and row[1] is True and row[2] == 42
    assert row[3] == decimal.Decimal(2**70)
    assert row[4] == 1.5
    assert row[5] == decimal.Decimal("1234.50") and isinstance(row[5], decimal.Decimal)
    assert row[6] == dt.date(2024, 2, 29)
    # An aware datetime is bound as its instant.
    assert row[7].replace(tzinfo=None) == dt.datetime(2024, 1, 2, 1, 4, 5, 600000)
    assert row[8] == "12345678-1234-5678-1234-567812345678"
    # A decimal compares exactly with a decimal column; a date with a timestamp column.
    cur.execute("SELECT CustNum, CreditLimit FROM Customers ORDER BY CustNum LIMIT 1")
    num, limit = cur.fetchone()
    cur.execute("SELECT CustNum FROM Customers WHERE CreditLimit = ? AND CustNum = ?", [limit, num])
    assert cur.fetchall() == [(num,)]
    cur.execute("SELECT COUNT(*) FROM Customers WHERE EstDate >= ?", [dt.date(1900, 1, 1)])
    assert cur.fetchone()[0] > 0


def test_parameter_mistakes(cur):
    with pytest.raises(ek.ProgrammingError, match="2 parameter markers"):
        cur.execute("SELECT ?, ?", [1])
    with pytest.raises(ek.ProgrammingError, match="0 parameter markers"):
        cur.execute("SELECT 1", [1])
    with pytest.raises(ek.ProgrammingError, match="qmark"):
        cur.execute("SELECT :x", {"x": 1})
    # PostgreSQL's numbered markers bind too (by number), as the SQL layer reads them.
    cur.execute("SELECT $2 AS b, $1 AS a", [1, 2])
    assert cur.fetchone() == (2, 1)
    with pytest.raises(ek.ProgrammingError, match="sequence"):
        cur.execute("SELECT ?", "abc")
    with pytest.raises(ek.NotSupportedError, match="bytes"):
        cur.execute("SELECT ?", [b"\x00"])
    with pytest.raises(ek.DataError, match="NaN"):
        cur.execute("SELECT ?", [decimal.Decimal("NaN")])
    # The cursor still works.
    cur.execute("SELECT ?", ["ok"])
    assert cur.fetchone() == ("ok",)


def test_time_parameters(cur):
    # A datetime.time is a SQL TIME, to the microsecond, and comes back a datetime.time.
    cur.execute(
        "SELECT ? AS t, CAST(? AS VARCHAR) AS text, ? < ? AS earlier, ? AS last",
        [dt.time(3, 4, 5, 600), dt.time(3, 4, 5, 600), dt.time(9, 0), dt.time(10, 0),
         dt.time(23, 59, 59, 999999)],
    )
    assert cur.fetchone() == (dt.time(3, 4, 5, 600), "03:04:05.000600", True, dt.time(23, 59, 59, 999999))
    assert cur.description[0][1] is dt.time and cur.description[0][1] == ek.DATETIME
    # With a time zone it is no instant (no date): refused, naming the parameter.
    with pytest.raises(ek.NotSupportedError, match="parameter 2: a time of day with a time zone"):
        cur.execute("SELECT ?, ?", [dt.time(1), dt.time(1, tzinfo=dt.timezone.utc)])


@pytest.fixture
def far_local_zone(monkeypatch):
    """The process's local time zone set to Kathmandu (UTC+05:45): a naive datetime read as
    local time would then be off by 5 h 45 min."""
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    time.tzset()
    assert time.localtime(1_700_000_000).tm_gmtoff == 5 * 3600 + 45 * 60
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_naive_datetime_is_utc(emu, cur, far_local_zone):
    cur.execute("SELECT MAX(CustNum) FROM Customers")
    num = cur.fetchone()[0] + 5000
    utc = dt.timezone.utc
    plus2 = dt.timezone(dt.timedelta(hours=2))
    cur.execute(
        "INSERT INTO Customers (Company, CustNum, CustID, Name, EstDate) VALUES ('EPIC06', ?, 'NAIVE', 'Naive', ?)",
        [num, dt.datetime(2021, 5, 6)],
    )
    try:
        # Written as midnight UTC, and read as that instant.
        cur.execute("SELECT EstDate FROM Customers WHERE CustNum = ?", [num])
        assert cur.fetchall() == [(dt.datetime(2021, 5, 6, tzinfo=utc),)]
        # A filter: the naive value is the UTC one, sent to the server with Z; an aware value
        # is its instant.
        for value, sent, found in [
            (dt.datetime(2021, 5, 6), "2021-05-06T00:00:00Z", [(num,)]),
            (dt.datetime(2021, 5, 6, 2, 0, tzinfo=plus2), "2021-05-06T00:00:00Z", [(num,)]),
            (dt.datetime(2021, 5, 6, 0, 0, tzinfo=plus2), "2021-05-05T22:00:00Z", []),
            (dt.datetime(2021, 5, 5, 22, 0), "2021-05-05T22:00:00Z", []),
        ]:
            emu.clear_requests()
            cur.execute("SELECT CustNum FROM Customers WHERE CustNum = ? AND EstDate = ?", [num, value])
            assert cur.fetchall() == found, value
            filters = [
                urllib.parse.unquote(u) for _, u, _ in emu.requests() if "/Customers?" in u
            ]
            assert filters and all(f"EstDate eq {sent}&" in f for f in filters), (value, filters)
        # Given back as given: naive, not shifted by the local zone.
        cur.execute("SELECT ? AS v", [dt.datetime(2024, 1, 2, 3, 4, 5, 600)])
        assert cur.fetchone() == (dt.datetime(2024, 1, 2, 3, 4, 5, 600),)
    finally:
        cur.execute("DELETE FROM Customers WHERE CustNum = ?", [num])
    assert cur.rowcount == 1


def test_nan_and_infinities_are_refused_before_anything_is_sent(emu, cur):
    cur.execute("SELECT MAX(CustNum) FROM Customers")
    num = cur.fetchone()[0] + 6000
    cur.execute(
        "INSERT INTO Customers (Company, CustNum, CustID, Name, CreditLimit) VALUES ('EPIC06', ?, 'NAN', 'NaN', ?)",
        [num, decimal.Decimal("250.500")],
    )
    try:
        bad = [
            float("nan"), float("inf"), float("-inf"),
            decimal.Decimal("NaN"), decimal.Decimal("sNaN"), decimal.Decimal("Infinity"),
            decimal.Decimal("-Infinity"),
        ]
        for value in bad:
            emu.clear_requests()
            # Compared here, NaN would order above every number: CustNum < nan for every row.
            with pytest.raises(ek.DataError, match="parameter 1: .*not a number"):
                cur.execute("SELECT COUNT(*) FROM Customers WHERE CustNum < ?", [value])
            with pytest.raises(ek.DataError, match="parameter 1: .*not a number"):
                cur.execute("UPDATE Customers SET CreditLimit = ? WHERE CustNum = ?", [value, num])
            with pytest.raises(ek.DataError, match="parameter 1: .*not a number"):
                cur.executemany("UPDATE Customers SET CreditLimit = ? WHERE CustNum = ?", [[value, num]])
            assert emu.requests() == [], value
        cur.execute("SELECT CreditLimit FROM Customers WHERE CustNum = ?", [num])
        assert cur.fetchall() == [(decimal.Decimal("250.500"),)]
        # Finite floats are values.
        cur.execute("SELECT CustNum FROM Customers WHERE CustNum = ? AND CreditLimit < ?", [num, 250.75])
        assert cur.fetchall() == [(num,)]
        cur.execute("SELECT CustNum FROM Customers WHERE CustNum = ? AND CreditLimit < ?", [num, 250.25])
        assert cur.fetchall() == []
    finally:
        cur.execute("DELETE FROM Customers WHERE CustNum = ?", [num])
    assert cur.rowcount == 1


# -- writes -------------------------------------------------------------------------------
def test_writes_report_rowcount_and_no_description(cur):
    cur.execute("SELECT MAX(CustNum) FROM Customers")
    num = cur.fetchone()[0] + 1
    cur.execute(
        "INSERT INTO Customers (Company, CustNum, CustID, Name, CreditLimit) VALUES (?, ?, ?, ?, ?)",
        ["EPIC06", num, "PYTEST", "Py Test", decimal.Decimal("100.125")],
    )
    assert cur.rowcount == 1 and cur.description is None
    with pytest.raises(ek.ProgrammingError, match="no result set"):
        cur.fetchall()
    cur.execute("UPDATE Customers SET CreditLimit = CreditLimit + ? WHERE CustNum = ?", [decimal.Decimal("0.875"), num])
    assert cur.rowcount == 1
    cur.execute("SELECT CreditLimit FROM Customers WHERE CustNum = ?", [num])
    assert cur.fetchone() == (decimal.Decimal("101.000"),)
    cur.execute("DELETE FROM Customers WHERE CustNum = ?", [num])
    assert cur.rowcount == 1
    cur.execute("DELETE FROM Customers WHERE CustNum = ?", [num])
    assert cur.rowcount == 0


def test_executemany_refuses_queries(cur):
    with pytest.raises(ek.ProgrammingError, match="executemany"):
        cur.executemany("SELECT ?", [[1], [2]])


def test_executemany_update_runs_each_row_in_order(cur):
    cur.execute("SELECT MAX(CustNum) FROM Customers")
    base = cur.fetchone()[0] + 3000
    cur.executemany(
        "INSERT INTO Customers (Company, CustNum, CustID, Name, CreditLimit) VALUES ('EPIC06', ?, ?, 'Before', 1)",
        [(base + i, f"MANY{i}") for i in range(3)],
    )
    assert cur.rowcount == 3
    try:
        cur.executemany(
            "UPDATE Customers SET Name = ?, CreditLimit = ? WHERE CustNum BETWEEN ? AND ?",
            [
                ("All", decimal.Decimal("10.5"), base, base + 2),  # 3 rows
                ("Last two", decimal.Decimal("20.25"), base + 1, base + 2),  # 2 rows, after
                ("Nobody", decimal.Decimal("1"), -5, -1),  # none
                ("Third", decimal.Decimal("30"), base + 2, base + 2),  # 1 row, last
            ],
        )
        # The rows written, summed: 3 + 2 + 0 + 1 (not the 4 statements run).
        assert cur.rowcount == 6 and cur.description is None
        cur.execute(
            "SELECT CustNum, Name, CreditLimit FROM Customers WHERE CustNum >= ? ORDER BY CustNum", [base]
        )
        assert cur.fetchall() == [
            (base, "All", decimal.Decimal("10.500")),
            (base + 1, "Last two", decimal.Decimal("20.250")),
            (base + 2, "Third", decimal.Decimal("30.000")),
        ]
    finally:
        cur.execute("DELETE FROM Customers WHERE CustNum >= ? AND CustID LIKE 'MANY%'", [base])
    assert cur.rowcount == 3


def test_executemany_with_no_rows_runs_nothing(emu, cur):
    # A result before: executemany lets it go, whatever it runs.
    cur.execute("SELECT CustNum FROM Customers ORDER BY CustNum LIMIT 3")
    assert len(cur.fetchall()) == 3 and cur.rowcount == 3
    emu.clear_requests()
    assert cur.executemany("UPDATE Customers SET Name = ? WHERE CustNum = ?", []) is cur
    assert cur.rowcount == 0 and cur.description is None
    with pytest.raises(ek.ProgrammingError, match="no result set"):
        cur.fetchone()
    # An empty iterator too; and nothing reached the server.
    cur.executemany("DELETE FROM Customers WHERE CustNum = ?", iter(()))
    assert cur.rowcount == 0
    assert emu.requests() == []
    with pytest.raises(ek.ProgrammingError, match="text"):
        cur.executemany(None, [])


# -- errors, mapped by fault ----------------------------------------------------------------
def test_errors_map_to_the_peps_classes(cur):
    with pytest.raises(ek.ProgrammingError) as e:
        cur.execute("SELEC 1")
    assert e.value.kind == "invalid"
    with pytest.raises(ek.ProgrammingError, match="NoSuchTable|not found|no table"):
        cur.execute("SELECT * FROM NoSuchTable")
    with pytest.raises(ek.ProgrammingError):
        cur.execute("SELECT NoSuchColumn FROM Customers")
    # A business rule is Epicor refusing the data: IntegrityError, not OperationalError.
    with pytest.raises(ek.IntegrityError) as e:
        cur.execute("UPDATE Customers SET CreditLimit = -1 WHERE CustNum = 1")
    assert e.value.kind == "rejected" and "cannot be negative" in str(e.value)
    assert not isinstance(e.value, ek.OperationalError)
    # A duplicate key.
    cur.execute("SELECT Company, CustNum, CustID FROM Customers ORDER BY CustNum LIMIT 1")
    company, num, cust_id = cur.fetchone()
    with pytest.raises(ek.IntegrityError, match="already exists"):
        cur.execute(
            "INSERT INTO Customers (Company, CustNum, CustID, Name) VALUES (?, ?, ?, 'dup')",
            [company, num, cust_id],
        )
    # A cast the statement asks for that the values cannot make: the statement's fault (as
    # `WHERE CustNum = 'abc'`), found while running.
    with pytest.raises(ek.ProgrammingError, match="[Cc]ast"):
        cur.execute("SELECT CAST(Name AS INT) FROM Customers").fetchall()
    # A value the engine cannot compute.
    with pytest.raises(ek.DataError, match="[Dd]ivide by zero"):
        cur.execute("SELECT CustNum / (CustNum - CustNum) FROM Customers").fetchall()
    # Writing what cannot be written, and what a session may not do.
    with pytest.raises(ek.ProgrammingError):
        cur.execute("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'")
    with pytest.raises(ek.ProgrammingError, match="only queries"):
        cur.execute("SET datafusion.execution.batch_size = 1")


def test_sign_in_failure_is_operational(emu):
    with ek.connect(emu.connection_string("basic"), Password="nope") as c:
        with pytest.raises(ek.OperationalError) as e:
            c.execute("SELECT COUNT(*) FROM Customers")
    assert e.value.kind == "unauthorized"


# -- procedures ---------------------------------------------------------------------------
def test_callproc_bo_method(cur):
    cur.execute("SELECT CustNum, CustID FROM Customers ORDER BY CustNum LIMIT 1")
    num, cust_id = cur.fetchone()
    for name in ("Erp.BO.CustomerSvc.GetByID", "CustomerSvc.GetByID"):
        params = {"custNum": num}
        assert cur.callproc(name, params) is params
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
        assert "returnObj" in names
        assert cust_id in row[names.index("returnObj")]


def test_callproc_epicor_function(emu):
    # Epicor Functions are served on the v2 API.
    with ek.connect(emu.connection_string("basic_v2")) as c:
        cur = c.cursor()
        cur.execute("SELECT CustID FROM Customers ORDER BY CustNum LIMIT 1")
        (cust_id,) = cur.fetchone()
        cur.callproc("efx.CustomerTools.GetCreditStatus", {"CustID": cust_id})
        row = cur.fetchone()
        assert row is not None and len(row) == len(cur.description) > 0
        assert [d[0] for d in cur.description][:2] == ["Found", "CreditHold"]
        assert row[0] == "true"
        with pytest.raises(ek.ProgrammingError) as e:
            cur.callproc("efx.CustomerTools.NoSuchFunction", {"CustID": cust_id})
        assert e.value.kind == "not_found" and e.value.status == 404


def test_callproc_oauth_procedure(emu):
    with ek.connect(emu.connection_string("azuread_code")) as c:
        cur = c.cursor()
        cur.callproc("GetOAuthAuthorizationURL", {"CallbackUrl": "http://localhost:33333"})
        (url,) = cur.fetchone()
        assert url.startswith(emu.url) and "code_challenge=" in url and "state=" in url


def test_callproc_refuses_names_that_are_not_names(cur):
    for bad in ("x; DROP", "a b", "", "1abc", 'q"uote'):
        with pytest.raises(ek.ProgrammingError, match="not a procedure name"):
            cur.callproc(bad)
    with pytest.raises(ek.ProgrammingError, match="not a parameter name"):
        cur.callproc("CustomerSvc.GetByID", {"x = 1; --": 1})


# -- threads ------------------------------------------------------------------------------
def test_threads_share_a_connection(conn):
    results = {}

    def work(i):
        c = conn.cursor()
        c.execute("SELECT COUNT(*) FROM Customers WHERE CustNum > ?", [i])
        results[i] = c.fetchone()[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert results[0] > results[5]


@pytest.mark.parametrize(
    "sql",
    [
        """SELECT * FROM BaqSvc.zCustomerList("$filter" => 'Customer_CustNum eq 1')""",
        """SELECT * FROM BaqSvc."zCustomerList($filter=Customer_CustNum eq 1)\"""",
    ],
)
def test_baq_parameter_names_cannot_add_query_options(emu, cur, sql):
    # Issue 26, finding 5: the statement's fault, and the server receives no `$filter`.
    emu.clear_requests()
    with pytest.raises(ek.ProgrammingError, match=r"\$filter"):
        cur.execute(sql)
    for _method, uri, _status in emu.requests():
        assert "/BaqSvc/z" not in uri, uri
        query = uri.partition("?")[2]
        names = [urllib.parse.unquote(p.partition("=")[0]) for p in query.split("&")]
        assert "$filter" not in names, uri
