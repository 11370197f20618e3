//! The CSDL (`$metadata`) model: entity types, properties, navigation, entity sets; written and read
//! in both dialects Epicor serves.
//!
//! - OData v3 (Epicor's `api/v1`): EDMX 1.0, `m:DataServiceVersion="3.0"`, the
//!   `http://schemas.microsoft.com/ado/2009/11/edm` namespace, navigation through `Association` /
//!   `AssociationSet` with `Relationship` / `FromRole` / `ToRole`, dates as `Edm.DateTime`.
//! - OData v4 (`api/v2/odata`): EDMX 4.0 (`http://docs.oasis-open.org/odata/ns/edmx` and `.../edm`),
//!   `NavigationProperty Type="Collection(Ns.T)"` with `ReferentialConstraint`, and
//!   `NavigationPropertyBinding` inside `EntitySet`.
//!
//! ```
//! use epicor_kinetic_odata::csdl::*;
//! let xml = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
//!   <edmx:DataServices><Schema Namespace="Erp.BO.CustomerSvc" xmlns="http://docs.oasis-open.org/odata/ns/edm">
//!     <EntityType Name="Customer"><Key><PropertyRef Name="CustNum"/></Key>
//!       <Property Name="CustNum" Type="Edm.Int32" Nullable="false"/></EntityType>
//!     <EntityContainer Name="Container"><EntitySet Name="Customers" EntityType="Erp.BO.CustomerSvc.Customer"/></EntityContainer>
//!   </Schema></edmx:DataServices></edmx:Edmx>"#;
//! let m = Metadata::from_xml(xml).unwrap();
//! let (_, customer) = m.entity_set("Customers").unwrap();
//! assert_eq!(customer.key, ["CustNum"]);
//! assert_eq!(Metadata::from_xml(&m.to_xml(ODataVersion::V3)).unwrap(), m);
//! ```

mod read;
mod write;

use read::read;
use write::write_schema;

/// Which dialect of CSDL to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ODataVersion {
    /// OData v3 (EDMX 1.0, Associations), as Epicor's v1 REST API serves it.
    V3,
    /// OData v4 (EDMX 4.0, NavigationPropertyBinding), as Epicor's v2 REST API serves it.
    V4,
}

/// A whole `$metadata` document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    pub schemas: Vec<Schema>,
}

/// One `<Schema>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    /// E.g. `Erp.BO.CustomerSvc`.
    pub namespace: String,
    pub entity_types: Vec<EntityType>,
    pub entity_container: Option<EntityContainer>,
}

/// An `<EntityType>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityType {
    pub name: String,
    /// Key property names, in key order (Epicor keys start with `Company`).
    pub key: Vec<String>,
    pub properties: Vec<Property>,
    pub navigation: Vec<NavigationProperty>,
}

/// A structural `<Property>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub edm_type: EdmType,
    /// `Nullable` (CSDL's default is true).
    pub nullable: bool,
    /// `MaxLength`; `None` when absent or `Max`.
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

impl Property {
    /// A nullable property without facets.
    pub fn new(name: impl Into<String>, edm_type: EdmType) -> Self {
        Property {
            name: name.into(),
            edm_type,
            nullable: true,
            max_length: None,
            precision: None,
            scale: None,
        }
    }
}

/// A primitive EDM type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdmType {
    String,
    Boolean,
    Byte,
    Int16,
    Int32,
    Int64,
    Decimal,
    Double,
    Single,
    /// `Edm.Date` (v4); written as `Edm.DateTime` in v3, which has no date-only type.
    Date,
    DateTimeOffset,
    /// `Edm.DateTime` (v3 only); written as `Edm.DateTimeOffset` in v4.
    DateTime,
    /// `Edm.TimeOfDay` (v4); `Edm.Time` in v3.
    TimeOfDay,
    /// `Edm.Duration` (v4); written as `Edm.Time` in v3.
    Duration,
    Guid,
    Binary,
    /// Any other type, as written (`Edm.Stream`, `Ns.ComplexType`, `Collection(Edm.String)`).
    Other(String),
}

