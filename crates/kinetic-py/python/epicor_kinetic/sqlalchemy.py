"""The SQLAlchemy dialect: ``create_engine("kinetic:///?<properties>")``.

Each query parameter of the URL is one connection property, its value the property's value
whatever it holds: values are passed as ``epicor_kinetic.connect(**properties)`` passes keyword
arguments, quoted, so a ``;``, ``=`` or brace inside a value stays in that value and can never
add or change another property (``?Company=X;ProxyServer=evil`` is the company
``X;ProxyServer=evil``). The URL's user, password, host and database are values the same way
(``User``, ``Password``, ``URL`` as ``https://host[:port]``, ``ERPInstance``); a query parameter
of the same name wins::

    create_engine(sa.URL.create("kinetic", username="u", password=pw, host="erp.example.com",
                                database="Kinetic", query={"Company": "EPIC06"}))
    create_engine("kinetic:///?URL=https://erp.example.com&ERPInstance=Kinetic&User=u&Password=p")

A whole connection string, as written for ``connect()`` (``;`` between properties, braces to
quote), goes only under the one key ``connection_string``, percent-encoded as a URL requires; the
other parameters are set on top of it::

    create_engine("kinetic:///?connection_string=" + urllib.parse.quote(cs, safe=""))

The dialect is registered under the entry point ``sqlalchemy.dialects`` as ``kinetic``.

Reflection reads the system tables: ``sys_schemas`` (one schema per service, ``BaqSvc``,
``default``), ``sys_tables`` (``TABLE`` entity sets, ``VIEW`` BAQs), ``sys_tablecolumns``,
``sys_primarykeys`` and ``sys_foreignkeys``. Epicor's REST API has no transactions: each
statement is applied when it runs (the dialect's connections are ``AUTOCOMMIT``).
"""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import types as sqltypes
from sqlalchemy.engine import default
from sqlalchemy.sql import compiler

import epicor_kinetic

_TYPES: dict[str, Any] = {
    "varchar": sqltypes.String,
    "int": sqltypes.Integer,
    "bigint": sqltypes.BigInteger,
    "decimal": sqltypes.Numeric,
    "bool": sqltypes.Boolean,
    "date": sqltypes.Date,
    "datetime": sqltypes.DateTime,
    "double": sqltypes.Float,
    "real": sqltypes.Float,
}


class KineticIdentifierPreparer(compiler.IdentifierPreparer):
    """Double-quoted identifiers (service names hold dots: ``"Erp.BO.CustomerSvc"``)."""

    def __init__(self, dialect: Any) -> None:
        super().__init__(dialect, initial_quote='"', escape_quote='"')


class KineticCompiler(compiler.SQLCompiler):
    pass


