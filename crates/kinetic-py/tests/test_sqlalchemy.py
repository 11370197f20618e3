"""The SQLAlchemy dialect: the entry point, reflection from the system tables, queries, and
pandas.read_sql on an engine."""

import base64
import decimal
import importlib.metadata
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
import sqlalchemy as sa

import epicor_kinetic


def engine_url(cs, form="&"):
    # The connection string as the URL's query: a parameter per property, or whole under the
    # dialect's one key for a raw connection string.
    if form == "connection_string":
        return "kinetic:///?connection_string=" + urllib.parse.quote(cs, safe="")
    pairs = [tuple(p.split("=", 1)) for p in cs.split(";") if p]
    return "kinetic:///?" + urllib.parse.urlencode(pairs)


@pytest.fixture(scope="module")
def engine(basic):
    # The password in the URL's password part, where SQLAlchemy masks it (repr, logs).
    props = dict(p.split("=", 1) for p in basic.split(";") if p)
    user, password = props.pop("User"), props.pop("Password")
    url = sa.URL.create("kinetic", username=user, password=password, query=props)
    e = sa.create_engine(url)
    assert password not in repr(e) and password not in str(e.url)
    yield e
    e.dispose()


def test_the_entry_point_is_registered():
    eps = importlib.metadata.entry_points(group="sqlalchemy.dialects")
    ours = [e for e in eps if e.name == "kinetic"]
    assert len(ours) == 1 and ours[0].value == "epicor_kinetic.sqlalchemy:KineticDialect"


@pytest.mark.parametrize("form", ["&", "connection_string"])
def test_both_url_forms_connect(basic, form):
    e = sa.create_engine(engine_url(basic, form))
    with e.connect() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM Customers")).scalar() > 0
    e.dispose()


def test_query_values_cannot_add_properties(basic, emu, tmp_path):
    # Issue 26, finding 7: a value holding `;` is that property's value, quoted as
    # connect(**kwargs) quotes it, never more properties.
    log = tmp_path / "kinetic.log"
    attack = f"X;ProxyServer=evil;Logfile={log}"
    base = ";".join(p for p in basic.split(";") if not p.lower().startswith("company="))
    url = engine_url(base) + f"&Company={attack}"
    e = sa.create_engine(url)
    cargs, cparams = e.dialect.create_connect_args(e.url)
    assert cargs == [None]
    assert cparams["Company"] == attack
    assert not {"ProxyServer", "Logfile"} & {k for k in cparams}
    emu.clear_requests()
    with e.connect() as c:
        dbapi = c.connection.dbapi_connection
        assert f"Company={attack}" in repr(dbapi), repr(dbapi)
        # The statement reaches the emulator itself (no proxy named `evil` in the way), which
        # refuses the company it was given: the whole text.
        with pytest.raises(sa.exc.DBAPIError) as refused:
            c.execute(sa.text("SELECT COUNT(*) FROM Customers")).scalar()
        assert f"Company '{attack}' is not valid" in str(refused.value), refused.value
    e.dispose()
    assert emu.requests(), "the emulator received the statement's requests"
    assert not log.exists(), "no Logfile property was set"
    assert not list(tmp_path.iterdir())


def test_url_parts_are_values_too():
    url = sa.URL.create(
        "kinetic",
        username="u;ProxyServer=evil",
        password="p;Logfile=/tmp/x}",
        host="erp.example.com",
        port=8443,
        database="Kinetic;Company=Y",
        query={"Company": "EPIC06"},
    )
    cargs, cparams = sa.create_engine(url).dialect.create_connect_args(url)
    assert cargs == [None]
    assert cparams == {
        "Company": "EPIC06",
        "User": "u;ProxyServer=evil",
        "Password": "p;Logfile=/tmp/x}",
        "URL": "https://erp.example.com:8443",
        "ERPInstance": "Kinetic;Company=Y",
    }
    # As connect() reads them: each the one property's value.
    with epicor_kinetic.connect(*cargs, **cparams) as c:
        shown = repr(c)
    assert "User=u;ProxyServer=evil;" in shown and "Company=EPIC06" in shown, shown
    assert "Logfile" not in shown and "/tmp/x" not in shown, shown


