//! The emulator's data model: ONE description of every table, entity set, service and BO method, from
//! which the SQLite schema, the `$metadata` documents, the OpenAPI documents, the OData-to-SQL compiler
//! and the method handlers all read.

use epicor_kinetic_odata::csdl::{self, EdmType};

/// How a column is typed on the wire and stored in SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// `Edm.String`, stored as TEXT.
    String { max_len: u32 },
    /// `Edm.Int32`, stored as INTEGER.
    Int32,
    /// `Edm.Int64`, stored as INTEGER.
    Int64,
    /// `Edm.Decimal`, stored as REAL and always printed with exactly `scale` decimals. The emulator
    /// refuses values with more than 15 significant digits, so REAL storage is exact for what it holds.
    Decimal { precision: u32, scale: u32 },
    /// `Edm.Boolean`, stored as INTEGER 0/1.
    Boolean,
    /// A calendar date, stored as TEXT `YYYY-MM-DD`, served as Epicor does: `2025-01-31T00:00:00`
    /// (declared `Edm.DateTimeOffset` in v4 metadata and `Edm.DateTime` in v3, as the time part shows).
    Date,
    /// `Edm.Guid`, stored as lower-case TEXT.
    Guid,
}

impl ColType {
    /// The SQLite column affinity.
    pub fn sql_type(self) -> &'static str {
        match self {
            ColType::String { .. } | ColType::Date | ColType::Guid => "TEXT",
            ColType::Int32 | ColType::Int64 | ColType::Boolean => "INTEGER",
            ColType::Decimal { .. } => "REAL",
        }
    }

    /// The EDM type as declared in `$metadata`.
    pub fn edm(self) -> EdmType {
        match self {
            ColType::String { .. } => EdmType::String,
            ColType::Int32 => EdmType::Int32,
            ColType::Int64 => EdmType::Int64,
            ColType::Decimal { .. } => EdmType::Decimal,
            ColType::Boolean => EdmType::Boolean,
            ColType::Date => EdmType::DateTimeOffset,
            ColType::Guid => EdmType::Guid,
        }
    }

    /// A short name for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            ColType::String { .. } => "Edm.String",
            ColType::Int32 => "Edm.Int32",
            ColType::Int64 => "Edm.Int64",
            ColType::Decimal { .. } => "Edm.Decimal",
            ColType::Boolean => "Edm.Boolean",
            ColType::Date => "Edm.DateTimeOffset (date)",
            ColType::Guid => "Edm.Guid",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    /// A SQL Server CHAR(n) column: served space-padded to its length (unless `tidy`), stored and
    /// compared without the padding, as SQL Server compares CHAR values.
    pub fixed: bool,
}

impl Column {
    /// A column that is not nullable and not CHAR.
    pub const fn new(name: &'static str, ty: ColType) -> Column {
        Column {
            name,
            ty,
            nullable: false,
            fixed: false,
        }
    }
}

const fn col(name: &'static str, ty: ColType) -> Column {
    Column::new(name, ty)
}
const fn nullable(name: &'static str, ty: ColType) -> Column {
    Column {
        nullable: true,
        ..Column::new(name, ty)
    }
}
/// A short code column kept as CHAR(n) (TermsCode, CurrencyCode, ClassID): the columns real
/// servers were seen padding are codes like these; keys are never padded (they are positional).
const fn code(name: &'static str, len: u32) -> Column {
    Column {
        fixed: true,
        ..Column::new(name, ColType::String { max_len: len })
    }
}
const fn s(n: u32) -> ColType {
    ColType::String { max_len: n }
}
const fn dec(precision: u32, scale: u32) -> ColType {
    ColType::Decimal { precision, scale }
}
const I32: ColType = ColType::Int32;
const I64: ColType = ColType::Int64;
const BOOL: ColType = ColType::Boolean;
const DATE: ColType = ColType::Date;
const GUID: ColType = ColType::Guid;

/// A database table, named as Epicor names it (`Customer`, `OrderHed`, ...).
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// Key columns, in Epicor's positional key order (Company first).
    pub key: &'static [&'static str],
    pub columns: &'static [Column],
    /// Columns of the `GetList` result (`{Table}List`).
    pub list_columns: &'static [&'static str],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// The OData entity type name (`CustomerRow`), as Epicor's `Erp.Tablesets` namespace has it.
    pub fn entity_type(&self) -> String {
        format!("{}Row", self.name)
    }
    pub fn key_columns(&self) -> impl Iterator<Item = &'static Column> + '_ {
        self.key
            .iter()
            .map(|k| self.column(k).expect("key column declared"))
    }
}

