"""SQLAlchemy 2 (`postgresql+psycopg`) and pandas against `kinetic serve`: the inspector's
reflection (PostgreSQL's own catalog queries, as SQLAlchemy writes them) answers what the
server's system tables hold, and `pandas.read_sql` what SQLite holds."""

import pandas as pd
import pytest
import sqlalchemy
from sqlalchemy import inspect

from conftest import connect


@pytest.fixture(scope="module")
def engine(port):
    e = sqlalchemy.create_engine(
        f"postgresql+psycopg://manager:Epicor123!@127.0.0.1:{port}/kinetic",
        connect_args={"connect_timeout": 10},
    )
    yield e
    e.dispose()


@pytest.fixture(scope="module")
def system(port):
    """Reads the server's system tables (the one description of what it has)."""
    c = connect(port, autocommit=True)

    def read(sql, params=()):
        return c.execute(sql, params).fetchall()

    yield read
    c.close()


SCHEMA = "Erp.BO.CustomerSvc"


def test_table_names_with_and_without_a_schema(engine, system):
    insp = inspect(engine)
    want = [t for (t,) in system("SELECT TableName FROM sys_tables WHERE SchemaName = %s AND TableType = 'TABLE'", (SCHEMA,))]
    assert want, "the service has entity sets"
    assert sorted(insp.get_table_names(schema=SCHEMA)) == sorted(want)
    everything = [t for (t,) in system("SELECT TableName FROM sys_tables WHERE TableType <> 'VIEW'")]
    assert sorted(insp.get_table_names()) == sorted(everything)
    assert SCHEMA in insp.get_schema_names()


@pytest.mark.parametrize("schema", [None, SCHEMA])
def test_columns_and_primary_key(engine, system, schema):
    insp = inspect(engine)
    want = system(
        "SELECT ColumnName, IsNullable, DataTypeName, Length, NumericPrecision, NumericScale "
        "FROM sys_tablecolumns WHERE SchemaName = %s AND TableName = 'Customers' ORDER BY Ordinal",
        (SCHEMA,),
    )
    columns = insp.get_columns("Customers", schema=schema)
    assert [c["name"] for c in columns] == [w[0] for w in want]
    assert [c["nullable"] for c in columns] == [bool(w[1]) for w in want]
    for column, (name, _, kind, length, precision, scale) in zip(columns, want):
        if kind == "varchar" and length is not None:
            assert isinstance(column["type"], sqlalchemy.String), name
            assert column["type"].length == length, name
        if kind == "decimal":
            assert isinstance(column["type"], sqlalchemy.Numeric), name
            assert (column["type"].precision, column["type"].scale) == (precision, scale), name
    keys = system(
        "SELECT ColumnName, KeyName FROM sys_primarykeys WHERE SchemaName = %s "
        "AND TableName = 'Customers' ORDER BY KeySeq",
        (SCHEMA,),
    )
    pk = insp.get_pk_constraint("Customers", schema=schema)
    assert pk["constrained_columns"] == [k[0] for k in keys]
    assert pk["name"] == keys[0][1]


def test_foreign_keys_from_navigations(engine, system):
    schema = "Erp.BO.SalesOrderSvc"
    want = system(
        "SELECT ForeignKeyName, ColumnName, ReferencedSchemaName, ReferencedTableName, "
        "ReferencedColumnName FROM sys_foreignkeys WHERE SchemaName = %s AND TableName = 'OrderDtls' "
        "AND ForeignKeyType = 'FOREIGNKEY_TYPE_IMPORT'",
        (schema,),
    )
    assert want, "OrderDtls has a navigation to its order"
    fks = inspect(engine).get_foreign_keys("OrderDtls", schema=schema)
    assert sorted(f["name"] for f in fks) == sorted({w[0] for w in want})
    for fk in fks:
        mine = [w for w in want if w[0] == fk["name"]]
        assert sorted(zip(fk["constrained_columns"], fk["referred_columns"])) == sorted(
            (w[1], w[4]) for w in mine
        )
        assert (fk["referred_schema"], fk["referred_table"]) == (mine[0][2], mine[0][3])


def test_pandas_read_sql_equals_sqlite(engine, sqlite):
    frame = pd.read_sql(
        "SELECT CustNum, CustID, Name, CreditLimit FROM Customers ORDER BY CustNum", engine
    )
    want = pd.read_sql_query(
        "SELECT CustNum, CustID, Name, CreditLimit FROM Customer WHERE Company = 'EPIC06' "
        "ORDER BY CustNum",
        sqlite,
    )
    assert list(frame.columns) == list(want.columns)
    assert len(frame) == len(want) > 0
    assert frame["CustNum"].tolist() == want["CustNum"].tolist()
    assert frame["CustID"].tolist() == want["CustID"].str.rstrip(" ").tolist()
    assert frame["Name"].tolist() == want["Name"].tolist()
    got = [round(float(v), 3) for v in frame["CreditLimit"]]
    assert got == [round(float(v), 3) for v in want["CreditLimit"]]
