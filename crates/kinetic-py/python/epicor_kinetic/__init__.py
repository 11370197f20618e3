"""Epicor Kinetic from Python: DB-API 2.0 (PEP 249), Arrow, pandas, polars and SQLAlchemy.

The reference connector's code switches with its import line::

    import epicor_kinetic as mod          # was: import cdata.epicorerp as mod
    conn = mod.connect("URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p;Company=EPIC06")
    cur = conn.cursor()
    cur.execute("SELECT CustID, Name, CreditLimit FROM Customers WHERE State = ?", ["MN"])
    for cust_id, name, credit_limit in cur:      # credit_limit is a decimal.Decimal
        ...

Every table of every service is there (``Erp.BO.CustomerSvc.Customers``, or ``Customers``);
filters, columns, ``LIMIT`` and ``ORDER BY`` are sent to Epicor as OData; joins and aggregates
run here. ``cur.fetch_arrow_table()``, ``cur.fetch_df()`` and the Arrow PyCapsule interface
(``polars.DataFrame(cur)``, ``pyarrow.table(cur)``, ``duckdb.arrow(cur)``) read results without a
copy. ``create_engine("kinetic:///?<properties>")`` is the SQLAlchemy dialect.

``paramstyle`` is ``qmark``: ``?`` markers, one value each, in order (PostgreSQL's ``$1``, ``$2``
are read too, by number); values are bound into the parsed statement, never pasted into its text. Parameter types: ``None``, ``bool``, ``int``,
``float``, ``decimal.Decimal``, ``str``, ``datetime.date``, ``datetime.datetime``,
``datetime.time`` and ``uuid.UUID``:

- an aware ``datetime`` is bound as its instant (in UTC); a naive one is taken as UTC, as the
  connector reads Epicor's own date-times (``Edm.DateTimeOffset``, sent without an offset): a
  filter on an Epicor column sends it with ``Z``, and ``SELECT ?`` gives it back naive;
- a ``datetime.time`` is a SQL ``TIME`` (read back as ``datetime.time``); one with a time zone
  raises ``NotSupportedError`` (without a date it is no instant);
- a float NaN, ``inf`` or ``-inf`` (and ``Decimal`` NaN or infinity) raises ``DataError``:
  Epicor's numbers are SQL Server decimals and integers, which have none, and compared here NaN
  would order above every number (``CustNum < nan`` true for every row);
- ``bytes`` raises ``NotSupportedError``.

``Cursor.description`` gives, per column, PEP 249's seven items::

    (name, type_code, display_size, internal_size, precision, scale, null_ok)

``type_code`` is the Python type of the values (it compares equal to ``STRING``, ``NUMBER``,
``DATETIME``, ``BINARY``). ``display_size``, ``internal_size``, ``precision`` and ``scale``
follow the column's type, as ``sys_tablecolumns`` gives them (``DisplaySize``, ``Length``,
``NumericPrecision``, ``NumericScale``; ODBC's column and display sizes):

============================  ============  =============  =========  =====
column                        display_size  internal_size  precision  scale
============================  ============  =============  =========  =====
``Edm.Int32`` (``int``)       11            10             10         0
``Edm.Int64``, ``COUNT(*)``   20            19             19         0
``Edm.Decimal`` (p, s)        p + 2         p              p          s
``Edm.Boolean``               5             1              None       None
a date                        10            10             None       None
a date-time                   26            26             None       None
a ``TIME``                    15            15             None       None
``Edm.Guid``                  36            36             None       None
a float (``DOUBLE``)          24            15             15         None
text                          None          None           None       None
============================  ============  =============  =========  =====

Text has no size there: ``$metadata``'s ``MaxLength`` does not travel with a result (ask
``sys_tablecolumns.Length``). ``null_ok`` is whether the column may hold ``None``: ``True`` for
a table's columns (Epicor sends nulls even where ``$metadata`` declares a column not nullable,
so the connector never promises otherwise; the declaration is ``sys_tablecolumns.IsNullable``),
``False`` for values that cannot be null (``COUNT(*)``, a literal, a parameter that is not
``None``).

``executemany(operation, seq)`` runs ``operation`` once per parameter sequence, in order, and
``rowcount`` is the total written. An empty ``seq`` runs nothing and sends nothing: the previous
result is let go (``description`` is ``None``) and ``rowcount`` is 0.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import time as _time
import uuid as _uuid
import weakref as _weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional

from . import _internal
from ._internal import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
)

__all__ = [
    "apilevel",
    "threadsafety",
    "paramstyle",
    "connect",
    "token",
    "Connection",
    "Cursor",
    "Warning",
    "Error",
    "InterfaceError",
    "DatabaseError",
    "DataError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
    "Date",
    "Time",
    "Timestamp",
    "DateFromTicks",
    "TimeFromTicks",
    "TimestampFromTicks",
    "Binary",
    "STRING",
    "BINARY",
    "NUMBER",
    "DATETIME",
    "ROWID",
]

__version__: str = _internal.__version__

#: PEP 249 level.
apilevel = "2.0"
#: Threads may share the module and connections, not cursors.
threadsafety = 2
#: ``?`` markers: ``cur.execute("... WHERE CustID = ?", ["ADDIS0001"])``.
paramstyle = "qmark"


def _property_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float, _decimal.Decimal)):
        return str(value)
    if hasattr(value, "__fspath__"):
        return str(value.__fspath__())
    raise InterfaceError(
        f"connection property {name}: a {type(value).__name__} is not a value (give text, a number, a bool or a path)"
    )


def _properties(properties: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k, _property_text(k, v)) for k, v in properties.items() if v is not None]


def connect(connection_string: Optional[str] = None, **properties: Any) -> "Connection":
    """Opens a connection.

    ``connection_string`` is the reference connector's (``URL=...;ERPInstance=...;User=...;
    Password=...``); keyword arguments set properties on top of it, by the same names
    (``connect("URL=...;ERPInstance=Kinetic", User="u", Password=pw)``), each replacing the
    string's value. A wrong name or value raises ``InterfaceError`` naming the property and what
    to set; nothing is sent before the first statement needs it.
    """
    if connection_string is not None and not isinstance(connection_string, str):
        raise InterfaceError("connect(): the connection string must be text")
    session = _internal.Session(connection_string or "", _properties(properties))
    return Connection(session)


def token(connection_string: Optional[str] = None, **properties: Any) -> str:
    """An access token for the connection string's sign-in, for code that calls Epicor's REST API
    itself (``Authorization: Bearer <token>``). With Basic, a token from Epicor's token service for
    the same user. The token cache and encrypted store of the settings are used: a new token is
    asked for only when the cached one nears expiry. Treat the result as a secret."""
    return _internal.access_token(connection_string or "", _properties(properties))


class Connection:
    """A connection (PEP 249). Safe to share between threads; each thread takes its own cursor.

    Epicor's REST API has no transactions: every write is applied when it is executed, so
    ``commit()`` has nothing to do and ``rollback()`` raises ``NotSupportedError``.
    """

    Warning = Warning
    Error = Error
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, session: "_internal.Session") -> None:
        self._session: Optional[_internal.Session] = session
        self._cursors: "_weakref.WeakSet[Cursor]" = _weakref.WeakSet()
        self._shown = session.shown

    def _open(self) -> "_internal.Session":
        if self._session is None:
            raise InterfaceError("the connection is closed")
        return self._session

    @property
    def closed(self) -> bool:
        return self._session is None

    def cursor(self) -> "Cursor":
        """A new cursor."""
        c = Cursor(self, self._open())
        self._cursors.add(c)
        return c

    def execute(self, operation: str, parameters: Optional[Sequence[Any]] = None) -> "Cursor":
        """A shortcut: a new cursor, with ``operation`` executed."""
        return self.cursor().execute(operation, parameters)

    def commit(self) -> None:
        """Nothing to do: each write was applied when it was executed."""
        self._open()

    def rollback(self) -> None:
        """Not supported: Epicor's REST API has no transactions."""
        self._open()
        raise NotSupportedError(
            "Epicor's REST API has no transactions: each write was applied when it was executed"
        )

    def close(self) -> None:
        """Closes the connection and its cursors (idempotent); an Epicor session (``UseSession``)
        is signed out."""
        session, self._session = self._session, None
        if session is None:
            return
        for c in list(self._cursors):
            c.close()
        session.close()

    def token(self) -> str:
        """The access token this connection uses (see :func:`token`)."""
        return self._open().access_token()

    def transfer(self) -> tuple[int, int]:
        """Rows the server has sent to this connection's queries, and the pages they came in."""
        return self._open().transfer()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._session is None else "open"
        return f"<epicor_kinetic.Connection ({state}) {self._shown}>"

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


