"""What a serious native module owes its host: the GIL released while waiting, Ctrl-C heard,
a clear error after fork(), memory bounded by the page (not the result), stubs that match."""

import ast
import gc
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import threading

import pytest

import epicor_kinetic as ek
from epicor_kinetic import _internal, emulator


class SilentServer:
    """A server that accepts connections and never answers. ``accepted`` is set when a client has
    connected (it is then waiting for an answer that does not come); ``hang_up()`` closes every
    connection and stops listening (the client's wait ends with "connection closed")."""

    def __init__(self):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.accepted = threading.Event()
        self._held = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                self._held.append(self._socket.accept()[0])
                self.accepted.set()
            except OSError:
                pass

    def hang_up(self):
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self._socket.close()
        for c in self._held:
            c.shutdown(socket.SHUT_RDWR)
            c.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.hang_up()


class HoldingProxy:
    """A TCP proxy to ``target`` (host, port) that passes every request through but those
    containing ``hold``: those it keeps, never forwarded and never answered, and sets ``held``
    (the client is then waiting for that answer)."""

    def __init__(self, target, hold):
        self._target, self._hold = target, hold
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.held = threading.Event()
        self._sockets = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _start(self, *args):
        t = threading.Thread(target=self._pump, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                client = self._listener.accept()[0]
            except OSError:
                continue
            client.settimeout(None)
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            self._start(client, server, True)
            self._start(server, client, False)

    def _pump(self, source, sink, requests):
        seen = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                seen = seen[-len(self._hold):] + data
                if requests and self._hold in seen:
                    self.held.set()
                    return  # kept: this connection's request never reaches the server
                sink.sendall(data)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self._stop.set()
        for s in self._sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self._threads:
            t.join(30)
        self._listener.close()


#: How long a test waits for what must happen before it calls it a hang (far beyond what a
#: loaded machine needs).
PATIENCE = 120


def test_the_gil_is_released_while_waiting(silent_server):
    # Timeout=30: with the GIL held, nothing below could run before the wait timed out.
    conn = ek.connect(f"URL={silent_server.url};ERPInstance=Kinetic;User=u;Password=p;Timeout=30;MaxRetries=0")
    errors = []

    def query():
        try:
            conn.execute("SELECT COUNT(*) FROM Customers")
        except ek.Error as e:
            errors.append(e)

    t = threading.Thread(target=query)
    t.start()
    # The server's Python thread ran to note the connection while the query waits on it; so
    # does this one, and then ends the wait itself by hanging up.
    assert silent_server.accepted.wait(PATIENCE)
    assert sum(i for i in range(100_000)) == 4_999_950_000
    assert t.is_alive() and not errors
    silent_server.hang_up()
    t.join(PATIENCE)
    assert not t.is_alive()
    # The wait ended because this thread hung up, not by its timeout.
    assert len(errors) == 1 and isinstance(errors[0], ek.OperationalError), errors
    assert errors[0].kind == "transport"
    assert "connection closed" in str(errors[0]) and "timed out" not in str(errors[0]), errors[0]


def run_until_interrupted(code, args, waiting):
    """Runs ``code`` in a child Python; once it printed "ready" and ``waiting`` is set (the child
    is in the wait to interrupt), sends it SIGINT; the child's output lines."""
    p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    try:
        ready = []
        reader = threading.Thread(target=lambda: ready.append(p.stdout.readline()), daemon=True)
        reader.start()
        reader.join(PATIENCE)
        assert ready == ["ready\n"], ready
        assert waiting.wait(PATIENCE)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=PATIENCE)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return out.splitlines()