def test_a_raw_connection_string_only_under_its_key(basic):
    # Under `connection_string`, a whole string with its own grammar; other parameters on top.
    e = sa.create_engine(engine_url(basic, "connection_string") + "&Company=EPIC06")
    cargs, cparams = e.dialect.create_connect_args(e.url)
    assert cargs == [basic] and cparams == {"Company": "EPIC06"}
    e.dispose()
    # A property name is never a connection string: one holding `;` or `=` is refused by name.
    e = sa.create_engine("kinetic:///?" + urllib.parse.urlencode({"Company;ProxyServer": "evil"}))
    with pytest.raises(sa.exc.InterfaceError, match="not a connection property") as refused:
        e.connect()
    assert isinstance(refused.value.orig, epicor_kinetic.InterfaceError)
    e.dispose()
    with pytest.raises(epicor_kinetic.InterfaceError, match="given 2 times"):
        sa.create_engine("kinetic:///?Company=A&Company=B")


def test_reflection(engine):
    insp = sa.inspect(engine)
    schemas = insp.get_schema_names()
    assert "Erp.BO.CustomerSvc" in schemas and "BaqSvc" in schemas
    tables = insp.get_table_names(schema="Erp.BO.CustomerSvc")
    assert "Customers" in tables
    cols = {c["name"]: c for c in insp.get_columns("Customers", schema="Erp.BO.CustomerSvc")}
    assert isinstance(cols["CreditLimit"]["type"], sa.Numeric)
    assert (cols["CreditLimit"]["type"].precision, cols["CreditLimit"]["type"].scale) == (17, 3)
    assert isinstance(cols["CustNum"]["type"], sa.Integer)
    assert isinstance(cols["EstDate"]["type"], sa.DateTime)
    pk = insp.get_pk_constraint("Customers", schema="Erp.BO.CustomerSvc")
    assert pk["constrained_columns"] == ["Company", "CustNum"]
    assert insp.has_table("Customers", schema="Erp.BO.CustomerSvc")
    assert not insp.has_table("NoSuchTable", schema="Erp.BO.CustomerSvc")
    assert insp.get_view_names(schema="BaqSvc")


EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


def declared_foreign_keys(emu, service):
    """The service's entity sets, and the keys its $metadata declares (v1: CSDL v3
    associations), read here from the document itself: {dependent set: [(its columns, principal
    set, the principal's columns)]}."""
    user = emu.info["users"][0]
    auth = base64.b64encode(f"{user['user']}:{user['password']}".encode()).decode()
    request = urllib.request.Request(
        f"{emu.url}/Kinetic/api/v1/{service}/$metadata", headers={"Authorization": f"Basic {auth}"}
    )
    with urllib.request.urlopen(request) as r:
        schema = ET.fromstring(r.read()).find(f".//{EDM}Schema")
    namespace = schema.get("Namespace")

    def columns(end):
        return [p.get("Name") for p in end.iter(f"{EDM}PropertyRef")]

    associations = {}
    for a in schema.iter(f"{EDM}Association"):
        rc = a.find(f"{EDM}ReferentialConstraint")
        principal, dependent = rc.find(f"{EDM}Principal"), rc.find(f"{EDM}Dependent")
        associations[f"{namespace}.{a.get('Name')}"] = (
            principal.get("Role"), columns(principal), dependent.get("Role"), columns(dependent)
        )
    keys = {}
    for aset in schema.iter(f"{EDM}AssociationSet"):
        p_role, p_columns, d_role, d_columns = associations[aset.get("Association")]
        sets = {end.get("Role"): end.get("EntitySet") for end in aset.iter(f"{EDM}End")}
        keys.setdefault(sets[d_role], []).append((d_columns, sets[p_role], p_columns))
    return [e.get("Name") for e in schema.iter(f"{EDM}EntitySet")], keys