_TYPE_CODES: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "decimal": _decimal.Decimal,
    "str": str,
    "uuid": _uuid.UUID,
    "date": _dt.date,
    "datetime": _dt.datetime,
    "time": _dt.time,
    "bytes": bytes,
    "none": type(None),
}

_SAFE_NAME = __import__("re").compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _procedure_name(name: str) -> str:
    """The procedure's name as EXEC takes it: a service's dotted name quoted
    (``Erp.BO.CustomerSvc.GetByID`` -> ``"Erp.BO.CustomerSvc".GetByID``)."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ProgrammingError(
            f"callproc: {name!r} is not a procedure name (letters, digits, _ and dots: GetOAuthAuthorizationURL, CustomerSvc.GetByID, Erp.BO.CustomerSvc.GetByID, efx.Library.Function)"
        )
    parts = name.split(".")
    if len(parts) > 2 and parts[0].lower() != "efx":
        return '"' + ".".join(parts[:-1]) + '".' + parts[-1]
    return name


class Cursor:
    """A cursor (PEP 249): runs statements and fetches their rows."""

    #: Rows ``fetchmany()`` returns by default.
    arraysize: int = 1

    def __init__(self, connection: Connection, session: "_internal.Session") -> None:
        self._connection: Optional[Connection] = connection
        self._session = session
        self._statement: Optional[_internal.Statement] = None
        self._description: Optional[list[tuple[Any, ...]]] = None
        self._rowcount = -1
        self._exhausted = False

    # -- PEP 249 attributes -------------------------------------------------------------
    @property
    def description(self) -> Optional[list[tuple[Any, ...]]]:
        """(name, type_code, display_size, internal_size, precision, scale, null_ok) per
        column; ``None`` after a statement without rows. ``type_code`` is the Python type of the
        values (``str``, ``int``, ``decimal.Decimal``, ``datetime.datetime``, ...): it compares
        equal to ``STRING``, ``NUMBER``, ``DATETIME``, ``BINARY``. Sizes, precision and scale
        follow the column's type (``None`` for text); ``null_ok`` is ``False`` only for values
        that cannot be null (see the module's documentation for the table)."""
        return self._description

    @property
    def rowcount(self) -> int:
        """Rows written by the last INSERT/UPDATE/DELETE; for a query, the rows fetched once
        all are; -1 before that."""
        if self._statement is not None and self._description is not None:
            fetched, done = self._statement.progress()
            return fetched if done else -1
        return self._rowcount

    @property
    def lastrowid(self) -> None:
        return None

    @property
    def connection(self) -> Optional[Connection]:
        return self._connection

    @property
    def closed(self) -> bool:
        return self._connection is None

    # -- running ------------------------------------------------------------------------
    def _check(self) -> None:
        if self._connection is None:
            raise InterfaceError("the cursor is closed")
        if self._connection.closed:
            raise InterfaceError("the connection is closed")

    def _finish(self) -> None:
        if self._statement is not None:
            self._statement.close()
        self._statement = None
        self._description = None
        self._rowcount = -1

    def execute(self, operation: str, parameters: Optional[Sequence[Any]] = None) -> "Cursor":
        """Runs one statement; ``parameters`` bind its ``?`` markers in order."""
        self._check()
        self._finish()
        if not isinstance(operation, str):
            raise ProgrammingError("execute(): the statement must be text")
        params = _parameters(parameters)
        statement = self._session.execute(operation, params)
        affected = statement.rows_affected
        if affected is not None:
            statement.close()
            self._rowcount = affected
            return self
        self._statement = statement
        self._description = [
            (name, _TYPE_CODES[kind], display, internal, precision, scale, null_ok)
            for name, kind, display, internal, precision, scale, null_ok in statement.columns()
        ]
        return self

    def executemany(self, operation: str, seq_of_parameters: Sequence[Sequence[Any]]) -> "Cursor":
        """Runs a writing statement once per parameter sequence, in order; ``rowcount`` is the
        total written. An empty sequence runs nothing (nothing is sent): the previous result is
        let go and ``rowcount`` is 0. A query raises ``ProgrammingError`` (use ``execute()``)."""
        self._check()
        if not isinstance(operation, str):
            raise ProgrammingError("executemany(): the statement must be text")
        self._finish()
        self._rowcount = 0
        total = 0
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)
            if self._description is not None:
                self._finish()
                raise ProgrammingError(
                    "executemany() runs INSERT, UPDATE or DELETE; use execute() for a query, callproc() for a procedure"
                )
            total += max(self._rowcount, 0)
        self._rowcount = total
        return self

    def callproc(self, procname: str, parameters: Any = ()) -> Any:
        """Runs a procedure: the OAuth procedures (``GetOAuthAuthorizationURL``,
        ``GetOAuthAccessToken``, ``RefreshOAuthAccessToken``), a BO method
        (``Erp.BO.CustomerSvc.GetByID`` or ``CustomerSvc.GetByID``) or an Epicor Function
        (``efx.Library.Function``). ``parameters`` is a sequence (by position) or a mapping (by
        name); its result is one row, read with ``fetchone()``. Returns ``parameters``
        unchanged (Epicor's answer is the row)."""
        self._check()
        name = _procedure_name(procname)
        if isinstance(parameters, Mapping):
            names = list(parameters.keys())
            for n in names:
                if not isinstance(n, str) or not _SAFE_NAME.match(n) or "." in n:
                    raise ProgrammingError(f"callproc: {n!r} is not a parameter name")
            args = ", ".join(f"@{n} = ?" for n in names)
            values: Sequence[Any] = [parameters[n] for n in names]
        else:
            values = _parameters(parameters)
            args = ", ".join("?" for _ in values)
        self.execute(f"EXEC {name} {args}".rstrip(), values)
        return parameters

    # -- fetching -----------------------------------------------------------------------
    def _result(self) -> "_internal.Statement":
        self._check()
        if self._statement is None:
            raise ProgrammingError("no result set: the last statement returned no rows (or none ran)")
        return self._statement

    def fetchone(self) -> Optional[tuple[Any, ...]]:
        rows = self._result().fetch(1)
        return rows[0] if rows else None

    def fetchmany(self, size: Optional[int] = None) -> list[tuple[Any, ...]]:
        n = self.arraysize if size is None else size
        if n < 0:
            raise ProgrammingError("fetchmany(): size must be 0 or more")
        return self._result().fetch(n)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._result().fetch(None)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self

    def __next__(self) -> tuple[Any, ...]:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    # -- Arrow --------------------------------------------------------------------------
    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The rest of the result as an Arrow C stream (the Arrow PyCapsule interface): read by
        ``pyarrow.table(cur)``, ``polars.DataFrame(cur)``, ``duckdb``, without a copy."""
        return self._result().arrow_stream(requested_schema)

    def fetch_record_batches(self) -> Any:
        """The rest of the result as a ``pyarrow.RecordBatchReader`` (streamed)."""
        import pyarrow as pa

        return pa.RecordBatchReader.from_stream(self)

    def fetch_arrow_table(self) -> Any:
        """The rest of the result as a ``pyarrow.Table``: decimals stay ``decimal128``, dates
        ``date32``, Epicor's instants ``timestamp[us, tz=UTC]``. (Read here first, so that Ctrl-C
        interrupts a long fetch.)"""
        import pyarrow as pa

        return pa.RecordBatchReader.from_stream(
            _Stream(self._result().arrow_stream(None, True))
        ).read_all()

    def fetch_df(self) -> Any:
        """The rest of the result as a pandas ``DataFrame`` (through Arrow: decimals stay
        ``decimal.Decimal`` objects, instants are UTC)."""
        return self.fetch_arrow_table().to_pandas()

    # -- the rest of PEP 249 ------------------------------------------------------------
    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass

    def close(self) -> None:
        """Closes the cursor (idempotent): its result is let go."""
        self._finish()
        self._connection = None

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Stream:
    """An Arrow C stream capsule, offered once through the PyCapsule interface."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        capsule, self._capsule = self._capsule, None
        if capsule is None:
            raise InterfaceError("this Arrow stream was already read")
        return capsule


