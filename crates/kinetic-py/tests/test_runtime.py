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
import time

import pytest

import epicor_kinetic as ek
from epicor_kinetic import _internal, emulator


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    stop.set()
    t.join()
    for c in held:
        c.close()
    s.close()


def test_the_gil_is_released_while_waiting(silent_server):
    conn = ek.connect(f"URL={silent_server};ERPInstance=Kinetic;User=u;Password=p;Timeout=2;MaxRetries=0")
    done = threading.Event()
    errors = []

    def query():
        try:
            conn.execute("SELECT COUNT(*) FROM Customers")
        except ek.Error as e:
            errors.append(e)
        done.set()

    t = threading.Thread(target=query)
    t.start()
    # While the query waits on the silent server, this thread runs Python freely.
    ticks = 0
    start = time.monotonic()
    while not done.is_set() and time.monotonic() - start < 1.0:
        ticks += 1
    assert ticks > 10_000, ticks
    t.join(10)
    assert done.is_set() and errors and isinstance(errors[0], ek.OperationalError)
    assert errors[0].kind == "transport"


def test_ctrl_c_interrupts_a_wait(silent_server):
    code = textwrap.dedent(
        f"""
        import time, epicor_kinetic as ek
        conn = ek.connect("URL={silent_server};ERPInstance=Kinetic;User=u;Password=p;Timeout=60")
        print("ready", flush=True)
        start = time.monotonic()
        try:
            conn.execute("SELECT COUNT(*) FROM Customers")
        except KeyboardInterrupt:
            print("interrupted after %.1f s" % (time.monotonic() - start), flush=True)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    assert "interrupted after" in out, out
    assert float(out.split()[2]) < 10


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
import sys, time, tempfile, epicor_kinetic as ek
from epicor_kinetic import emulator
cfg = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
cfg.write('''
[[faults.rules]]
kind = "latency"
rate = 1.0
path = "/api/v1/Erp.BO.SalesOrderSvc/OrderDtls"
min_ms = 3000
max_ms = 3000
''')
cfg.close()
emu = emulator.start(2000, config=cfg.name)
cur = ek.connect(emu.connection_string("basic")).cursor().execute("SELECT * FROM OrderDtls")
print("ready", flush=True)
start = time.monotonic()
try:
    cur.fetchall() if sys.argv[1] == "fetchall" else cur.fetch_arrow_table()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted after %.1f s" % (time.monotonic() - start), flush=True)
"""


@pytest.mark.parametrize("way", ["fetchall", "arrow"])
def test_ctrl_c_interrupts_a_long_fetch(way):
    # Every page of order lines takes 3 s to come: Ctrl-C after 1 s stops the fetch at once.
    p = subprocess.Popen([sys.executable, "-c", SLOW_FETCH, way], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert "interrupted after" in out, out
    assert float(out.split()[2]) < 2.5, out


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
