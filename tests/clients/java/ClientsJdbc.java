// pgJDBC (PostgreSQL's JDBC driver, as Java tools, DBeaver and most BI servers use it) against
// `kinetic serve`: a PreparedStatement with a parameter, and the DatabaseMetaData calls that run
// pgJDBC's own catalog queries (getSchemas, getTables, getColumns, getPrimaryKeys,
// getImportedKeys). Each answer is compared with the server's system tables (sys_*), read
// through the same connection, or with SQLite's row that run.sh passes in (-Dexpected.*).
// Prints one line per check and `jdbc: N passed, M failed` last; exits 1 on a failure.

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

public class ClientsJdbc {
  static int passed = 0;
  static int failed = 0;

  interface Check {
    void run() throws Exception;
  }

  static void check(String what, Check c) {
    try {
      c.run();
      passed++;
      System.out.println("ok: " + what);
    } catch (Throwable e) {
      failed++;
      System.out.println("FAILED: " + what + ": " + e);
    }
  }

  static void same(Object want, Object got, String what) {
    if (!Objects.equals(want, got)) {
      throw new AssertionError(what + ": want " + want + ", got " + got);
    }
  }

  /** The rows of a result set, each as a list of its named columns' text. */
  static List<List<String>> rows(ResultSet rs, String... columns) throws SQLException {
    List<List<String>> out = new ArrayList<>();
    try (rs) {
      while (rs.next()) {
        List<String> row = new ArrayList<>();
        for (String c : columns) {
          row.add(rs.getString(c));
        }
        out.add(row);
      }
    }
    return out;
  }

  static List<List<String>> query(Connection c, String sql, String... columns) throws SQLException {
    try (Statement s = c.createStatement()) {
      return rows(s.executeQuery(sql), columns);
    }
  }

  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/kinetic?connectTimeout=10&socketTimeout=120";
    try (Connection c = DriverManager.getConnection(url, "manager", "Epicor123!")) {
      DatabaseMetaData md = c.getMetaData();

      check("a PreparedStatement with an int parameter answers SQLite's row", () -> {
        try (PreparedStatement p =
            c.prepareStatement("SELECT CustNum, Name, CreditLimit FROM Customers WHERE CustNum = ?")) {
          p.setInt(1, Integer.parseInt(System.getProperty("expected.custnum")));
          List<List<String>> got = rows(p.executeQuery(), "CustNum", "Name", "CreditLimit");
          same(List.of(List.of(System.getProperty("expected.custnum"),
              System.getProperty("expected.name"), System.getProperty("expected.creditlimit"))),
              got, "row");
        }
      });

      check("getSchemas: every service's schema (sys_schemas), information_schema, pg_catalog", () -> {
        TreeSet<String> want = new TreeSet<>();
        for (List<String> r : query(c, "SELECT SchemaName FROM sys_schemas", "SchemaName")) {
          want.add(r.get(0));
        }
        want.add("information_schema");
        want.add("pg_catalog");
        TreeSet<String> got = new TreeSet<>();
        for (List<String> r : rows(md.getSchemas(), "TABLE_SCHEM")) {
          got.add(r.get(0));
        }
        same(want, got, "schemas");
      });

      check("getTables(TABLE): the tables of sys_tables", () -> {
        TreeSet<String> want = new TreeSet<>();
        for (List<String> r : query(c,
            "SELECT SchemaName, TableName FROM sys_tables WHERE TableType <> 'VIEW'",
            "SchemaName", "TableName")) {
          want.add(r.get(0) + "." + r.get(1));
        }
        TreeSet<String> got = new TreeSet<>();
        for (List<String> r : rows(md.getTables(null, null, "%", new String[] {"TABLE"}),
            "TABLE_SCHEM", "TABLE_NAME")) {
          got.add(r.get(0) + "." + r.get(1));
        }
        same(want, got, "tables");
      });

      check("getColumns(Customers): sys_tablecolumns' names, order, nullability, numeric types", () -> {
        List<List<String>> want = query(c,
            "SELECT ColumnName, CASE WHEN IsNullable THEN 'YES' ELSE 'NO' END AS n, DataTypeName, "
                + "NumericPrecision, NumericScale FROM sys_tablecolumns "
                + "WHERE TableName = 'Customers' ORDER BY Ordinal",
            "ColumnName", "n", "DataTypeName", "NumericPrecision", "NumericScale");
        List<List<String>> got = new ArrayList<>();
        try (ResultSet rs = md.getColumns(null, null, "Customers", "%")) {
          while (rs.next()) {
            boolean numeric = rs.getInt("DATA_TYPE") == Types.NUMERIC;
            got.add(List.of(rs.getString("COLUMN_NAME"), rs.getString("IS_NULLABLE"),
                numeric ? rs.getString("COLUMN_SIZE") + "," + rs.getString("DECIMAL_DIGITS") : "-"));
          }
        }
        List<List<String>> expect = new ArrayList<>();
        for (List<String> w : want) {
          expect.add(List.of(w.get(0), w.get(1),
              w.get(2).equals("decimal") ? w.get(3) + "," + w.get(4) : "-"));
        }
        same(expect, got, "columns");
      });

      check("getPrimaryKeys(Erp.BO.CustomerSvc, Customers): sys_primarykeys in key order", () -> {
        List<List<String>> want = query(c,
            "SELECT ColumnName, CAST(KeySeq AS VARCHAR) AS seq, KeyName FROM sys_primarykeys "
                + "WHERE SchemaName = 'Erp.BO.CustomerSvc' AND TableName = 'Customers' ORDER BY KeySeq",
            "ColumnName", "seq", "KeyName");
        List<List<String>> got = rows(md.getPrimaryKeys(null, "Erp.BO.CustomerSvc", "Customers"),
            "COLUMN_NAME", "KEY_SEQ", "PK_NAME");
        if (want.isEmpty()) {
          throw new AssertionError("sys_primarykeys has no key for Customers");
        }
        same(want, got, "primary key");
      });

      check("getImportedKeys(Erp.BO.SalesOrderSvc, OrderDtls): sys_foreignkeys' imported side", () -> {
        List<List<String>> want = query(c,
            "SELECT ReferencedTableName, ReferencedColumnName, ColumnName, ForeignKeyName, "
                + "PrimaryKeyName FROM sys_foreignkeys WHERE SchemaName = 'Erp.BO.SalesOrderSvc' "
                + "AND TableName = 'OrderDtls' AND ForeignKeyType = 'FOREIGNKEY_TYPE_IMPORT'",
            "ReferencedTableName", "ReferencedColumnName", "ColumnName", "ForeignKeyName",
            "PrimaryKeyName");
        if (want.isEmpty()) {
          throw new AssertionError("sys_foreignkeys has no navigation of OrderDtls");
        }
        List<List<String>> got = rows(md.getImportedKeys(null, "Erp.BO.SalesOrderSvc", "OrderDtls"),
            "PKTABLE_NAME", "PKCOLUMN_NAME", "FKCOLUMN_NAME", "FK_NAME", "PK_NAME");
        same(new TreeSet<>(want.stream().map(Object::toString).toList()),
            new TreeSet<>(got.stream().map(Object::toString).toList()), "imported keys");
        same(want.size(), got.size(), "imported key columns");
      });
    }
    System.out.println("jdbc: " + passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }
}