def _parameters(parameters: Any) -> list[Any]:
    if parameters is None:
        return []
    if isinstance(parameters, Mapping):
        raise ProgrammingError(
            "parameters are a sequence: paramstyle is qmark (? markers, values in order)"
        )
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, (Sequence, tuple, list)):
        raise ProgrammingError(
            "parameters are a sequence (a list or tuple of values, one per ? marker)"
        )
    return list(parameters)


# -- PEP 249 type objects and constructors ----------------------------------------------
class _TypeObject:
    def __init__(self, name: str, *types: type) -> None:
        self._name = name
        self._types = frozenset(types)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _TypeObject):
            return self is other
        return other in self._types

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return self._name


STRING = _TypeObject("STRING", str, _uuid.UUID)
BINARY = _TypeObject("BINARY", bytes)
NUMBER = _TypeObject("NUMBER", int, float, _decimal.Decimal, bool)
DATETIME = _TypeObject("DATETIME", _dt.date, _dt.datetime, _dt.time)
ROWID = _TypeObject("ROWID")

Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime
Binary = bytes


def DateFromTicks(ticks: float) -> _dt.date:
    return Date(*_time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> _dt.time:
    return Time(*_time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> _dt.datetime:
    return Timestamp(*_time.localtime(ticks)[:6])
