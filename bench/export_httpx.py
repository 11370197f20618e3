#!/usr/bin/env python3
"""A second baseline of bench/export.sh: the export an async-minded Python user writes.

httpx with asyncio and 4 connections: the page count from $count, then the $top/$skip pages fetched
4 at a time (one AsyncClient, keep-alive, max_connections=4) and written in order with
csv.DictWriter (header from the first row's keys, OData annotations left out).

Usage: export_httpx.py REST_V1_BASE ENTITY_SET OUT.csv [--user U] [--password P]
           [--top 100] [--orderby Company,OrderNum,OrderLine] [--connections 4]
Prints the number of rows written on stdout.
"""

import argparse
import asyncio
import csv
import sys

import httpx


async def run(args) -> int:
    url = args.base.rstrip("/") + "/" + args.entity_set
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    async with httpx.AsyncClient(auth=(args.user, args.password), limits=limits, timeout=60,
                                 headers={"Accept": "application/json"}) as client:
        r = await client.get(url + "/$count")
        r.raise_for_status()
        count = int(r.text)
        skips = list(range(0, count, args.top))

        async def page(skip):
            r = await client.get(url, params={"$top": args.top, "$skip": skip, "$orderby": args.orderby})
            r.raise_for_status()
            return r.json()["value"]

        rows = 0
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            writer = None
            for i in range(0, len(skips), args.connections):
                pages = await asyncio.gather(*(page(s) for s in skips[i:i + args.connections]))
                for rows_of_page in pages:
                    if not rows_of_page:
                        continue
                    if writer is None:
                        fields = [k for k in rows_of_page[0] if not k.startswith(("odata.", "@odata."))]
                        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
                        writer.writeheader()
                    writer.writerows(rows_of_page)
                    rows += len(rows_of_page)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("entity_set")
    ap.add_argument("out")
    ap.add_argument("--user", default="manager")
    ap.add_argument("--password", default="Epicor123!")
    ap.add_argument("--top", type=int, default=100)
    ap.add_argument("--orderby", default="Company,OrderNum,OrderLine")
    ap.add_argument("--connections", type=int, default=4)
    print(asyncio.run(run(ap.parse_args())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
