// node-postgres (npm `pg`, the driver of Node.js applications and of tools built on it) against
// `kinetic serve`: a query with a `$1` parameter answers the rows SQLite holds (run.sh writes
// them to KINETIC_EXPECTED from the emulator's database), and a write is refused with SQLSTATE
// 25006. Run by run.sh with node's own test runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import pg from 'pg';

const expected = JSON.parse(fs.readFileSync(process.env.KINETIC_EXPECTED, 'utf8'));

async function connect () {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: Number(process.env.KINETIC_PG_PORT),
    database: 'kinetic',
    user: 'manager',
    password: 'Epicor123!',
    connectionTimeoutMillis: 10000,
    query_timeout: 60000
  });
  await client.connect();
  return client;
}

test('a $1 parameter answers the rows SQLite holds', async () => {
  const client = await connect();
  try {
    const result = await client.query(
      'SELECT CustNum, CustID, Name, CreditLimit FROM Customers WHERE CustNum <= $1 ORDER BY CustNum',
      [expected.upTo]
    );
    assert.ok(expected.customers.length > 0);
    // numeric comes as its exact text, which SQLite's value written to the column's scale equals.
    assert.deepEqual(
      result.rows.map(r => [r.CustNum, r.CustID, r.Name, r.CreditLimit]),
      expected.customers
    );
    const byText = await client.query('SELECT CustNum FROM Customers WHERE CustID = $1', [expected.customers[0][1]]);
    assert.deepEqual(byText.rows, [{ CustNum: expected.customers[0][0] }]);
  } finally {
    await client.end();
  }
});

test('a write is refused with SQLSTATE 25006 and the session goes on', async () => {
  const client = await connect();
  try {
    await assert.rejects(
      client.query('UPDATE Customers SET City = $1 WHERE CustNum = $2', ['X', 1]),
      e => e.code === '25006' && /read-only/.test(e.message)
    );
    const after = await client.query('SELECT CustNum FROM Customers WHERE CustNum = $1', [expected.customers[0][0]]);
    assert.deepEqual(after.rows, [{ CustNum: expected.customers[0][0] }]);
  } finally {
    await client.end();
  }
});
