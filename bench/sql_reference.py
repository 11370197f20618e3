#!/usr/bin/env python3
"""The reference answers of bench/sql.sh, computed without the connector.

The emulator's entity sets are read with Python's urllib alone (Basic auth, `$top`/`$skip` pages
ordered by the whole key, until an empty page; a next link is followed if the server sends one),
checked against the server's `$count` and for duplicate keys, and each of sql.sh's queries is
answered here in plain Python (decimal.Decimal sums, Python's sorting): nothing of kinetic's
pager, SQL engine or CSV writer is used, so a wrong answer from `kinetic sql` cannot be matched by
the same mistake on this side.

Usage:
  sql_reference.py fetch STARTUP_LINE_FILE OUT_DIR
      writes OUT_DIR/ref_<query>.csv for every query, and OUT_DIR/ref_keys.txt (the order lines'
      count and key-set fingerprint, for the SELECT * check); prints one summary line
  sql_reference.py compare NAME ACTUAL.csv REFERENCE.csv
      prints "yes" when ACTUAL holds the same header and the same rows in the same order (numbers
      compared as decimals, text exactly), else "NO" and, on stderr, what differs; exits 0 either way
  sql_reference.py all ACTUAL.csv KEYS_FILE
      checks a SELECT * FROM OrderDtls CSV: the reference's row count and key set, no key twice;
      prints "yes" or "NO: why"; exits 0 either way
"""

import base64
import collections
import csv
import decimal
import hashlib
import json
import re
import sys
import time
import urllib.parse
import urllib.request

TOP = 100
ORDER_LINE_KEY = ("Company", "OrderNum", "OrderLine")
CUSTOMER_KEY = ("Company", "CustNum")

# Each query of sql.sh (its SQL is there), answered here. The ORDER BY of every query is a total
# order over the rows it sorts (checked below), so the rows' order is compared too.
QUERIES = ("range", "topn", "groupby", "join", "like")


def fetch(base, auth, entity_set, key, select):
    """Every row of ENTITY_SET (the SELECT columns), paged by $top/$skip over the whole key."""
    url = base + entity_set
    headers = {"Accept": "application/json", "Authorization": auth}
    rows, skip, nxt = [], 0, None
    while True:
        if nxt is None:
            q = urllib.parse.urlencode(
                {"$top": TOP, "$skip": skip, "$orderby": ",".join(key), "$select": ",".join(select)},
                safe="$,")
            page_url = f"{url}?{q}"
        else:
            page_url = nxt
        with urllib.request.urlopen(urllib.request.Request(page_url, headers=headers), timeout=60) as r:
            body = json.load(r)
        page = body["value"]
        if not page:
            break
        rows.extend(page)
        skip += len(page)
        nxt = body.get("@odata.nextLink") or body.get("odata.nextLink")
        if nxt is not None:
            nxt = urllib.parse.urljoin(page_url, nxt)
    with urllib.request.urlopen(urllib.request.Request(url + "/$count", headers=headers), timeout=60) as r:
        count = int(r.read().decode().strip().lstrip("\ufeff"))
    if len(rows) != count:
        sys.exit(f"reference: {entity_set}: read {len(rows)} rows, the server's $count is {count}")
    keys = [tuple(r[k] for k in key) for r in rows]
    if len(set(keys)) != len(keys):
        sys.exit(f"reference: {entity_set}: {len(keys) - len(set(keys))} duplicate keys in the pages read")
    return rows


def dec(v):
    """A JSON number or an OData v1 decimal string, exactly."""
    return decimal.Decimal(str(v))


def total_order(name, rows, sort_key):
    """Sorts rows by sort_key and fails when two rows tie: the query's order would then be free."""
    rows = sorted(rows, key=sort_key)
    for a, b in zip(rows, rows[1:]):
        if sort_key(a) == sort_key(b):
            sys.exit(f"reference: query {name}: its ORDER BY ties on {sort_key(a)!r}: the order is not total")
    return rows