def test_foreign_keys_are_the_associations_of_metadata(engine, emu):
    insp = sa.inspect(engine)
    # A sales order's lines belong to it, a line's releases to the line: what the server says.
    sets, declared = declared_foreign_keys(emu, "Erp.BO.SalesOrderSvc")
    assert sets == ["SalesOrders", "OrderDtls", "OrderRels"]
    assert declared == {
        "OrderDtls": [(["Company", "OrderNum"], "SalesOrders", ["Company", "OrderNum"])],
        "OrderRels": [
            (["Company", "OrderNum", "OrderLine"], "OrderDtls", ["Company", "OrderNum", "OrderLine"])
        ],
    }
    # Reflection gives each table the keys it holds, none it is referred to by.
    assert insp.get_foreign_keys("OrderDtls", schema="Erp.BO.SalesOrderSvc") == [
        {
            "name": "FK_OrderDtls_SalesOrders",
            "constrained_columns": ["Company", "OrderNum"],
            "referred_schema": "Erp.BO.SalesOrderSvc",
            "referred_table": "SalesOrders",
            "referred_columns": ["Company", "OrderNum"],
        }
    ]
    assert insp.get_foreign_keys("SalesOrders", schema="Erp.BO.SalesOrderSvc") == []
    # Every table of two services, against its $metadata.
    for service in ("Erp.BO.SalesOrderSvc", "Erp.BO.CustomerSvc"):
        sets, declared = declared_foreign_keys(emu, service)
        assert declared, service
        for table in sets:
            reflected = insp.get_foreign_keys(table, schema=service)
            assert all(fk["referred_schema"] == service for fk in reflected), reflected
            assert [
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in reflected
            ] == declared.get(table, []), (service, table)
    # A reflected table carries them, resolved to the referred table's columns.
    lines = sa.Table("OrderDtls", sa.MetaData(), schema="Erp.BO.SalesOrderSvc", autoload_with=engine)
    assert sorted(
        (fk.parent.name, fk.column.table.name, fk.column.name) for fk in lines.foreign_keys
    ) == [("Company", "SalesOrders", "Company"), ("OrderNum", "SalesOrders", "OrderNum")]


def test_core_queries_on_a_reflected_table(engine):
    md = sa.MetaData()
    customers = sa.Table("Customers", md, schema="Erp.BO.CustomerSvc", autoload_with=engine)
    q = (
        sa.select(customers.c.CustNum, customers.c.Name, customers.c.CreditLimit)
        .where(customers.c.State == "MN")
        .order_by(customers.c.CustNum)
        .limit(3)
    )
    with engine.connect() as c:
        rows = c.execute(q).fetchall()
        assert 0 < len(rows) <= 3
        assert all(isinstance(r.CreditLimit, decimal.Decimal) for r in rows)
        n = c.execute(sa.select(sa.func.count()).select_from(customers).where(customers.c.State == "MN")).scalar()
        assert n >= len(rows)


def test_pandas_read_sql(engine):
    # coerce_float=False: pandas' default turns decimal.Decimal into float64.
    df = pd.read_sql(
        sa.text("SELECT CustNum, CreditLimit FROM Customers WHERE State = :s ORDER BY CustNum"),
        engine,
        params={"s": "MN"},
        coerce_float=False,
    )
    assert len(df) > 0
    assert isinstance(df["CreditLimit"].iloc[0], decimal.Decimal)
    # Through the table name (reflection).
    # (read_sql_table turns Numeric columns into float64 by itself: pandas' choice.)
    whole = pd.read_sql_table("Customers", engine, schema="Erp.BO.CustomerSvc")
    assert list(whole.columns)[:3] == ["Company", "CustNum", "CustID"]
    assert len(whole) >= len(df)