def test_ctrl_c_interrupts_a_wait(silent_server):
    # Timeout=600: the wait would outlast the test's patience; only Ctrl-C ends it in time.
    code = textwrap.dedent(
        f"""
        import epicor_kinetic as ek
        conn = ek.connect("URL={silent_server.url};ERPInstance=Kinetic;User=u;Password=p;Timeout=600")
        try:
            print("ready", flush=True)
            conn.execute("SELECT COUNT(*) FROM Customers")
            print("answered", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    assert run_until_interrupted(code, [], silent_server.accepted) == ["interrupted"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_fork_gives_a_clear_error_and_a_fresh_start(basic):
    conn = ek.connect(basic)
    assert conn.execute("SELECT 1").fetchone() == (1,)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            try:
                conn.execute("SELECT 1")
                os.write(w, b"no error")
            except ek.InterfaceError as e:
                msg = str(e)
                ok = "fork" in msg and "connect() again" in msg
                with ek.connect(basic) as fresh:
                    ok = ok and fresh.execute("SELECT COUNT(*) FROM Customers").fetchone()[0] > 0
                # Letting go of the parent's objects here neither fails nor hangs.
                del conn
                gc.collect()
                os.write(w, b"ok" if ok else msg.encode())
                status = 0
        finally:
            os._exit(status)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    answer = os.read(r, 1000)
    os.close(r)
    assert answer == b"ok" and os.WEXITSTATUS(status) == 0, answer
    # The parent's connection is untouched.
    assert conn.execute("SELECT 2").fetchone() == (2,)
    conn.close()


GROWTH = """
import sys, epicor_kinetic as ek

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

way, cs = sys.argv[1], sys.argv[2]
conn = ek.connect(cs)
conn.execute("SELECT COUNT(*) FROM Customers").fetchall()  # signed in, engine warm
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from here
cur = conn.cursor().execute("SELECT * FROM OrderDtls")
if way == "stream":
    n = 0
    while True:
        rows = cur.fetchmany(2000)
        if not rows:
            break
        n += len(rows)
else:
    kept = cur.fetchall()
    n = len(kept)
print(n, status("VmHWM") - base)
"""


def growth_kib(way, cs):
    out = subprocess.run(
        [sys.executable, "-c", GROWTH, way, cs], capture_output=True, text=True, timeout=600, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
def test_memory_is_bounded_by_the_batch_not_the_result():
    with emulator.start(scale=20_000) as small, emulator.start(scale=80_000) as large:
        n_small, stream_small = growth_kib("stream", small.connection_string("basic"))
        n_large, stream_large = growth_kib("stream", large.connection_string("basic"))
        _, kept_large = growth_kib("all", large.connection_string("basic"))
    print(f"peak growth: streaming {n_small} rows {stream_small} KiB, {n_large} rows {stream_large} KiB; fetchall {n_large} rows {kept_large} KiB")
    assert n_small > 10_000 and n_large == 4 * n_small  # the connection's company's lines
    # Holding every row costs memory in proportion; streaming them does not.
    assert kept_large > 40_000, kept_large
    assert stream_large < kept_large / 4, (stream_large, kept_large)
    assert stream_large < stream_small + 16_384, (stream_small, stream_large)


def test_the_stubs_declare_what_the_module_has():
    stub = pathlib.Path(ek.__file__).with_name("_internal.pyi")
    declared = {
        n.name
        for n in ast.parse(stub.read_text()).body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef))
    } | {
        n.target.id
        for n in ast.parse(stub.read_text()).body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    public = {n for n in dir(_internal) if not n.startswith("_")} | {"__version__"}
    assert public == declared
    assert pathlib.Path(ek.__file__).with_name("py.typed").exists()


def test_emulator_helper(emu):
    assert emu.url.startswith("http://127.0.0.1:")
    assert {"basic", "token", "azuread_client_secret"} <= set(emu.connection_strings)
    with pytest.raises(KeyError, match="there are"):
        emu.connection_string("nope")
    emu.clear_requests()
    with ek.connect(emu.connection_string("basic")) as c:
        c.execute("SELECT CustID FROM Customers WHERE CustNum > ? LIMIT 2", [5]).fetchall()
    uris = [u for m, u, s in emu.requests() if "/Customers" in u]
    # The filter and the limit went to the server as OData.
    assert any("$filter=" in u and "$top=2" in u for u in uris), uris


SLOW_FETCH = """
import sys, epicor_kinetic as ek
cur = ek.connect(sys.argv[1]).cursor().execute("SELECT * FROM OrderDtls")
try:
    print("ready", flush=True)
    cur.fetchall() if sys.argv[2] == "fetchall" else cur.fetch_arrow_table()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("way", ["fetchall", "arrow"])
def test_ctrl_c_interrupts_a_long_fetch(emu, way):
    # The order lines' first page never comes (a proxy keeps its request: the statement is
    # planned, its rows not yet asked for); Ctrl-C, once the fetch waits for it, stops the fetch.
    # Timeout=600: only Ctrl-C ends that wait within the test's patience.
    host, port = emu.url.rsplit("/", 1)[1].split(":")
    proxy = HoldingProxy((host, int(port)), b"/Erp.BO.SalesOrderSvc/OrderDtls?")
    try:
        cs = emu.connection_string("basic").replace(emu.url, f"http://127.0.0.1:{proxy.port}")
        out = run_until_interrupted(SLOW_FETCH, [cs + ";Timeout=600", way], proxy.held)
    finally:
        proxy.close()
    assert out == ["interrupted"]


def test_a_fetch_leaves_the_garbage_collector_as_it_was(cur):
    import gc

    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            cur.execute("SELECT CustNum, SysRowID FROM Customers")
            assert len(cur.fetchall()) > 0
            assert gc.isenabled() is state
            # An error in the middle of a fetch too.
            with pytest.raises(ek.DataError):
                cur.execute("SELECT CustNum / (CustNum - CustNum) FROM Customers").fetchall()
            assert gc.isenabled() is state
    finally:
        (gc.enable if was else gc.disable)()