/// The families of [`EdmType`]s, from [`EdmType::family`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdmFamily {
    /// `Edm.String`.
    Text,
    /// `Edm.Guid`: text on the wire, compared as a GUID.
    Guid,
    /// `Edm.Boolean`.
    Boolean,
    /// `Edm.Byte`, `Edm.Int16`, `Edm.Int32`, `Edm.Int64`.
    Integer,
    /// `Edm.Decimal`, exact.
    Decimal,
    /// `Edm.Double`, `Edm.Single`.
    Float,
    /// `Edm.Date`, `Edm.DateTime` (v3), `Edm.DateTimeOffset`.
    Temporal,
    /// Times of day, durations, binary and anything not primitive.
    Other,
}

impl EdmFamily {
    /// Integer, decimal or floating point.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            EdmFamily::Integer | EdmFamily::Decimal | EdmFamily::Float
        )
    }
}

impl EdmType {
    /// The qualified name, e.g. `Edm.String` (the v4 spelling).
    pub fn as_str(&self) -> &str {
        match self {
            EdmType::String => "Edm.String",
            EdmType::Boolean => "Edm.Boolean",
            EdmType::Byte => "Edm.Byte",
            EdmType::Int16 => "Edm.Int16",
            EdmType::Int32 => "Edm.Int32",
            EdmType::Int64 => "Edm.Int64",
            EdmType::Decimal => "Edm.Decimal",
            EdmType::Double => "Edm.Double",
            EdmType::Single => "Edm.Single",
            EdmType::Date => "Edm.Date",
            EdmType::DateTimeOffset => "Edm.DateTimeOffset",
            EdmType::DateTime => "Edm.DateTime",
            EdmType::TimeOfDay => "Edm.TimeOfDay",
            EdmType::Duration => "Edm.Duration",
            EdmType::Guid => "Edm.Guid",
            EdmType::Binary => "Edm.Binary",
            EdmType::Other(s) => s,
        }
    }

    /// The type from its qualified name (`Edm.Time`, a v3 name, reads as [`EdmType::TimeOfDay`]).
    pub fn parse(name: &str) -> EdmType {
        match name {
            "Edm.String" => EdmType::String,
            "Edm.Boolean" => EdmType::Boolean,
            "Edm.Byte" => EdmType::Byte,
            "Edm.Int16" => EdmType::Int16,
            "Edm.Int32" => EdmType::Int32,
            "Edm.Int64" => EdmType::Int64,
            "Edm.Decimal" => EdmType::Decimal,
            "Edm.Double" => EdmType::Double,
            "Edm.Single" => EdmType::Single,
            "Edm.Date" => EdmType::Date,
            "Edm.DateTimeOffset" => EdmType::DateTimeOffset,
            "Edm.DateTime" => EdmType::DateTime,
            "Edm.TimeOfDay" | "Edm.Time" => EdmType::TimeOfDay,
            "Edm.Duration" => EdmType::Duration,
            "Edm.Guid" => EdmType::Guid,
            "Edm.Binary" => EdmType::Binary,
            other => EdmType::Other(other.to_string()),
        }
    }

    /// The type's family: what its values are and how they compare. The one place that groups
    /// the EDM types (the SQL layer's Arrow types and pushdown, the emulator's checks read it).
    pub fn family(&self) -> EdmFamily {
        match self {
            EdmType::String => EdmFamily::Text,
            EdmType::Guid => EdmFamily::Guid,
            EdmType::Boolean => EdmFamily::Boolean,
            EdmType::Byte | EdmType::Int16 | EdmType::Int32 | EdmType::Int64 => EdmFamily::Integer,
            EdmType::Decimal => EdmFamily::Decimal,
            EdmType::Double | EdmType::Single => EdmFamily::Float,
            EdmType::Date | EdmType::DateTime | EdmType::DateTimeOffset => EdmFamily::Temporal,
            EdmType::TimeOfDay | EdmType::Duration | EdmType::Binary | EdmType::Other(_) => {
                EdmFamily::Other
            }
        }
    }