class KineticDialect(default.DefaultDialect):
    name = "kinetic"
    driver = "epicor_kinetic"
    paramstyle = "qmark"
    positional = True
    preparer = KineticIdentifierPreparer
    statement_compiler = KineticCompiler

    supports_statement_cache = True
    supports_native_decimal = True
    supports_native_boolean = True
    supports_alter = False
    supports_sequences = False
    supports_default_values = False
    supports_empty_insert = False
    supports_multivalues_insert = True
    supports_comments = False
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True
    postfetch_lastrowid = False
    insert_returning = False
    update_returning = False
    delete_returning = False
    default_schema_name = "default"
    max_identifier_length = 128

    @classmethod
    def import_dbapi(cls) -> Any:
        return epicor_kinetic

    @classmethod
    def dbapi(cls) -> Any:  # SQLAlchemy 1.4
        return epicor_kinetic

    #: The one query key whose value is a whole connection string, read by its own grammar.
    connection_string_key = "connection_string"

    def create_connect_args(self, url: Any) -> tuple[list[Any], dict[str, Any]]:
        """The URL as ``connect()``'s arguments: the ``connection_string`` parameter (if any) as
        the connection string, every other query parameter and the URL's parts as properties,
        each a value (see the module)."""
        connection_string: Optional[str] = None
        properties: dict[str, Any] = {}
        for key, value in url.query.items():
            values = value if isinstance(value, (tuple, list)) else (value,)
            if len(values) != 1:
                raise epicor_kinetic.InterfaceError(f"{key} is given {len(values)} times in the URL")
            if key == self.connection_string_key:
                connection_string = values[0]
            else:
                properties[key] = values[0]
        if url.username is not None:
            properties.setdefault("User", url.username)
        if url.password is not None:
            properties.setdefault("Password", str(url.password))
        if url.host:
            port = f":{url.port}" if url.port else ""
            properties.setdefault("URL", f"https://{url.host}{port}")
        if url.database:
            properties.setdefault("ERPInstance", url.database)
        return [connection_string], properties

    # -- no transactions ------------------------------------------------------------------
    def do_begin(self, dbapi_connection: Any) -> None:
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        return "AUTOCOMMIT"

    def get_default_isolation_level(self, dbapi_conn: Any) -> str:
        return "AUTOCOMMIT"

    def get_isolation_level_values(self, dbapi_conn: Any) -> list[str]:
        return ["AUTOCOMMIT"]

    def set_isolation_level(self, dbapi_connection: Any, level: str) -> None:
        if level != "AUTOCOMMIT":
            raise epicor_kinetic.NotSupportedError(
                "Epicor's REST API has no transactions: the only isolation level is AUTOCOMMIT"
            )

    def _get_server_version_info(self, connection: Any) -> tuple[int, ...]:
        return ()

    def _get_default_schema_name(self, connection: Any) -> str:
        return "default"

    # -- reflection from the system tables ------------------------------------------------
    def _rows(self, connection: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            cursor.close()

    def _schema(self, schema: Optional[str]) -> str:
        return schema if schema is not None else "default"

    def get_schema_names(self, connection: Any, **kw: Any) -> list[str]:
        return [r[0] for r in self._rows(connection, "SELECT SchemaName FROM sys_schemas", [])]

    def _tables(self, connection: Any, schema: Optional[str], kind: str) -> list[str]:
        return [
            r[0]
            for r in self._rows(
                connection,
                "SELECT TableName FROM sys_tables WHERE SchemaName = ? AND TableType = ? ORDER BY TableName",
                [self._schema(schema), kind],
            )
        ]

    def get_table_names(self, connection: Any, schema: Optional[str] = None, **kw: Any) -> list[str]:
        return self._tables(connection, schema, "TABLE")

    def get_view_names(self, connection: Any, schema: Optional[str] = None, **kw: Any) -> list[str]:
        return self._tables(connection, schema, "VIEW")

    def has_table(
        self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any
    ) -> bool:
        rows = self._rows(
            connection,
            "SELECT TableName FROM sys_tables WHERE SchemaName = ? AND TableName = ?",
            [self._schema(schema), table_name],
        )
        return bool(rows)

    def get_columns(
        self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any
    ) -> list[dict[str, Any]]:
        rows = self._rows(
            connection,
            "SELECT ColumnName, DataTypeName, Length, NumericPrecision, NumericScale, IsNullable "
            "FROM sys_tablecolumns WHERE SchemaName = ? AND TableName = ? ORDER BY Ordinal",
            [self._schema(schema), table_name],
        )
        if not rows:
            from sqlalchemy.exc import NoSuchTableError

            raise NoSuchTableError(table_name)
        columns = []
        for name, type_name, length, precision, scale, nullable in rows:
            kind = _TYPES.get((type_name or "").lower(), sqltypes.NullType)
            if kind is sqltypes.Numeric:
                type_: Any = sqltypes.Numeric(precision=precision, scale=scale, asdecimal=True)
            elif kind is sqltypes.String:
                type_ = sqltypes.String(length=length)
            elif kind is sqltypes.DateTime:
                type_ = sqltypes.DateTime()
            else:
                type_ = kind()
            columns.append(
                {
                    "name": name,
                    "type": type_,
                    "nullable": bool(nullable),
                    "default": None,
                    "autoincrement": False,
                }
            )
        return columns

    def get_pk_constraint(
        self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any
    ) -> dict[str, Any]:
        rows = self._rows(
            connection,
            "SELECT ColumnName, KeyName FROM sys_primarykeys "
            "WHERE SchemaName = ? AND TableName = ? ORDER BY KeySeq",
            [self._schema(schema), table_name],
        )
        return {
            "constrained_columns": [r[0] for r in rows],
            "name": rows[0][1] if rows else None,
        }

    def get_foreign_keys(
        self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any
    ) -> list[dict[str, Any]]:
        # The table's own keys that refer to another (IMPORT rows); the EXPORT rows are the
        # other tables' keys that refer to this one, from the other side.
        rows = self._rows(
            connection,
            "SELECT ForeignKeyName, ColumnName, ReferencedSchemaName, ReferencedTableName, "
            "ReferencedColumnName FROM sys_foreignkeys WHERE SchemaName = ? AND TableName = ? "
            "AND ForeignKeyType = 'FOREIGNKEY_TYPE_IMPORT'",
            [self._schema(schema), table_name],
        )
        keys: dict[str, dict[str, Any]] = {}
        for name, column, ref_schema, ref_table, ref_column in rows:
            key = keys.setdefault(
                name,
                {
                    "name": name,
                    "constrained_columns": [],
                    "referred_schema": ref_schema,
                    "referred_table": ref_table,
                    "referred_columns": [],
                },
            )
            key["constrained_columns"].append(column)
            key["referred_columns"].append(ref_column)
        return list(keys.values())

    def get_indexes(self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any) -> list[Any]:
        return []

    def get_unique_constraints(
        self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any
    ) -> list[Any]:
        return []

    def get_check_constraints(
        self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any
    ) -> list[Any]:
        return []

    def get_table_comment(
        self, connection: Any, table_name: str, schema: Optional[str] = None, **kw: Any
    ) -> dict[str, Any]:
        return {"text": None}


dialect = KineticDialect
