#!/usr/bin/env bash
# Starts the embedded Epicor emulator, shows what it serves with a few real REST calls, and stops it.
# Usage: bash scripts/demo.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
# KINETIC_DEMO_PROFILE=debug reuses the test build (scripts/test.sh runs the demo that way).
if [ "${KINETIC_DEMO_PROFILE:-release}" = debug ]; then
  cargo build -q -p kinetic-cli
  bin=target/debug/kinetic
else
  cargo build --release -q -p kinetic-cli
  bin=target/release/kinetic
fi
out=$(mktemp); trap 'kill $pid 2>/dev/null || true; rm -f "$out" "$out.body" "$out.pretty"' EXIT
"$bin" emulator --port 0 >"$out" 2>/dev/null & pid=$!
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
info=$(head -n1 "$out")
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval("d"+sys.argv[2]))' "$info" "$1"; }
url=$(field '["url"]'); inst=$(field '["instance"]'); key=$(field '["api_key"]')
user=$(field '["users"][0]["user"]'); pass=$(field '["users"][0]["password"]')
base="$url/$inst"
# Shows a call's answer, pretty-printed and cut to 25 lines (the cut must not fail the script).
show() {
  echo; echo "\$ $1"; shift
  curl -sS "$@" > "$out.body"
  python3 -m json.tool < "$out.body" > "$out.pretty" || cat "$out.body" > "$out.pretty"
  head -n 25 "$out.pretty"
}

echo "The emulator's start-up line (everything a script needs):"
echo "$info" | python3 -m json.tool
show "GET v1 customers in Minnesota (OData v3 envelope)" -u "$user:$pass" \
  "$base/api/v1/Erp.BO.CustomerSvc/Customers?\$filter=State%20eq%20'MN'&\$select=CustNum,CustID,Name,CreditLimit&\$top=3"
show "GET v2 one sales order with its lines (\$expand)" -u "$user:$pass" -H "x-api-key: $key" \
  "$base/api/v2/odata/EPIC06/Erp.BO.SalesOrderSvc/SalesOrders('EPIC06',5001)?\$select=OrderNum,OrderDate,OrderAmt&\$expand=OrderDtls(\$select=OrderLine,PartNum,OrderQty)"
show "POST a BO method: GetList with a whereClause" -u "$user:$pass" -H 'content-type: application/json' \
  -d '{"whereClause":"CreditHold = true BY Name","pageSize":3,"absolutePage":1}' "$base/api/v1/Erp.BO.CustomerSvc/GetList"
show "GET a BAQ with \$filter" -u "$user:$pass" -H "x-api-key: $key" \
  "$base/api/v2/odata/EPIC06/BaqSvc/zPartSales/Data?\$orderby=Calculated_Revenue%20desc&\$top=3"
show "POST an Epicor Function" -u "$user:$pass" -H "x-api-key: $key" -H 'content-type: application/json' \
  -d '{"OrderNum":5001}' "$base/api/v2/efx/staging/EPIC06/CustomerTools/OrderSummary"
show "An error, in Epicor's shape" -u "$user:$pass" "$base/api/v1/Erp.BO.CustomerSvc/Customers?\$filter=Name%20eq%20'x'%20and%20(CustNum%20gt%201"
