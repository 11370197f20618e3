#!/usr/bin/env python3
"""The baseline of bench/export.sh: an Epicor export as users write it today.

A plain `requests` loop: one Session (keep-alive) with Basic auth, paging an entity set with
$top/$skip ordered by its key until a page comes back empty, and writing CSV with csv.DictWriter
(header from the first row's keys, OData annotations such as "odata.metadata" left out).
Deliberately unoptimised: this is the code the connector is compared with, not a rival to it.

Usage: export_requests.py REST_V1_BASE ENTITY_SET OUT.csv [--user U] [--password P]
           [--top 100] [--orderby Company,OrderNum,OrderLine]
  e.g. export_requests.py http://127.0.0.1:8040/Kinetic/api/v1/ Erp.BO.SalesOrderSvc/OrderDtls out.csv
Prints the number of rows written on stdout.
"""

import argparse
import csv
import sys

import requests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="REST v1 base URL, e.g. http://host/Kinetic/api/v1/")
    ap.add_argument("entity_set", help="Service/EntitySet, e.g. Erp.BO.SalesOrderSvc/OrderDtls")
    ap.add_argument("out", help="CSV file to write")
    ap.add_argument("--user", default="manager")
    ap.add_argument("--password", default="Epicor123!")
    ap.add_argument("--top", type=int, default=100, help="page size (Epicor caps pages at ~100)")
    ap.add_argument("--orderby", default="Company,OrderNum,OrderLine", help="the entity's key")
    args = ap.parse_args()

    url = args.base.rstrip("/") + "/" + args.entity_set
    session = requests.Session()
    session.auth = (args.user, args.password)
    session.headers["Accept"] = "application/json"

    rows = 0
    skip = 0
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = None
        while True:
            r = session.get(url, params={"$top": args.top, "$skip": skip, "$orderby": args.orderby})
            r.raise_for_status()
            page = r.json()["value"]
            if not page:
                break
            if writer is None:
                fields = [k for k in page[0] if not k.startswith(("odata.", "@odata."))]
                writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
            writer.writerows(page)
            rows += len(page)
            skip += len(page)
    print(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
