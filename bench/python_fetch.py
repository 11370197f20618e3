#!/usr/bin/env python3
"""One way of bringing every order line into Python (bench/python.sh runs each in its own process).

Usage: python_fetch.py WAY CONNECTION_STRING REST_V1_BASE
  WAY: fetchall | fetchmany | arrow | arrow_p4 (Parallelism=4) | requests
Prints: rows seconds fingerprint cpu_seconds. Seconds: the fetch alone, after the import and the
connection (the fingerprint's own time left out); cpu_seconds: the process's CPU time (every thread,
the module's own included) over the same span, for bench/percore.sh (the arrow way: the fingerprint
comes after it). Fingerprint: of the rows' keys (OrderNum, OrderLine), the
same whatever their order (a sum of tuple hashes: ints hash alike in every process), so that
bench/python.sh can check that every way brought the rows the requests loop did.
"""

import sys
import time

MASK = 2**64 - 1


def fingerprint(pairs):
    return sum(hash((int(n), int(line))) & MASK for n, line in pairs) & MASK


def columns(cur):
    names = [d[0] for d in cur.description]
    return names.index("OrderNum"), names.index("OrderLine")


def main() -> int:
    way, cs, base = sys.argv[1], sys.argv[2], sys.argv[3]
    sql = "SELECT * FROM OrderDtls"
    if way == "requests":
        # What users write today: one keep-alive Session, Basic auth, $top/$skip by the key,
        # every row kept (as fetchall keeps them).
        import requests

        session = requests.Session()
        session.auth = ("manager", "Epicor123!")
        session.headers["Accept"] = "application/json"
        url = base.rstrip("/") + "/Erp.BO.SalesOrderSvc/OrderDtls"
        t0, c0 = time.perf_counter(), time.process_time()
        rows, skip = [], 0
        while True:
            r = session.get(url, params={"$top": 100, "$skip": skip, "$orderby": "Company,OrderNum,OrderLine"})
            r.raise_for_status()
            page = r.json()["value"]
            if not page:
                break
            rows.extend(page)
            skip += len(page)
        t1, c1 = time.perf_counter(), time.process_time()
        n, fp, extra = len(rows), fingerprint((r["OrderNum"], r["OrderLine"]) for r in rows), 0.0
    else:
        import epicor_kinetic

        if way == "arrow_p4":
            cs, way = cs + ";Parallelism=4", "arrow"
        conn = epicor_kinetic.connect(cs)
        cur = conn.cursor()
        t0, c0 = time.perf_counter(), time.process_time()
        cur.execute(sql)
        extra = 0.0  # time spent on the fingerprint inside the timed loop, taken out
        if way == "fetchall":
            rows = cur.fetchall()
            t1, c1 = time.perf_counter(), time.process_time()
            i, j = columns(cur)
            n, fp = len(rows), fingerprint((r[i], r[j]) for r in rows)
        elif way == "fetchmany":
            n, fp = 0, 0
            while True:
                batch = cur.fetchmany(10_000)
                if not batch:
                    break
                n += len(batch)
                f0 = time.perf_counter()
                i, j = columns(cur)
                fp = (fp + fingerprint((r[i], r[j]) for r in batch)) & MASK
                extra += time.perf_counter() - f0
            t1, c1 = time.perf_counter(), time.process_time()
        elif way == "arrow":
            table = cur.fetch_arrow_table()
            t1, c1 = time.perf_counter(), time.process_time()
            n, fp = table.num_rows, 0
            for b in table.to_batches():  # a batch at a time: no list of every row
                on, ol = b.column(b.schema.get_field_index("OrderNum")), b.column(b.schema.get_field_index("OrderLine"))
                fp = (fp + fingerprint(zip(on.to_pylist(), ol.to_pylist()))) & MASK
        else:
            raise SystemExit(f"unknown way {way}")
    print(n, round(t1 - t0 - extra, 3), fp, round(c1 - c0, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