pub static CUSTOMER: Table = Table {
    name: "Customer",
    key: &["Company", "CustNum"],
    columns: &[
        col("Company", s(8)),
        col("CustNum", I32),
        col("CustID", s(10)),
        col("Name", s(50)),
        col("Address1", s(50)),
        col("City", s(50)),
        col("State", s(50)),
        col("Zip", s(10)),
        col("Country", s(50)),
        nullable("PhoneNum", s(20)),
        nullable("EMailAddress", s(50)),
        col("CustomerType", s(3)),
        code("TermsCode", 4),
        col("CreditHold", BOOL),
        col("CreditLimit", dec(17, 3)),
        col("EstDate", DATE),
        nullable("ResaleID", s(20)),
        col("SysRevID", I64),
        col("SysRowID", GUID),
    ],
    list_columns: &[
        "Company",
        "CustNum",
        "CustID",
        "Name",
        "City",
        "State",
        "CreditHold",
    ],
};

pub static SHIPTO: Table = Table {
    name: "ShipTo",
    key: &["Company", "CustNum", "ShipToNum"],
    columns: &[
        col("Company", s(8)),
        col("CustNum", I32),
        col("ShipToNum", s(14)),
        col("Name", s(50)),
        col("Address1", s(50)),
        col("City", s(50)),
        col("State", s(50)),
        col("Zip", s(10)),
        col("Country", s(50)),
        col("SysRevID", I64),
        col("SysRowID", GUID),
    ],
    list_columns: &["Company", "CustNum", "ShipToNum", "Name", "City", "State"],
};

pub static PART: Table = Table {
    name: "Part",
    key: &["Company", "PartNum"],
    columns: &[
        col("Company", s(8)),
        col("PartNum", s(50)),
        col("PartDescription", s(100)),
        code("ClassID", 4),
        col("TypeCode", s(1)),
        col("IUM", s(6)),
        col("UnitPrice", dec(17, 5)),
        col("NetWeight", dec(17, 5)),
        col("InActive", BOOL),
        col("SysRevID", I64),
        col("SysRowID", GUID),
    ],
    list_columns: &[
        "Company",
        "PartNum",
        "PartDescription",
        "TypeCode",
        "UnitPrice",
    ],
};

pub static ORDERHED: Table = Table {
    name: "OrderHed",
    key: &["Company", "OrderNum"],
    columns: &[
        col("Company", s(8)),
        col("OrderNum", I32),
        col("CustNum", I32),
        nullable("PONum", s(50)),
        col("OrderDate", DATE),
        col("RequestDate", DATE),
        nullable("NeedByDate", DATE),
        col("ShipToNum", s(14)),
        code("TermsCode", 4),
        code("CurrencyCode", 4),
        col("OpenOrder", BOOL),
        col("OrderAmt", dec(17, 3)),
        col("SysRevID", I64),
        col("SysRowID", GUID),
    ],
    list_columns: &[
        "Company",
        "OrderNum",
        "CustNum",
        "PONum",
        "OrderDate",
        "OpenOrder",
        "OrderAmt",
    ],
};

pub static ORDERDTL: Table = Table {
    name: "OrderDtl",
    key: &["Company", "OrderNum", "OrderLine"],
    columns: &[
        col("Company", s(8)),
        col("OrderNum", I32),
        col("OrderLine", I32),
        // The order header's customer, as Epicor keeps it on every line (set from the header).
        col("CustNum", I32),
        col("PartNum", s(50)),
        col("LineDesc", s(1000)),
        col("OrderQty", dec(22, 8)),
        col("UnitPrice", dec(17, 5)),
        col("DocExtPriceDtl", dec(17, 3)),
        col("RequestDate", DATE),
        col("OpenLine", BOOL),
        col("SysRevID", I64),
        col("SysRowID", GUID),
    ],
    list_columns: &[
        "Company",
        "OrderNum",
        "OrderLine",
        "PartNum",
        "OrderQty",
        "UnitPrice",
    ],
};

