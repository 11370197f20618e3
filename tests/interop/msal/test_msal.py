"""Interoperability: Microsoft's MSAL for Python against the emulator's Entra ID (Azure AD v2) provider.

Starts the emulator binary (KINETIC_BIN, default target/debug/kinetic) with --tls, then gets tokens with
MSAL (authority https://127.0.0.1:PORT/{tenant}, instance discovery and authority validation off, the
emulator's CA as the trusted certificate) and opens the REST API with each:

  client_credentials[client_secret]    daemon: acquire_token_for_client with its secret -> REST 200 as
                                       Epicor user `integration` (the app role Epicor.Integration)
  client_credentials[certificate x5t]  web_app: {private_key, thumbprint} (RS256 + x5t)
  client_credentials[certificate x5t#S256]  web_app: {private_key, public_certificate} (PS256 + x5t#S256;
                                       MSAL 1.39 has no `thumbprint_sha256` key: it derives the SHA-256
                                       thumbprint from the certificate, and sends it in x5c too)
  client_credentials[certificate pfx]  web_app: {private_key_pfx_path} (PS256 + x5t#S256)
      The web app holds no app role on the Epicor server, so its app-only tokens must be refused by
      the REST API with 403 (an authentic token without a role), never 401. The same certificate
      credentials then get tokens that open the API through on-behalf-of (below). The algorithm and
      thumbprint header MSAL put in each client assertion are checked against the registration.
  device_code                          desktop (public client): initiate_device_flow +
                                       acquire_token_by_device_flow while a cookie-keeping client
                                       enters the code, signs in as alice and accepts, through the HTML
                                       pages as a browser would -> REST 200 as `manager`
  refresh_token                        desktop: acquire_token_silent_with_error(force_refresh=True)
  authorization_code[response_mode=query|form_post]  web_app (certificate x5t):
                                       initiate_auth_code_flow + acquire_token_by_auth_code_flow for its
                                       own API (access_as_user) as alice; that token is not for the
                                       Epicor server: REST 401
  on_behalf_of[<credential>]           web_app with each credential: acquire_token_on_behalf_of(alice's
                                       token, epicor_server user_impersonation) -> REST 200 as `manager`

Which Epicor user a token acts as is read back from the emulator (SessionModSvc/Login, then
admin/sessions). Prints `msal: <step> ok` per step and `N passed, N failed` last; exits non-zero on any
failure, printing MSAL's error dicts (without tokens). Never prints secrets or tokens. The emulator is
always stopped at the end. The device step takes about 5 s: Entra's (and the emulator's) polling interval.
"""

import base64
import html.parser
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import warnings

import msal
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("KINETIC_BIN", os.path.join(ROOT, "target", "debug", "kinetic"))
STARTUP_TIMEOUT = 180
REDIRECT = "http://localhost:5000/callback"
SECRET_KEYS = {"access_token", "refresh_token", "id_token", "client_info", "device_code"}

# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify` (so MSAL's own
# `verify=` too): drop them, so the emulator's CA is the one trusted. Every call here goes to loopback,
# never through a proxy.
for _name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))


class Failure(Exception):
    pass


def redacted(result):
    """An MSAL result or error dict without tokens, for messages."""
    if not isinstance(result, dict):
        return repr(result)
    return json.dumps({k: v for k, v in result.items() if k not in SECRET_KEYS}, default=str)


def jwt_part(token, index):
    if isinstance(token, bytes):
        token = token.decode("ascii")
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def need_token(result, what):
    if not isinstance(result, dict) or "access_token" not in result:
        raise Failure(f"{what}: MSAL returned no token: {redacted(result)}")
    return result["access_token"]


# --- the emulator ------------------------------------------------------------------------------------


