"""Every sign-in the emulator offers without a person at a browser, through connect(); and
token() for code that calls Epicor itself."""

import json
import urllib.request

import pytest

import epicor_kinetic as ek

SCHEMES = ["basic", "basic_v2", "basic_session", "token", "azuread_client_secret", "oauth_discovery"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_scheme_reads_and_writes(emu, scheme):
    with ek.connect(emu.connection_string(scheme)) as c:
        cur = c.cursor()
        cur.execute("SELECT COUNT(*) FROM Customers WHERE State = ?", ["MN"])
        (n,) = cur.fetchone()
        assert n > 0
        cur.execute("SELECT CustNum, CreditLimit FROM Customers ORDER BY CustNum LIMIT 1")
        num, limit = cur.fetchone()
        cur.execute("UPDATE Customers SET CreditLimit = ? WHERE CustNum = ?", [limit, num])
        assert cur.rowcount == 1


def test_interactive_schemes_say_what_to_do(emu):
    # A code-flow connection told not to sign in by itself needs a token: the error says so,
    # naming the properties, before anything is sent.
    with pytest.raises(ek.InterfaceError) as e:
        ek.connect(emu.connection_string("azuread_code"), InitiateOAuth="OFF")
    assert "OAuthAccessToken" in str(e.value) and "InitiateOAuth=GETANDREFRESH" in str(e.value)
    assert e.value.kind == "invalid_settings"


@pytest.mark.parametrize("scheme", ["basic", "token", "azuread_client_secret"])
def test_token_is_accepted_by_the_rest_api(emu, scheme):
    cs = emu.connection_string(scheme)
    tok = ek.token(cs)
    assert isinstance(tok, str) and len(tok) > 20
    # The same token from a connection (cached: asked for once).
    with ek.connect(cs) as c:
        assert c.token()
    company = emu.info["company"]
    api = "v2" if scheme == "azuread_client_secret" else "v1"
    url = f"{emu.url}/Kinetic/api/{api}/Erp.BO.CustomerSvc/Customers?$top=1"
    if api == "v2":
        url = f"{emu.url}/Kinetic/api/v2/odata/{company}/Erp.BO.CustomerSvc/Customers?$top=1"
    headers = {"Authorization": f"Bearer {tok}"}
    key = emu.info.get("api_key")
    if key:
        headers["X-API-Key"] = key
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
        body = json.load(r)
    assert len(body["value"]) == 1


def test_token_errors_are_typed(emu):
    with pytest.raises(ek.OperationalError) as e:
        ek.token(emu.connection_string("basic"), Password="wrong")
    assert e.value.kind == "unauthorized"
    with pytest.raises(ek.InterfaceError):
        ek.token("URL=not a url;ERPInstance=Kinetic")