pub static ORDERREL: Table = Table {
    name: "OrderRel",
    key: &["Company", "OrderNum", "OrderLine", "OrderRelNum"],
    columns: &[
        col("Company", s(8)),
        col("OrderNum", I32),
        col("OrderLine", I32),
        col("OrderRelNum", I32),
        col("ReqDate", DATE),
        col("OurReqQty", dec(22, 8)),
        col("ShipToNum", s(14)),
        col("FirmRelease", BOOL),
        col("OpenRelease", BOOL),
        col("SysRevID", I64),
        col("SysRowID", GUID),
    ],
    list_columns: &[
        "Company",
        "OrderNum",
        "OrderLine",
        "OrderRelNum",
        "ReqDate",
        "OurReqQty",
    ],
};

pub static VENDOR: Table = Table {
    name: "Vendor",
    key: &["Company", "VendorNum"],
    columns: &[
        col("Company", s(8)),
        col("VendorNum", I32),
        col("VendorID", s(8)),
        col("Name", s(50)),
        col("Address1", s(50)),
        col("City", s(50)),
        col("State", s(50)),
        col("ZIP", s(10)),
        col("Country", s(50)),
        code("TermsCode", 4),
        col("Inactive", BOOL),
        col("SysRevID", I64),
        col("SysRowID", GUID),
    ],
    list_columns: &["Company", "VendorNum", "VendorID", "Name", "City"],
};

/// Every table, in creation order.
pub static TABLES: &[&Table] = &[
    &CUSTOMER, &SHIPTO, &PART, &ORDERHED, &ORDERDTL, &ORDERREL, &VENDOR,
];

/// A navigation from one entity set to a child collection: parent key columns equal child columns.
#[derive(Debug)]
pub struct Navigation {
    pub name: &'static str,
    pub target: &'static str,
    /// `(parent column, child column)` pairs.
    pub on: &'static [(&'static str, &'static str)],
}

/// An OData entity set over a table.
#[derive(Debug)]
pub struct EntitySet {
    pub name: &'static str,
    pub table: &'static Table,
    pub navigations: &'static [Navigation],
}

/// An Epicor business-object service (`Erp.BO.CustomerSvc`).
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    /// The primary entity set; the first of `entity_sets`.
    pub entity_sets: &'static [EntitySet],
    /// The dataset (tableset) name in method payloads (`CustomerTableset`).
    pub tableset: &'static str,
    /// The camelCase parameter names of `GetByID`, in key order after Company.
    pub id_params: &'static [&'static str],
}

impl Service {
    pub fn primary(&self) -> &'static EntitySet {
        &self.entity_sets[0]
    }
    /// The entity set named `name`, in any case (Epicor's IIS matches names without regard to case).
    pub fn entity_set(&self, name: &str) -> Option<&'static EntitySet> {
        self.entity_sets
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }
    /// The canonical name of the method `name` (in any case), if the service has it.
    pub fn method(&self, name: &str) -> Option<String> {
        self.methods()
            .into_iter()
            .find(|m| m.eq_ignore_ascii_case(name))
    }
    /// The program that runs this service's business rules (`Erp.Services.BO.Customer.dll`), as
    /// Epicor names it in `ErrorDetails`.
    pub fn program(&self) -> String {
        let short = self
            .name
            .rsplit('.')
            .next()
            .unwrap_or(self.name)
            .trim_end_matches("Svc");
        format!("Erp.Services.BO.{short}.dll")
    }
    pub fn entity_set_for_table(&self, table: &str) -> Option<&'static EntitySet> {
        self.entity_sets.iter().find(|e| e.table.name == table)
    }
    /// Names of the BO methods this service answers.
    pub fn methods(&self) -> Vec<String> {
        let primary = self.primary().table.name;
        let mut m = vec![
            "GetByID".to_string(),
            "GetList".to_string(),
            "GetRows".to_string(),
            "Update".to_string(),
            "UpdateExt".to_string(),
            "DeleteByID".to_string(),
            "GetBySysRowID".to_string(),
            "GetBySysRowIDs".to_string(),
        ];
        m.push(format!("GetNew{primary}"));
        for es in &self.entity_sets[1..] {
            m.push(format!("GetNew{}", es.table.name));
        }
        m
    }
}