class Emulator:
    def __init__(self):
        if not os.access(BIN, os.X_OK):
            raise Failure(f"the emulator binary {BIN} is missing (build it: cargo build -p epicor-kinetic-cli)")
        self.log = tempfile.NamedTemporaryFile(prefix="kinetic-msal-emulator-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [BIN, "emulator", "--port", "0", "--tls", "--scale", "200"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        lines = queue.Queue()

        def read():
            for line in self.proc.stdout:  # drain, so the emulator never blocks on a full pipe
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            first = lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            first = None
        if not first:
            self.stop()
            raise Failure(f"the emulator printed no start-up line; its log:\n{self.log_tail()}")
        self.info = json.loads(first)

    def log_tail(self):
        try:
            with open(self.log.name, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-30:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the emulator stops cleanly and removes its files
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


# --- the REST API ------------------------------------------------------------------------------------


class Rest:
    def __init__(self, info):
        self.info = info
        self.http = requests.Session()
        self.http.verify = info["tls_cert"]
        self.base = f"{info['url']}/{info['instance']}/"

    def parts(self, token):
        url = f"{self.base}api/v2/odata/{info_company(self.info)}/Erp.BO.PartSvc/Parts?$top=1"
        return self.http.get(
            url,
            headers={"x-api-key": self.info["api_key"], "Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def opens(self, token, expected_user):
        """The token opens the REST API: Parts answers 200 with rows, as `expected_user`."""
        r = self.parts(token)
        if r.status_code != 200:
            raise Failure(f"REST API answered {r.status_code}, not 200: {r.text[:400]}")
        rows = r.json().get("value") or []
        if not rows:
            raise Failure("REST API answered 200 but no rows")
        user = self.epicor_user(token)
        if user.lower() != expected_user.lower():
            raise Failure(f"the token acts as Epicor user {user!r}, not {expected_user!r}")

    def refuses(self, token, status, words):
        r = self.parts(token)
        if r.status_code != status:
            raise Failure(f"REST API answered {r.status_code}, not {status}: {r.text[:400]}")
        if not all(w.lower() in r.text.lower() for w in words):
            raise Failure(f"REST API's {status} does not say {words}: {r.text[:400]}")

    def epicor_user(self, token):
        """Which Epicor user a bearer token acts as: log in a session with it, find it in admin/sessions."""
        auth = {"Authorization": f"Bearer {token}"}
        r = self.http.post(f"{self.base}api/v1/Ice.Lib.SessionModSvc/Login", headers=auth, json={}, timeout=60)
        if r.status_code != 200:
            raise Failure(f"SessionModSvc/Login answered {r.status_code}: {r.text[:400]}")
        session = r.json().get("returnObj")
        # The session list is an administrator's (the emulator's first user, `manager`, is one).
        admin = self.info["users"][0]
        creds = (admin["user"], admin["password"])
        r = self.http.get(f"{self.base}admin/sessions", auth=creds, timeout=60)
        if r.status_code != 200:
            raise Failure(f"admin/sessions answered {r.status_code}: {r.text[:400]}")
        for s in r.json().get("sessions", []):
            if s.get("id") == session:
                self.http.delete(f"{self.base}admin/sessions/{session}", auth=creds, timeout=60)
                return s.get("user", "")
        raise Failure(f"session {session} is not in admin/sessions")


def info_company(info):
    return info.get("company") or "EPIC06"


# --- a browser: keeps cookies, reads forms with html.parser, submits them -----------------------------


class Forms(html.parser.HTMLParser):
    """Every <form> of a page: id, action, method, and its named inputs and buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self.current = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.current = {
                "id": a.get("id", ""),
                "action": a.get("action", ""),
                "method": (a.get("method") or "get").lower(),
                "inputs": {},
                "buttons": [],
            }
            self.forms.append(self.current)
        elif self.current is not None and tag == "input" and a.get("name"):
            self.current["inputs"][a["name"]] = a.get("value") or ""
        elif self.current is not None and tag == "button" and a.get("name"):
            self.current["buttons"].append((a["name"], a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


def forms_of(text):
    p = Forms()
    p.feed(text)
    p.close()
    return p.forms


class Browser:
    """A person's browser, for the emulator's sign-in, consent and device-code pages."""

    def __init__(self, ca):
        self.http = requests.Session()
        self.http.verify = ca

    def submit(self, page_url, form, fields):
        data = dict(form["inputs"])
        data.update(fields)
        url = urllib.parse.urljoin(page_url, form["action"] or page_url)
        if form["method"] != "post":
            raise Failure(f"form {form['id']!r} is not posted")
        return self.http.post(url, data=data, allow_redirects=False, timeout=60)

    def step(self, r, user, password):
        """Answers one page: enter the code, sign in, or accept; returns the next response."""
        forms = forms_of(r.text)
        for form in forms:
            if "otc" in form["inputs"]:
                raise Failure("the device-code page was shown again (code refused?)")
            if "passwd" in form["inputs"]:
                return self.submit(r.url, form, {"login": user, "passwd": password})
            if any(n == "decision" and v == "accept" for n, v in form["buttons"]):
                return self.submit(r.url, form, {"decision": "accept"})
        raise Failure(f"page {r.url} has no form to answer: {r.text[:400]}")

    def approve_device(self, verification_uri, user_code, user, password):
        r = self.http.get(verification_uri, timeout=60)
        if r.status_code != 200:
            raise Failure(f"GET {verification_uri} answered {r.status_code}")
        code_form = next((f for f in forms_of(r.text) if "otc" in f["inputs"]), None)
        if code_form is None:
            raise Failure("the device-code page has no otc field")
        r = self.submit(r.url, code_form, {"otc": user_code})
        for _ in range(4):
            if r.status_code != 200:
                raise Failure(f"device sign-in answered {r.status_code}: {r.text[:400]}")
            if not forms_of(r.text):
                if "signed in" not in r.text.lower():
                    raise Failure(f"device sign-in ended on an unexpected page: {r.text[:400]}")
                return
            r = self.step(r, user, password)
        raise Failure("device sign-in did not end")

    def authorize(self, auth_uri, redirect_uri, user, password):
        """Follows an authorization request until it comes back to the redirect URI (a 302 whose
        Location carries the answer in its query, or, with response_mode=form_post, a page whose form
        posts it there); returns the answer's fields as a dict. The redirect URI is never fetched."""
        r = self.http.get(auth_uri, allow_redirects=False, timeout=60)
        for _ in range(6):
            if r.status_code in (301, 302, 303, 307):
                location = r.headers.get("Location", "")
                if location.startswith(redirect_uri):
                    query = urllib.parse.urlparse(location).query
                    return dict(urllib.parse.parse_qsl(query))
                r = self.http.get(urllib.parse.urljoin(r.url, location), allow_redirects=False, timeout=60)
                continue
            if r.status_code != 200:
                raise Failure(f"authorize answered {r.status_code}: {r.text[:400]}")
            for form in forms_of(r.text):
                if form["action"] == redirect_uri and form["method"] == "post":
                    return dict(form["inputs"])
            r = self.step(r, user, password)
        raise Failure("the authorization request never came back to the redirect URI")


# --- MSAL --------------------------------------------------------------------------------------------


class Recorder(requests.Session):
    """MSAL's HTTP client for the certificate apps: records the client assertions it sends, so the test
    can check which algorithm and thumbprint header MSAL chose."""

    def __init__(self, ca):
        super().__init__()
        self.verify = ca
        self.assertions = []

    def post(self, url, data=None, **kwargs):
        if isinstance(data, dict) and data.get("client_assertion"):
            self.assertions.append(jwt_part(data["client_assertion"], 0))
        return super().post(url, data=data, **kwargs)


def main():
    results = []
    emulator = None

    def on_term(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)

    def step(name, fn):
        try:
            fn()
            print(f"msal: {name} ok", flush=True)
            results.append(True)
        except Failure as e:
            print(f"msal: {name} FAILED: {e}", flush=True)
            results.append(False)
        except Exception:
            print(f"msal: {name} FAILED:\n{traceback.format_exc()}", flush=True)
            results.append(False)

    print(f"msal: MSAL for Python {msal.__version__}, emulator {BIN}", flush=True)
    try:
        emulator = Emulator()
        info = emulator.info
        ca = info["tls_cert"]
        idp = info["idp"]
        authority = idp["authority"]
        apps = idp["apps"]
        server = apps["epicor_server"]
        web = apps["web_app"]
        users = {u["upn"].split("@")[0]: u for u in idp["users"]}
        alice = users["alice"]["upn"]
        alice_password = users["alice"]["password"]
        rest = Rest(info)
        common = dict(authority=authority, validate_authority=False, instance_discovery=False)
        with open(web["private_key"], encoding="utf-8") as f:
            key_pem = f.read()
        with open(web["certificate"], encoding="utf-8") as f:
            cert_pem = f.read()
        scratch = tempfile.TemporaryDirectory(prefix="kinetic-msal-")
        pfx_path = os.path.join(scratch.name, "web_app.pfx")
        write_pfx(pfx_path, key_pem, cert_pem)

        def confidential(name, credential, recorder=None):
            if recorder is not None:
                # MSAL ignores `verify` when given an http_client; the recorder trusts the CA itself.
                return msal.ConfidentialClientApplication(
                    apps[name]["client_id"], client_credential=credential, http_client=recorder, **common
                )
            return msal.ConfidentialClientApplication(
                apps[name]["client_id"], client_credential=credential, verify=ca, **common
            )

        # Certificate credentials of the web app, each with the assertion header MSAL must send.
        cert_kinds = [
            ("certificate x5t", {"private_key": key_pem, "thumbprint": web["thumbprint_sha1"]},
             "RS256", "x5t", web["thumbprint_sha1"]),
            ("certificate x5t#S256", {"private_key": key_pem, "public_certificate": cert_pem},
             "PS256", "x5t#S256", web["thumbprint_sha256"]),
            ("certificate pfx", {"private_key_pfx_path": pfx_path},
             "PS256", "x5t#S256", web["thumbprint_sha256"]),
        ]
        web_apps = {}
        for label, credential, alg, header, thumb in cert_kinds:
            recorder = Recorder(ca)
            web_apps[label] = (confidential("web_app", credential, recorder), recorder, alg, header, thumb)
        web_apps["client_secret"] = (confidential("web_app", web["client_secret"]), None, None, None, None)

        def check_assertion(label):
            app, recorder, alg, header, thumb = web_apps[label]
            if recorder is None:
                return
            if not recorder.assertions:
                raise Failure("MSAL sent no client assertion")
            h = recorder.assertions[-1]
            if h.get("alg") != alg or header not in h:
                raise Failure(f"MSAL's assertion header is {h}, expected alg {alg} with {header}")
            sent = base64.urlsafe_b64decode(h[header] + "=" * (-len(h[header]) % 4)).hex()
            if sent != thumb.lower():
                raise Failure(f"MSAL's {header} is {sent}, the registered thumbprint is {thumb}")

        # 1. Client credentials with a secret (the daemon holds Epicor.Integration).
        def client_secret():
            app = confidential("daemon", apps["daemon"]["client_secret"])
            result = app.acquire_token_for_client(scopes=[server["default_scope"]])
            token = need_token(result, "acquire_token_for_client")
            if jwt_part(token, 1).get("roles") != ["Epicor.Integration"]:
                raise Failure(f"the app token's roles are {jwt_part(token, 1).get('roles')}")
            rest.opens(token, "integration")

        step("client_credentials[client_secret] acquire_token_for_client", client_secret)

        # 2. Client credentials with each certificate credential. The web app has no app role on the
        #    Epicor server: the REST API must accept the token as authentic and refuse it with 403.
        for label, *_ in cert_kinds:

            def certificate(label=label):
                app = web_apps[label][0]
                result = app.acquire_token_for_client(scopes=[server["default_scope"]])
                token = need_token(result, "acquire_token_for_client")
                check_assertion(label)
                claims = jwt_part(token, 1)
                if claims.get("azpacr") != "2" or claims.get("aud") != server["client_id"]:
                    raise Failure(f"unexpected claims azpacr={claims.get('azpacr')} aud={claims.get('aud')}")
                rest.refuses(token, 403, ["role"])

            step(f"client_credentials[{label}] acquire_token_for_client (REST 403: no app role)", certificate)

        # 3. Device code: the desktop (public) client; the code approved through the HTML pages.
        desktop = msal.PublicClientApplication(apps["desktop"]["client_id"], verify=ca, **common)
        device_result = {}

        def device_code():
            flow = desktop.initiate_device_flow(scopes=[server["scope"]])
            if "user_code" not in flow:
                raise Failure(f"initiate_device_flow: {redacted(flow)}")
            approval = {}

            def approve():
                try:
                    Browser(ca).approve_device(flow["verification_uri"], flow["user_code"], alice, alice_password)
                    approval["ok"] = True
                except Exception as e:  # reported below
                    approval["error"] = e

            t = threading.Thread(target=approve, daemon=True)
            t.start()
            deadline = time.time() + 120
            result = desktop.acquire_token_by_device_flow(
                flow, exit_condition=lambda f: "error" in approval or time.time() > deadline
            )
            t.join(timeout=60)
            if "error" in approval:
                raise Failure(f"approving the code in the browser failed: {approval['error']}")
            token = need_token(result, "acquire_token_by_device_flow")
            device_result.update(result)
            rest.opens(token, "manager")

        step("device_code initiate_device_flow + acquire_token_by_device_flow", device_code)

        # 4. Refresh: MSAL redeems the device flow's refresh token (rotated by the provider).
        def refresh():
            accounts = desktop.get_accounts(username=alice)
            if not accounts:
                raise Failure(f"MSAL cached no account for {alice} (id_token/client_info missing?)")
            result = desktop.acquire_token_silent_with_error(
                [server["scope"]], account=accounts[0], force_refresh=True
            )
            token = need_token(result, "acquire_token_silent_with_error(force_refresh=True)")
            if token == device_result.get("access_token"):
                raise Failure("the refreshed access token is the cached one")
            rest.opens(token, "manager")

        step("refresh_token acquire_token_silent(force_refresh=True)", refresh)

        # 5. Authorization code (+PKCE) for the web app's own API, as alice, with the x5t certificate:
        #    the answer by query (a 302 to the redirect URI) and by form_post (MSAL's recommendation).
        user_token = {}

        def auth_code(mode):
            app = web_apps["certificate x5t"][0]
            with warnings.catch_warnings():
                # MSAL warns that form_post is recommended whenever response_mode is not form_post.
                warnings.simplefilter("ignore", UserWarning)
                flow = app.initiate_auth_code_flow(
                    scopes=[web["scope"]], redirect_uri=REDIRECT, response_mode=mode
                )
            if "auth_uri" not in flow:
                raise Failure(f"initiate_auth_code_flow: {redacted(flow)}")
            response = Browser(ca).authorize(flow["auth_uri"], REDIRECT, alice, alice_password)
            if "code" not in response:
                raise Failure(f"the redirect carries no code: {redacted(response)}")
            result = app.acquire_token_by_auth_code_flow(flow, response)
            token = need_token(result, "acquire_token_by_auth_code_flow")
            check_assertion("certificate x5t")
            claims = jwt_part(token, 1)
            if claims.get("aud") != web["client_id"] or claims.get("preferred_username") != alice:
                raise Failure(f"unexpected claims aud={claims.get('aud')} user={claims.get('preferred_username')}")
            if result.get("id_token_claims", {}).get("preferred_username") != alice:
                raise Failure("MSAL's id_token_claims do not name alice")
            # A token for the web app's API is not one for the Epicor server.
            rest.refuses(token, 401, ["audience"])
            user_token["value"] = token

        for mode in ("query", "form_post"):
            step(
                f"authorization_code[response_mode={mode}] initiate_auth_code_flow + acquire_token_by_auth_code_flow",
                lambda mode=mode: auth_code(mode),
            )

        # 6. On-behalf-of with each of the web app's credentials: the token opens the REST API as alice.
        for label in web_apps:

            def obo(label=label):
                if "value" not in user_token:
                    raise Failure("no user token (the authorization-code step failed)")
                app = web_apps[label][0]
                result = app.acquire_token_on_behalf_of(user_assertion=user_token["value"], scopes=[server["scope"]])
                token = need_token(result, "acquire_token_on_behalf_of")
                check_assertion(label)
                rest.opens(token, "manager")

            step(f"on_behalf_of[{label}] acquire_token_on_behalf_of", obo)
        scratch.cleanup()
    except Failure as e:
        print(f"msal: setup FAILED: {e}", flush=True)
        results.append(False)
    except BaseException:
        print(f"msal: setup FAILED:\n{traceback.format_exc()}", flush=True)
        results.append(False)
    finally:
        if emulator is not None:
            if not all(results):
                print(f"msal: the emulator's log (last lines):\n{emulator.log_tail()}", flush=True)
            emulator.stop()
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def write_pfx(path, key_pem, cert_pem):
    """The web app's key and certificate as a PKCS#12 file (MSAL's recommended credential form)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    blob = pkcs12.serialize_key_and_certificates(b"web_app", key, cert, None, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(blob)


if __name__ == "__main__":
    sys.exit(main())