    /// The name written for `version`.
    fn name_for(&self, version: ODataVersion) -> &str {
        match (version, self) {
            (ODataVersion::V3, EdmType::Date) => "Edm.DateTime",
            (ODataVersion::V3, EdmType::TimeOfDay | EdmType::Duration) => "Edm.Time",
            (ODataVersion::V4, EdmType::DateTime) => "Edm.DateTimeOffset",
            _ => self.as_str(),
        }
    }
}

/// A `<NavigationProperty>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavigationProperty {
    pub name: String,
    /// Qualified name of the related entity type (`Erp.BO.SalesOrderSvc.OrderDtl`).
    pub target_type: String,
    /// True for a collection (to-many) navigation.
    pub collection: bool,
    /// Pairs of (property of this type, property of the target) that must be equal.
    pub referential: Vec<(String, String)>,
}

/// An `<EntityContainer>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityContainer {
    pub name: String,
    pub entity_sets: Vec<EntitySet>,
}

/// An `<EntitySet>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntitySet {
    pub name: String,
    /// Qualified name of the entity type.
    pub entity_type: String,
    /// (navigation property path, target entity set name).
    pub navigation_bindings: Vec<(String, String)>,
}

/// Why a `$metadata` document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsdlError {
    /// Not well-formed XML.
    #[error("invalid XML in CSDL: {0}")]
    Xml(String),
    /// A required attribute is missing.
    #[error("<{element}> lacks the {attribute} attribute")]
    MissingAttribute {
        element: &'static str,
        attribute: &'static str,
    },
    /// A v3 navigation property names an association that is not in the document.
    #[error("navigation property {navigation} refers to unknown association {association}")]
    UnknownAssociation {
        navigation: String,
        association: String,
    },
    /// The document has no `<Schema>`.
    #[error("no <Schema> in CSDL document")]
    NoSchema,
}

impl Metadata {
    /// The entity set of that name and its entity type, from any schema's container.
    pub fn entity_set(&self, name: &str) -> Option<(&EntitySet, &EntityType)> {
        self.schemas
            .iter()
            .filter_map(|s| s.entity_container.as_ref())
            .flat_map(|c| &c.entity_sets)
            .find(|s| s.name == name)
            .and_then(|set| Some((set, self.entity_type(&set.entity_type)?)))
    }

    /// The entity type of that qualified name (`Namespace.Name`).
    pub fn entity_type(&self, qualified: &str) -> Option<&EntityType> {
        let (namespace, name) = qualified.rsplit_once('.')?;
        self.schemas
            .iter()
            .filter(|s| s.namespace == namespace)
            .flat_map(|s| &s.entity_types)
            .find(|t| t.name == name)
    }