pub static SERVICES: &[Service] = &[
    Service {
        name: "Erp.BO.CustomerSvc",
        entity_sets: &[
            EntitySet {
                name: "Customers",
                table: &CUSTOMER,
                navigations: &[Navigation {
                    name: "ShipTos",
                    target: "ShipTos",
                    on: &[("Company", "Company"), ("CustNum", "CustNum")],
                }],
            },
            EntitySet {
                name: "ShipTos",
                table: &SHIPTO,
                navigations: &[],
            },
        ],
        tableset: "CustomerTableset",
        id_params: &["custNum"],
    },
    Service {
        name: "Erp.BO.PartSvc",
        entity_sets: &[EntitySet {
            name: "Parts",
            table: &PART,
            navigations: &[],
        }],
        tableset: "PartTableset",
        id_params: &["partNum"],
    },
    Service {
        name: "Erp.BO.SalesOrderSvc",
        entity_sets: &[
            EntitySet {
                name: "SalesOrders",
                table: &ORDERHED,
                navigations: &[Navigation {
                    name: "OrderDtls",
                    target: "OrderDtls",
                    on: &[("Company", "Company"), ("OrderNum", "OrderNum")],
                }],
            },
            EntitySet {
                name: "OrderDtls",
                table: &ORDERDTL,
                navigations: &[Navigation {
                    name: "OrderRels",
                    target: "OrderRels",
                    on: &[
                        ("Company", "Company"),
                        ("OrderNum", "OrderNum"),
                        ("OrderLine", "OrderLine"),
                    ],
                }],
            },
            EntitySet {
                name: "OrderRels",
                table: &ORDERREL,
                navigations: &[],
            },
        ],
        tableset: "SalesOrderTableset",
        id_params: &["orderNum"],
    },
    Service {
        name: "Erp.BO.VendorSvc",
        entity_sets: &[EntitySet {
            name: "Vendors",
            table: &VENDOR,
            navigations: &[],
        }],
        tableset: "VendorTableset",
        id_params: &["vendorNum"],
    },
];

/// The service named `name`, in any case (`Erp.Bo.CustomerSvc` works on real servers).
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The service whose tableset holds `table`.
pub fn service_of_table(table: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|s| s.entity_sets.iter().any(|e| e.table.name == table))
}

/// The namespace Epicor uses for row types.
pub const NAMESPACE: &str = "Erp.Tablesets";

/// The `$metadata` model of one service, for the CSDL writer.
pub fn service_metadata(svc: &Service) -> csdl::Metadata {
    let entity_types = svc
        .entity_sets
        .iter()
        .map(|es| table_entity_type(es.table, es, svc))
        .collect();
    let entity_sets = svc
        .entity_sets
        .iter()
        .map(|es| csdl::EntitySet {
            name: es.name.to_string(),
            entity_type: format!("{NAMESPACE}.{}", es.table.entity_type()),
            navigation_bindings: es
                .navigations
                .iter()
                .map(|n| (n.name.to_string(), n.target.to_string()))
                .collect(),
        })
        .collect();
    csdl::Metadata {
        schemas: vec![csdl::Schema {
            namespace: NAMESPACE.to_string(),
            entity_types,
            entity_container: Some(csdl::EntityContainer {
                name: "Container".to_string(),
                entity_sets,
            }),
        }],
    }
}

/// The CSDL entity type of a table (navigations taken from the entity set, if any).
pub fn table_entity_type(table: &Table, es: &EntitySet, svc: &Service) -> csdl::EntityType {
    csdl::EntityType {
        name: table.entity_type(),
        key: table.key.iter().map(|k| k.to_string()).collect(),
        properties: table.columns.iter().map(property).collect(),
        navigation: es
            .navigations
            .iter()
            .map(|n| {
                let target = svc
                    .entity_set(n.target)
                    .expect("navigation target in service");
                csdl::NavigationProperty {
                    name: n.name.to_string(),
                    target_type: format!("{NAMESPACE}.{}", target.table.entity_type()),
                    collection: true,
                    referential: n
                        .on
                        .iter()
                        .map(|(p, c)| (c.to_string(), p.to_string()))
                        .collect(),
                }
            })
            .collect(),
    }
}

/// A column as a CSDL property.
pub fn property(c: &Column) -> csdl::Property {
    let (max_length, precision, scale) = match c.ty {
        ColType::String { max_len } => (Some(max_len), None, None),
        ColType::Decimal { precision, scale } => (None, Some(precision), Some(scale)),
        _ => (None, None, None),
    };
    csdl::Property {
        name: c.name.to_string(),
        edm_type: c.ty.edm(),
        nullable: c.nullable,
        max_length,
        precision,
        scale,
    }
}
