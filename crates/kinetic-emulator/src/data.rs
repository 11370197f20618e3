//! The deterministic demo data set: the same seed and scale give the same rows, byte for byte.

use crate::config::{Collation, EmulatorConfig};
use crate::model::{ColType, TABLES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::{params, Connection};

/// Version of the generator and schema; a kept database (`--db`) of another version is regenerated.
pub const DATA_VERSION: &str = "4";

/// What generation produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataSummary {
    pub customers: u64,
    pub ship_tos: u64,
    pub parts: u64,
    pub vendors: u64,
    pub orders: u64,
    pub order_lines: u64,
    pub order_releases: u64,
}

/// Creates the schema (tables, indexes, meta table) on an empty database, its text columns
/// compared as `collation` says (so keys and indexes follow it).
pub fn create_schema(conn: &Connection, collation: Collation) -> rusqlite::Result<()> {
    let mut ddl = String::new();
    for t in TABLES {
        ddl.push_str(&format!("CREATE TABLE \"{}\" (", t.name));
        for c in t.columns {
            let null = if c.nullable { "" } else { " NOT NULL" };
            let check = match c.ty {
                ColType::String { .. } => format!(
                    " COLLATE {1} CHECK (typeof(\"{0}\") IN ('text','null'))",
                    c.name,
                    collation.sql_name()
                ),
                _ => String::new(),
            };
            ddl.push_str(&format!(
                "\"{}\" {}{}{}, ",
                c.name,
                c.ty.sql_type(),
                null,
                check
            ));
        }
        let key: Vec<String> = t.key.iter().map(|k| format!("\"{k}\"")).collect();
        ddl.push_str(&format!(
            "PRIMARY KEY ({})) WITHOUT ROWID;\n",
            key.join(", ")
        ));
    }
    ddl.push_str(
        "CREATE UNIQUE INDEX Customer_CustID ON Customer (Company, CustID);
         CREATE INDEX OrderHed_Cust ON OrderHed (Company, CustNum);
         CREATE INDEX OrderDtl_Part ON OrderDtl (Company, PartNum);
         CREATE UNIQUE INDEX Vendor_VendorID ON Vendor (Company, VendorID);
         CREATE TABLE _emulator (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    );
    conn.execute_batch(&ddl)
}

const FIRST: &[&str] = &[
    "Addison",
    "Dalton",
    "O'Brien",
    "Harper",
    "Keystone",
    "Summit",
    "Riverside",
    "Northwind",
    "Granite",
    "Pioneer",
    "Atlas",
    "Beacon",
    "Cedar",
    "Frontier",
    "Lakeshore",
    "Maple",
    "Orion",
    "Prairie",
    "Redwood",
    "Sterling",
    "Valley",
    "Westfield",
    "Zenith",
    "Ironwood",
    "Bluewater",
    "Crescent",
];
const SECOND: &[&str] = &[
    "Precision",
    "Machine",
    "Tool",
    "Fabrication",
    "Supply",
    "Industrial",
    "Metal",
    "Plastics",
    "Electric",
    "Components",
    "Engineering",
    "Manufacturing",
    "Distribution",
    "Hydraulics",
];
const SUFFIX: &[&str] = &["Inc", "LLC", "Co", "Corp", "Ltd", "Group"];
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("Minneapolis", "MN", "55401", "USA"),
    ("St. Paul", "MN", "55101", "USA"),
    ("Chicago", "IL", "60601", "USA"),
    ("Dallas", "TX", "75201", "USA"),
    ("Austin", "TX", "73301", "USA"),
    ("Denver", "CO", "80202", "USA"),
    ("Seattle", "WA", "98101", "USA"),
    ("Portland", "OR", "97201", "USA"),
    ("Atlanta", "GA", "30301", "USA"),
    ("Boston", "MA", "02108", "USA"),
    ("Cleveland", "OH", "44101", "USA"),
    ("Detroit", "MI", "48201", "USA"),
    ("Phoenix", "AZ", "85001", "USA"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("Monterrey", "NL", "64000", "Mexico"),
];
const PART_WORDS: &[&str] = &[
    "Bracket", "Bearing", "Gear", "Shaft", "Housing", "Valve", "Bolt", "Spring", "Gasket", "Panel",
    "Sensor", "Bushing", "Coupling", "Flange", "Pulley",
];
const MATERIALS: &[&str] = &["Steel", "Aluminum", "Brass", "Nylon", "Titanium", "Copper"];
/// The terms codes of every company (Customer, Vendor and OrderHed TermsCode must be one of them).
pub const TERMS: &[&str] = &["N30", "N45", "N60", "COD"];

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn guid(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Days since 1970-01-01 to `YYYY-MM-DD`.
fn date(days: i64) -> String {
    let d = chrono::DateTime::from_timestamp(days * 86_400, 0)
        .expect("date in range")
        .date_naive();
    d.format("%Y-%m-%d").to_string()
}

/// 2023-01-01 as days since the epoch.
const DAY0: i64 = 19_358;

/// Fills an empty schema with demo data for every configured company. `scale` order lines in all,
/// three quarters in the first company. Runs in one transaction.
pub fn generate(conn: &mut Connection, config: &EmulatorConfig) -> rusqlite::Result<DataSummary> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let tidy = config.tidy;
    let mut sum = DataSummary::default();
    let tx = conn.transaction()?;
    {
        let companies = config.company_ids();
        let n = companies.len() as u64;
        let mut cust = tx.prepare(
            "INSERT INTO Customer VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,1,?18)",
        )?;
        let mut ship =
            tx.prepare("INSERT INTO ShipTo VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,1,?10)")?;
        let mut part = tx.prepare("INSERT INTO Part VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,1,?10)")?;
        let mut vend =
            tx.prepare("INSERT INTO Vendor VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,1,?12)")?;
        let mut hed = tx.prepare(
            "INSERT INTO OrderHed VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,1,?13)",
        )?;
        let mut dtl =
            tx.prepare("INSERT INTO OrderDtl VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,1,?12)")?;
        let mut rel =
            tx.prepare("INSERT INTO OrderRel VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,1,?10)")?;

        for (ci, company) in companies.iter().enumerate() {
            // Three quarters of the lines in the first company, the rest shared among the others.
            let lines_here = if n == 1 {
                config.scale
            } else if ci == 0 {
                config.scale - config.scale / 4
            } else {
                let rest = config.scale / 4;
                rest / (n - 1) + u64::from(((ci - 1) as u64) < rest % (n - 1))
            };
            let orders_est = lines_here / 4 + 1;
            let n_customers = (orders_est / 15).clamp(60, 25_000);
            let n_parts = 100 + lines_here / 10_000;
            let n_vendors = 40;

            // Parts.
            let mut parts: Vec<(String, i64)> = Vec::with_capacity(n_parts as usize);
            for p in 0..n_parts {
                let word = pick(&mut rng, PART_WORDS);
                let mat = pick(&mut rng, MATERIALS);
                let part_num = format!("{}-{:04}", &word[..3].to_uppercase(), p + 1);
                let price_cents: i64 = rng.random_range(150..250_000);
                let weight_cg: i64 = rng.random_range(10..50_000);
                part.execute(params![
                    company,
                    part_num,
                    format!("{mat} {word} {}mm", rng.random_range(5..200)),
                    if p % 3 == 0 { "ASM" } else { "RAW" },
                    if p % 3 == 0 { "M" } else { "P" },
                    "EA",
                    price_cents as f64 / 100.0,
                    weight_cg as f64 / 100.0,
                    rng.random_bool(0.05),
                    guid(&mut rng),
                ])?;
                parts.push((part_num, price_cents));
            }
            sum.parts += n_parts;

            // Customers and their ship-tos.
            let mut ship_tos: Vec<Vec<String>> = Vec::with_capacity(n_customers as usize);
            for c in 1..=n_customers {
                let first = pick(&mut rng, FIRST);
                let name = format!(
                    "{first} {} {}",
                    pick(&mut rng, SECOND),
                    pick(&mut rng, SUFFIX)
                );
                let cust_id: String = first
                    .chars()
                    .filter(|ch| ch.is_ascii_alphabetic())
                    .take(5)
                    .collect::<String>()
                    .to_uppercase()
                    + &format!("{c:04}");
                let (city, state, zip, country) = PLACES[rng.random_range(0..PLACES.len())];
                let resale = if rng.random_bool(0.5) {
                    Some(format!("RS-{:06}", rng.random_range(0..1_000_000)))
                } else {
                    None
                };
                let address = format!(
                    "{} {} Street",
                    rng.random_range(1..9999),
                    pick(&mut rng, FIRST)
                );
                // Real string columns can be null: every 11th phone and every 7th e-mail, by
                // number (no dice) so that filters and $count stay exact and the rest of the data
                // is the same as the tidy data set's.
                let phone = Some(format!("555-{:04}", rng.random_range(0..10_000)))
                    .filter(|_| tidy || c % 11 != 0);
                let email = Some(format!(
                    "orders@{}.example",
                    first.to_lowercase().replace('\'', "")
                ))
                .filter(|_| tidy || c % 7 != 0);
                cust.execute(params![
                    company,
                    c as i64,
                    cust_id,
                    name,
                    address,
                    city,
                    state,
                    zip,
                    country,
                    phone,
                    email,
                    if rng.random_bool(0.8) { "CUS" } else { "PRO" },
                    pick(&mut rng, TERMS),
                    rng.random_bool(0.1),
                    (rng.random_range(0..=200) * 500) as f64,
                    date(DAY0 - rng.random_range(0..3650)),
                    resale,
                    guid(&mut rng),
                ])?;
                let k = rng.random_range(0..=3);
                let mut nums = Vec::with_capacity(k);
                for st in 0..k {
                    let (city, state, zip, country) = PLACES[rng.random_range(0..PLACES.len())];
                    let num = if st == 0 {
                        String::new()
                    } else {
                        format!("{st:03}")
                    };
                    ship.execute(params![
                        company,
                        c as i64,
                        num,
                        format!("{name} - {city}"),
                        format!("{} Dock Road", rng.random_range(1..999)),
                        city,
                        state,
                        zip,
                        country,
                        guid(&mut rng),
                    ])?;
                    nums.push(num);
                }
                sum.ship_tos += k as u64;
                ship_tos.push(nums);
            }
            sum.customers += n_customers;

            for v in 1..=n_vendors {
                let (city, state, zip, country) = PLACES[rng.random_range(0..PLACES.len())];
                let first = pick(&mut rng, FIRST);
                vend.execute(params![
                    company,
                    v as i64,
                    format!("V{v:05}"),
                    format!(
                        "{first} {} {}",
                        pick(&mut rng, SECOND),
                        pick(&mut rng, SUFFIX)
                    ),
                    format!("{} Industrial Park", rng.random_range(1..999)),
                    city,
                    state,
                    zip,
                    country,
                    pick(&mut rng, TERMS),
                    rng.random_bool(0.05),
                    guid(&mut rng),
                ])?;
            }
            sum.vendors += n_vendors;

            // Orders, lines, releases.
            let mut remaining = lines_here;
            let mut order_num: i64 = 5000;
            while remaining > 0 {
                order_num += 1;
                let lines = (rng.random_range(1..=7) as u64).min(remaining);
                remaining -= lines;
                let cust_num = rng.random_range(1..=n_customers);
                let st = &ship_tos[(cust_num - 1) as usize];
                let ship_to = if st.is_empty() {
                    String::new()
                } else {
                    st[rng.random_range(0..st.len())].clone()
                };
                let order_day = DAY0 + rng.random_range(0..1400);
                let req_day = order_day + rng.random_range(7..60);
                let open = order_day > DAY0 + 1200 || rng.random_bool(0.1);
                let mut amount_cents: i64 = 0;
                for line in 1..=lines as i64 {
                    let (part_num, price_cents) = &parts[rng.random_range(0..parts.len())];
                    let qty: i64 = rng.random_range(1..=100);
                    let ext = qty * price_cents;
                    amount_cents += ext;
                    dtl.execute(params![
                        company,
                        order_num,
                        line,
                        cust_num as i64,
                        part_num,
                        format!("{part_num} line {line}"),
                        qty as f64,
                        *price_cents as f64 / 100.0,
                        ext as f64 / 100.0,
                        date(req_day),
                        open,
                        guid(&mut rng),
                    ])?;
                    let rels = if rng.random_bool(0.2) { 2 } else { 1 };
                    for r in 1..=rels {
                        let q = if rels == 1 {
                            qty
                        } else if r == 1 {
                            qty / 2
                        } else {
                            qty - qty / 2
                        };
                        rel.execute(params![
                            company,
                            order_num,
                            line,
                            r,
                            date(req_day + (r - 1) * 7),
                            q as f64,
                            ship_to,
                            rng.random_bool(0.7),
                            open,
                            guid(&mut rng),
                        ])?;
                    }
                    sum.order_releases += rels as u64;
                }
                let need_by = if rng.random_bool(0.3) {
                    None
                } else {
                    Some(date(req_day + 14))
                };
                // Every 9th order has no PO number (null), unless tidy.
                let po = Some(format!("PO-{}", rng.random_range(10_000..99_999)))
                    .filter(|_| tidy || order_num % 9 != 0);
                hed.execute(params![
                    company,
                    order_num,
                    cust_num as i64,
                    po,
                    date(order_day),
                    date(req_day),
                    need_by,
                    ship_to,
                    pick(&mut rng, TERMS),
                    if ci == 0 { "USD" } else { "EUR" },
                    open,
                    amount_cents as f64 / 100.0,
                    guid(&mut rng),
                ])?;
                sum.orders += 1;
                sum.order_lines += lines;
            }
        }
        tx.execute(
            "INSERT INTO _emulator VALUES ('version', ?1), ('scale', ?2), ('seed', ?3), ('collation', ?4)",
            params![
                DATA_VERSION,
                config.scale.to_string(),
                config.seed.to_string(),
                config.collation.as_str()
            ],
        )?;
    }
    tx.commit()?;
    Ok(sum)
}

/// The `(version, scale, seed, collation)` a kept database was generated with, if it is one of
/// ours.
pub fn stored_generation(conn: &Connection) -> Option<(String, u64, u64, Collation)> {
    let get = |k: &str| -> Option<String> {
        conn.query_row("SELECT value FROM _emulator WHERE key = ?1", [k], |r| {
            r.get(0)
        })
        .ok()
    };
    Some((
        get("version")?,
        get("scale")?.parse().ok()?,
        get("seed")?.parse().ok()?,
        Collation::parse(&get("collation")?)?,
    ))
}