    /// Writes the document as CSDL XML in the given dialect.
    pub fn to_xml(&self, version: ODataVersion) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        match version {
            ODataVersion::V4 => {
                out.push_str(
                    "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n\
                     <edmx:DataServices>\n",
                );
            }
            ODataVersion::V3 => {
                out.push_str(
                    "<edmx:Edmx Version=\"1.0\" xmlns:edmx=\"http://schemas.microsoft.com/ado/2007/06/edmx\">\n\
                     <edmx:DataServices m:DataServiceVersion=\"3.0\" m:MaxDataServiceVersion=\"3.0\" \
                     xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\">\n",
                );
            }
        }
        for schema in &self.schemas {
            write_schema(&mut out, schema, version);
        }
        out.push_str("</edmx:DataServices>\n</edmx:Edmx>\n");
        out
    }

    /// Reads a CSDL document, v3 or v4.
    pub fn from_xml(xml: &str) -> Result<Metadata, CsdlError> {
        read(xml)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_its_family() {
        use EdmFamily::*;
        for (name, family) in [
            ("Edm.String", Text),
            ("Edm.Guid", Guid),
            ("Edm.Boolean", Boolean),
            ("Edm.Byte", Integer),
            ("Edm.Int16", Integer),
            ("Edm.Int32", Integer),
            ("Edm.Int64", Integer),
            ("Edm.Decimal", Decimal),
            ("Edm.Double", Float),
            ("Edm.Single", Float),
            ("Edm.Date", Temporal),
            ("Edm.DateTime", Temporal),
            ("Edm.DateTimeOffset", Temporal),
            ("Edm.Time", Other),
            ("Edm.Duration", Other),
            ("Edm.Binary", Other),
            ("Edm.Stream", Other),
        ] {
            assert_eq!(EdmType::parse(name).family(), family, "{name}");
        }
        assert!(Integer.is_numeric() && Decimal.is_numeric() && Float.is_numeric());
        assert!(!Text.is_numeric() && !Temporal.is_numeric() && !Guid.is_numeric());
    }

    fn sample() -> Metadata {
        let ns = "Erp.BO.SalesOrderSvc";
        let mut company = Property::new("Company", EdmType::String);
        company.nullable = false;
        company.max_length = Some(8);
        let mut amount = Property::new("DocTotal", EdmType::Decimal);
        amount.precision = Some(18);
        amount.scale = Some(3);
        Metadata {
            schemas: vec![Schema {
                namespace: ns.to_string(),
                entity_types: vec![
                    EntityType {
                        name: "OrderHed".into(),
                        key: vec!["Company".into(), "OrderNum".into()],
                        properties: vec![
                            company.clone(),
                            Property::new("OrderNum", EdmType::Int32),
                            Property::new("OrderDate", EdmType::DateTime),
                            Property::new("Name<&>\"'", EdmType::String),
                            amount,
                            Property::new("SysRowID", EdmType::Guid),
                        ],
                        navigation: vec![NavigationProperty {
                            name: "OrderDtls".into(),
                            target_type: format!("{ns}.OrderDtl"),
                            collection: true,
                            referential: vec![
                                ("Company".into(), "Company".into()),
                                ("OrderNum".into(), "OrderNum".into()),
                            ],
                        }],
                    },
                    EntityType {
                        name: "OrderDtl".into(),
                        key: vec!["Company".into(), "OrderNum".into(), "OrderLine".into()],
                        properties: vec![
                            company,
                            Property::new("OrderNum", EdmType::Int32),
                            Property::new("OrderLine", EdmType::Int32),
                        ],
                        navigation: vec![NavigationProperty {
                            name: "OrderHed".into(),
                            target_type: format!("{ns}.OrderHed"),
                            collection: false,
                            referential: vec![],
                        }],
                    },
                ],
                entity_container: Some(EntityContainer {
                    name: "Container".into(),
                    entity_sets: vec![
                        EntitySet {
                            name: "OrderHeds".into(),
                            entity_type: format!("{ns}.OrderHed"),
                            navigation_bindings: vec![("OrderDtls".into(), "OrderDtls".into())],
                        },
                        EntitySet {
                            name: "OrderDtls".into(),
                            entity_type: format!("{ns}.OrderDtl"),
                            navigation_bindings: vec![("OrderHed".into(), "OrderHeds".into())],
                        },
                    ],
                }),
            }],
        }
    }

    #[test]
    fn v4_round_trip() {
        let m = sample();
        let xml = m.to_xml(ODataVersion::V4);
        assert!(xml.contains("Version=\"4.0\""), "{xml}");
        assert!(xml.contains("Type=\"Collection(Erp.BO.SalesOrderSvc.OrderDtl)\""));
        assert!(
            xml.contains("<NavigationPropertyBinding Path=\"OrderDtls\" Target=\"OrderDtls\"/>")
        );
        assert!(xml.contains("Name&lt;&amp;&gt;&quot;&apos;"), "{xml}");
        let mut expected = m.clone();
        // v4 has no Edm.DateTime.
        expected.schemas[0].entity_types[0].properties[2].edm_type = EdmType::DateTimeOffset;
        assert_eq!(Metadata::from_xml(&xml).unwrap(), expected);
    }

    #[test]
    fn v3_round_trip() {
        let m = sample();
        let xml = m.to_xml(ODataVersion::V3);
        assert!(xml.contains("m:DataServiceVersion=\"3.0\""), "{xml}");
        assert!(xml.contains("http://schemas.microsoft.com/ado/2009/11/edm"));
        assert!(xml.contains("Relationship=\"Erp.BO.SalesOrderSvc.OrderHed_OrderDtls\""));
        assert!(xml.contains("<AssociationSet"));
        assert_eq!(Metadata::from_xml(&xml).unwrap(), m);
    }

    #[test]
    fn v3_writes_dates_as_datetime() {
        let mut m = sample();
        m.schemas[0].entity_types[0].properties[2].edm_type = EdmType::Date;
        let xml = m.to_xml(ODataVersion::V3);
        assert!(xml.contains("Name=\"OrderDate\" Type=\"Edm.DateTime\""));
        assert!(m
            .to_xml(ODataVersion::V4)
            .contains("Name=\"OrderDate\" Type=\"Edm.Date\""));
    }

    #[test]
    fn lookups() {
        let m = sample();
        let (set, ty) = m.entity_set("OrderDtls").unwrap();
        assert_eq!(set.entity_type, "Erp.BO.SalesOrderSvc.OrderDtl");
        assert_eq!(ty.key.len(), 3);
        assert!(m.entity_set("Nope").is_none());
        assert!(m.entity_type("Erp.BO.SalesOrderSvc.OrderHed").is_some());
        assert!(m.entity_type("OrderHed").is_none());
    }

    #[test]
    fn edm_type_names() {
        for t in [
            EdmType::String,
            EdmType::Boolean,
            EdmType::Byte,
            EdmType::Int16,
            EdmType::Int32,
            EdmType::Int64,
            EdmType::Decimal,
            EdmType::Double,
            EdmType::Single,
            EdmType::Date,
            EdmType::DateTimeOffset,
            EdmType::DateTime,
            EdmType::TimeOfDay,
            EdmType::Duration,
            EdmType::Guid,
            EdmType::Binary,
            EdmType::Other("Edm.Stream".into()),
        ] {
            assert_eq!(EdmType::parse(t.as_str()), t);
        }
        assert_eq!(EdmType::parse("Edm.Time"), EdmType::TimeOfDay);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            Metadata::from_xml("<a><b></a>"),
            Err(CsdlError::Xml(_))
        ));
        assert_eq!(Metadata::from_xml("<edmx:Edmx/>"), Err(CsdlError::NoSchema));
        assert!(matches!(
            Metadata::from_xml("<Schema><EntityType/></Schema>"),
            Err(CsdlError::MissingAttribute { .. })
        ));
        let dangling = r#"<Schema Namespace="N"><EntityType Name="T">
            <NavigationProperty Name="X" Relationship="N.Nope" FromRole="A" ToRole="B"/></EntityType></Schema>"#;
        assert!(matches!(
            Metadata::from_xml(dangling),
            Err(CsdlError::UnknownAssociation { .. })
        ));
    }

    #[test]
    fn reads_aliases() {
        let xml = r#"<Schema Namespace="Erp.BO.X" Alias="Self"><EntityType Name="T"><Key><PropertyRef Name="Id"/></Key>
            <Property Name="Id" Type="Edm.Int32" Nullable="false"/></EntityType>
            <EntityContainer Name="C"><EntitySet Name="Ts" EntityType="Self.T"/></EntityContainer></Schema>"#;
        let m = Metadata::from_xml(xml).unwrap();
        assert_eq!(m.entity_set("Ts").unwrap().1.name, "T");
    }
}