def key_fingerprint(company, order_num, order_line):
    """One order line's key as a 64-bit number, the same in every process (no hash() seed)."""
    text = f"{company}\x1f{order_num}\x1f{order_line}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def answers(lines, customers):
    out = {}
    # range: WHERE OrderNum BETWEEN 5000 AND 5100 ORDER BY OrderNum, OrderLine
    sel = [d for d in lines if 5000 <= d["OrderNum"] <= 5100]
    sel = total_order("range", sel, lambda d: (d["OrderNum"], d["OrderLine"]))
    out["range"] = (["OrderNum", "OrderLine", "PartNum", "DocExtPriceDtl"],
                    [[d["OrderNum"], d["OrderLine"], d["PartNum"], dec(d["DocExtPriceDtl"])] for d in sel])
    # topn: ORDER BY OrderNum DESC, OrderLine DESC LIMIT 10
    sel = total_order("topn", lines, lambda d: (-d["OrderNum"], -d["OrderLine"]))[:10]
    out["topn"] = (["OrderNum", "OrderLine", "DocExtPriceDtl"],
                   [[d["OrderNum"], d["OrderLine"], dec(d["DocExtPriceDtl"])] for d in sel])
    # groupby: COUNT(*), SUM(DocExtPriceDtl) WHERE OrderNum < 20000 GROUP BY PartNum ORDER BY PartNum
    n, s = collections.Counter(), collections.defaultdict(decimal.Decimal)
    for d in lines:
        if d["OrderNum"] < 20000:
            n[d["PartNum"]] += 1
            s[d["PartNum"]] += dec(d["DocExtPriceDtl"])
    out["groupby"] = (["PartNum", "lines", "revenue"], [[p, n[p], s[p]] for p in sorted(n)])
    # join: Customers c JOIN OrderDtls d ON Company and CustNum WHERE c.State = 'MN'
    #       GROUP BY c.Name ORDER BY c.Name, SUM(d.DocExtPriceDtl)
    name = {(c["Company"], c["CustNum"]): c["Name"] for c in customers if c["State"] == "MN"}
    t = collections.defaultdict(decimal.Decimal)
    for d in lines:
        k = (d["Company"], d["CustNum"])
        if k in name:
            t[name[k]] += dec(d["DocExtPriceDtl"])
    out["join"] = (["Name", "total"], [[k, t[k]] for k in sorted(t)])
    # like: WHERE Name LIKE '%Electric%' AND CreditHold = false ORDER BY CustID (LIKE is case-sensitive)
    sel = [c for c in customers if "Electric" in c["Name"] and c["CreditHold"] is False]
    sel = total_order("like", sel, lambda c: c["CustID"])
    out["like"] = (["CustID", "Name"], [[c["CustID"], c["Name"]] for c in sel])
    for q, (_, rows) in out.items():
        if not rows:
            sys.exit(f"reference: query {q} has no rows at this scale: comparing answers would prove nothing")
    return out


def cmd_fetch(startup, out_dir):
    info = json.loads(open(startup, encoding="utf-8").readline())
    user = info["users"][0]
    auth = "Basic " + base64.b64encode(f"{user['user']}:{user['password']}".encode()).decode()
    base = info["url"] + "/" + info["instance"] + "/api/v1/"
    t0 = time.perf_counter()
    lines = fetch(base, auth, "Erp.BO.SalesOrderSvc/OrderDtls", ORDER_LINE_KEY,
                  ORDER_LINE_KEY + ("CustNum", "PartNum", "DocExtPriceDtl"))
    customers = fetch(base, auth, "Erp.BO.CustomerSvc/Customers", CUSTOMER_KEY,
                      CUSTOMER_KEY + ("CustID", "Name", "State", "CreditHold"))
    secs = time.perf_counter() - t0
    for q, (header, rows) in answers(lines, customers).items():
        with open(f"{out_dir}/ref_{q}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    fp = sum(key_fingerprint(d["Company"], d["OrderNum"], d["OrderLine"]) for d in lines) % 2**64
    with open(f"{out_dir}/ref_keys.txt", "w", encoding="utf-8") as f:
        f.write(f"{len(lines)} {fp}\n")
    print(f"reference: {len(lines)} order lines and {len(customers)} customers read by urllib "
          f"($top/$skip pages, checked against $count) in {secs:.2f} s")


NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def cell(v):
    """A CSV cell as compared: a number as its decimal value, text as it is (spaces count)."""
    return ("n", decimal.Decimal(v)) if NUMBER.fullmatch(v) else ("s", v)


def cmd_compare(name, actual, reference):
    def read(path):
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.reader(f))
    try:
        a = read(actual)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        print("NO")
        print(f"  {name}: cannot read {actual}: {e}", file=sys.stderr)
        return 0
    r = read(reference)
    why = None
    if not a:
        why = "no output at all (not even a header)"
    elif a[0] != r[0]:
        why = f"header {a[0]} where the reference has {r[0]}"
    else:
        ar, rr = a[1:], r[1:]
        for i, (x, y) in enumerate(zip(ar, rr)):
            if [cell(v) for v in x] != [cell(v) for v in y]:
                why = f"row {i + 1} is {x}, the reference's is {y}"
                break
        if why is None and len(ar) != len(rr):
            extra = ar[len(rr)] if len(ar) > len(rr) else rr[len(ar)]
            why = (f"{len(ar)} rows where the reference has {len(rr)} (first row only on "
                   f"{'this' if len(ar) > len(rr) else 'the reference'} side: {extra})")
    print("yes" if why is None else "NO")
    if why is not None:
        print(f"  {name}: {actual}: {why}", file=sys.stderr)
    return 0


def cmd_all(actual, keys_file):
    count, fp = (int(x) for x in open(keys_file).read().split())
    try:
        with open(actual, newline="", encoding="utf-8") as f:
            rd = csv.reader(f)
            header = next(rd, [])
            if not all(k in header for k in ORDER_LINE_KEY):
                print(f"NO: no key columns in the header {header[:6]}")
                return 0
            idx = [header.index(k) for k in ORDER_LINE_KEY]
            seen, n, got = set(), 0, 0
            for rec in rd:
                k = key_fingerprint(*(rec[i] for i in idx))
                n += 1
                seen.add(k)
                got = (got + k) % 2**64
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        print(f"NO: cannot read {actual}: {e}")
        return 0
    why = []
    if n != count:
        why.append(f"{n} rows, the reference has {count}")
    if len(seen) != n:
        why.append(f"{n - len(seen)} keys twice")
    if got != fp:
        why.append("another key set than the reference's")
    print("yes" if not why else "NO: " + "; ".join(why))
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fetch":
        return cmd_fetch(*args)
    if cmd == "compare":
        return cmd_compare(*args)
    if cmd == "all":
        return cmd_all(*args)
    sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
