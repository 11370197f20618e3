"""PEP 249, point by point, against the emulator."""

import datetime as dt
import decimal
import threading
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
    with pytest.raises(ek.ProgrammingError, match="qmark"):
        cur.execute("SELECT $1", [1])
    with pytest.raises(ek.ProgrammingError, match="sequence"):
        cur.execute("SELECT ?", "abc")
    with pytest.raises(ek.NotSupportedError, match="bytes"):
        cur.execute("SELECT ?", [b"\x00"])
    with pytest.raises(ek.DataError, match="NaN"):
        cur.execute("SELECT ?", [decimal.Decimal("NaN")])
    # The cursor still works.
    cur.execute("SELECT ?", ["ok"])
    assert cur.fetchone() == ("ok",)


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
