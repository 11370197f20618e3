#!/usr/bin/env python3
"""One way of bringing every order line into Python (bench/python.sh runs each in its own process).

Usage: python_fetch.py WAY CONNECTION_STRING REST_V1_BASE
  WAY: fetchall | fetchmany | arrow | arrow_p4 (Parallelism=4) | requests
Prints: rows seconds (the fetch alone, after the import and the connection).
"""

import sys
import time


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
        t0 = time.perf_counter()
        rows, skip = [], 0
        while True:
            r = session.get(url, params={"$top": 100, "$skip": skip, "$orderby": "Company,OrderNum,OrderLine"})
            r.raise_for_status()
            page = r.json()["value"]
            if not page:
                break
            rows.extend(page)
            skip += len(page)
        n = len(rows)
    else:
        import epicor_kinetic

        if way == "arrow_p4":
            cs, way = cs + ";Parallelism=4", "arrow"
        conn = epicor_kinetic.connect(cs)
        cur = conn.cursor()
        t0 = time.perf_counter()
        cur.execute(sql)
        if way == "fetchall":
            n = len(cur.fetchall())
        elif way == "fetchmany":
            n = 0
            while True:
                batch = cur.fetchmany(10_000)
                if not batch:
                    break
                n += len(batch)
        elif way == "arrow":
            n = cur.fetch_arrow_table().num_rows
        else:
            raise SystemExit(f"unknown way {way}")
    print(n, round(time.perf_counter() - t0, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
