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

use std::collections::HashMap;
use std::fmt::Write;

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

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

// -------------------------------------------------------------------------------------------------
// Writing

/// Appends ` name="value"` with the value XML-escaped.
fn attr(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, " {name}=\"{}\"", escape(value));
}

/// Role names of the v3 association generated for `nav` of `ty`: (this end, target end).
fn roles(ty: &EntityType, nav: &NavigationProperty) -> (String, String) {
    let from = ty.name.clone();
    let to = if nav.name == ty.name {
        format!("{}Target", nav.name)
    } else {
        nav.name.clone()
    };
    (from, to)
}

fn write_schema(out: &mut String, schema: &Schema, version: ODataVersion) {
    let ns = &schema.namespace;
    out.push_str("<Schema");
    attr(out, "Namespace", ns);
    attr(
        out,
        "xmlns",
        match version {
            ODataVersion::V3 => "http://schemas.microsoft.com/ado/2009/11/edm",
            ODataVersion::V4 => "http://docs.oasis-open.org/odata/ns/edm",
        },
    );
    out.push_str(">\n");
    for ty in &schema.entity_types {
        out.push_str("<EntityType");
        attr(out, "Name", &ty.name);
        out.push_str(">\n");
        if !ty.key.is_empty() {
            out.push_str("<Key>");
            for k in &ty.key {
                out.push_str("<PropertyRef");
                attr(out, "Name", k);
                out.push_str("/>");
            }
            out.push_str("</Key>\n");
        }
        for p in &ty.properties {
            out.push_str("<Property");
            attr(out, "Name", &p.name);
            attr(out, "Type", p.edm_type.name_for(version));
            if !p.nullable {
                attr(out, "Nullable", "false");
            }
            if let Some(n) = p.max_length {
                attr(out, "MaxLength", &n.to_string());
            }
            if let Some(n) = p.precision {
                attr(out, "Precision", &n.to_string());
            }
            if let Some(n) = p.scale {
                attr(out, "Scale", &n.to_string());
            }
            out.push_str("/>\n");
        }
        for nav in &ty.navigation {
            out.push_str("<NavigationProperty");
            attr(out, "Name", &nav.name);
            match version {
                ODataVersion::V4 => {
                    if nav.collection {
                        attr(out, "Type", &format!("Collection({})", nav.target_type));
                    } else {
                        attr(out, "Type", &nav.target_type);
                    }
                    if nav.referential.is_empty() {
                        out.push_str("/>\n");
                    } else {
                        out.push_str(">\n");
                        for (p, r) in &nav.referential {
                            out.push_str("<ReferentialConstraint");
                            attr(out, "Property", p);
                            attr(out, "ReferencedProperty", r);
                            out.push_str("/>\n");
                        }
                        out.push_str("</NavigationProperty>\n");
                    }
                }
                ODataVersion::V3 => {
                    let (from, to) = roles(ty, nav);
                    attr(
                        out,
                        "Relationship",
                        &format!("{ns}.{}_{}", ty.name, nav.name),
                    );
                    attr(out, "FromRole", &from);
                    attr(out, "ToRole", &to);
                    out.push_str("/>\n");
                }
            }
        }
        out.push_str("</EntityType>\n");
    }
    if version == ODataVersion::V3 {
        write_associations(out, schema);
    }
    if let Some(c) = &schema.entity_container {
        out.push_str("<EntityContainer");
        attr(out, "Name", &c.name);
        if version == ODataVersion::V3 {
            attr(out, "m:IsDefaultEntityContainer", "true");
        }
        out.push_str(">\n");
        for set in &c.entity_sets {
            out.push_str("<EntitySet");
            attr(out, "Name", &set.name);
            attr(out, "EntityType", &set.entity_type);
            if version == ODataVersion::V4 && !set.navigation_bindings.is_empty() {
                out.push_str(">\n");
                for (path, target) in &set.navigation_bindings {
                    out.push_str("<NavigationPropertyBinding");
                    attr(out, "Path", path);
                    attr(out, "Target", target);
                    out.push_str("/>\n");
                }
                out.push_str("</EntitySet>\n");
            } else {
                out.push_str("/>\n");
            }
        }
        if version == ODataVersion::V3 {
            write_association_sets(out, schema, c);
        }
        out.push_str("</EntityContainer>\n");
    }
    out.push_str("</Schema>\n");
}

/// v3: one Association per navigation property, named `{Type}_{Navigation}`.
fn write_associations(out: &mut String, schema: &Schema) {
    let ns = &schema.namespace;
    for ty in &schema.entity_types {
        for nav in &ty.navigation {
            let (from, to) = roles(ty, nav);
            out.push_str("<Association");
            attr(out, "Name", &format!("{}_{}", ty.name, nav.name));
            out.push_str(">\n<End");
            attr(out, "Type", &format!("{ns}.{}", ty.name));
            attr(out, "Role", &from);
            attr(out, "Multiplicity", if nav.collection { "1" } else { "*" });
            out.push_str("/>\n<End");
            attr(out, "Type", &nav.target_type);
            attr(out, "Role", &to);
            attr(
                out,
                "Multiplicity",
                if nav.collection { "*" } else { "0..1" },
            );
            out.push_str("/>\n");
            if !nav.referential.is_empty() {
                // This type is written as the principal; the reader maps the pairs back the same way.
                out.push_str("<ReferentialConstraint>\n<Principal");
                attr(out, "Role", &from);
                out.push('>');
                for (p, _) in &nav.referential {
                    out.push_str("<PropertyRef");
                    attr(out, "Name", p);
                    out.push_str("/>");
                }
                out.push_str("</Principal>\n<Dependent");
                attr(out, "Role", &to);
                out.push('>');
                for (_, r) in &nav.referential {
                    out.push_str("<PropertyRef");
                    attr(out, "Name", r);
                    out.push_str("/>");
                }
                out.push_str("</Dependent>\n</ReferentialConstraint>\n");
            }
            out.push_str("</Association>\n");
        }
    }
}

/// v3: one AssociationSet per navigation binding of an entity set.
fn write_association_sets(out: &mut String, schema: &Schema, container: &EntityContainer) {
    let ns = &schema.namespace;
    for set in &container.entity_sets {
        let Some(ty) = set
            .entity_type
            .strip_prefix(ns.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|name| schema.entity_types.iter().find(|t| t.name == name))
        else {
            continue;
        };
        for (path, target) in &set.navigation_bindings {
            let Some(nav) = ty.navigation.iter().find(|n| &n.name == path) else {
                continue;
            };
            let (from, to) = roles(ty, nav);
            out.push_str("<AssociationSet");
            attr(out, "Name", &format!("{}_{}", set.name, nav.name));
            attr(
                out,
                "Association",
                &format!("{ns}.{}_{}", ty.name, nav.name),
            );
            out.push_str(">\n<End");
            attr(out, "Role", &from);
            attr(out, "EntitySet", &set.name);
            out.push_str("/>\n<End");
            attr(out, "Role", &to);
            attr(out, "EntitySet", target);
            out.push_str("/>\n</AssociationSet>\n");
        }
    }
}

// -------------------------------------------------------------------------------------------------
// Reading

/// A v3 association as read: ends by role (type, multiplicity) and the referential constraint.
#[derive(Default)]
struct Association {
    ends: Vec<(String, String, String)>,
    principal: (String, Vec<String>),
    dependent: (String, Vec<String>),
}

/// A v3 navigation property waiting for its association: (schema, type, navigation) indexes and
/// (relationship, from role, to role).
struct PendingNavigation {
    at: (usize, usize, usize),
    relationship: String,
    from: String,
    to: String,
}

/// A v3 association set: association name and (role, entity set) ends.
struct AssociationSet {
    association: String,
    ends: Vec<(String, String)>,
}

fn attributes(e: &BytesStart<'_>) -> Result<HashMap<String, String>, CsdlError> {
    let mut map = HashMap::new();
    for a in e.attributes() {
        let a = a.map_err(|err| CsdlError::Xml(err.to_string()))?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|err| CsdlError::Xml(err.to_string()))?
            .into_owned();
        map.insert(key, value);
    }
    Ok(map)
}

fn required(
    attrs: &mut HashMap<String, String>,
    element: &'static str,
    attribute: &'static str,
) -> Result<String, CsdlError> {
    attrs
        .remove(attribute)
        .ok_or(CsdlError::MissingAttribute { element, attribute })
}

fn number(attrs: &HashMap<String, String>, name: &str) -> Option<u32> {
    attrs.get(name).and_then(|v| v.parse().ok())
}

/// Replaces a schema alias prefix by its namespace (`Self.Customer` → `Erp.BO.CustomerSvc.Customer`).
fn resolve_alias(name: &str, aliases: &HashMap<String, String>) -> String {
    if let Some((prefix, rest)) = name.rsplit_once('.') {
        if let Some(ns) = aliases.get(prefix) {
            return format!("{ns}.{rest}");
        }
    }
    name.to_string()
}

fn read(xml: &str) -> Result<Metadata, CsdlError> {
    let mut reader = Reader::from_str(xml);
    let mut meta = Metadata::default();
    // Element names from the root to the current element, to know where a PropertyRef belongs.
    let mut stack: Vec<String> = Vec::new();
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut associations: HashMap<String, Association> = HashMap::new();
    let mut pending: Vec<PendingNavigation> = Vec::new();
    let mut association_sets: Vec<AssociationSet> = Vec::new();
    let mut current_association: Option<String> = None;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| CsdlError::Xml(e.to_string()))?;
        let (e, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let parent = stack.last().map(String::as_str).unwrap_or("");
        let mut a = attributes(e)?;
        match (name.as_str(), parent) {
            ("Schema", _) => {
                let namespace = required(&mut a, "Schema", "Namespace")?;
                if let Some(alias) = a.remove("Alias") {
                    aliases.insert(alias, namespace.clone());
                }
                meta.schemas.push(Schema {
                    namespace,
                    ..Schema::default()
                });
            }
            ("EntityType", "Schema") => {
                let ty = EntityType {
                    name: required(&mut a, "EntityType", "Name")?,
                    ..EntityType::default()
                };
                if let Some(s) = meta.schemas.last_mut() {
                    s.entity_types.push(ty);
                }
            }
            ("PropertyRef", "Key") => {
                if let Some(ty) = current_type(&mut meta, &stack) {
                    ty.key.push(required(&mut a, "PropertyRef", "Name")?);
                }
            }
            ("Property", "EntityType") => {
                let property = Property {
                    name: required(&mut a, "Property", "Name")?,
                    edm_type: EdmType::parse(&required(&mut a, "Property", "Type")?),
                    nullable: a.get("Nullable").is_none_or(|v| v != "false"),
                    max_length: number(&a, "MaxLength"),
                    precision: number(&a, "Precision"),
                    scale: number(&a, "Scale"),
                };
                if let Some(ty) = current_type(&mut meta, &stack) {
                    ty.properties.push(property);
                }
            }
            ("NavigationProperty", "EntityType") => {
                let nav_name = required(&mut a, "NavigationProperty", "Name")?;
                let (target_type, collection, relationship) = match a.remove("Type") {
                    Some(t) => match t
                        .strip_prefix("Collection(")
                        .and_then(|r| r.strip_suffix(')'))
                    {
                        Some(inner) => (inner.to_string(), true, None),
                        None => (t, false, None),
                    },
                    None => (
                        String::new(),
                        false,
                        Some(required(&mut a, "NavigationProperty", "Relationship")?),
                    ),
                };
                let schema_index = meta.schemas.len().saturating_sub(1);
                let type_index = meta
                    .schemas
                    .last()
                    .map_or(0, |s| s.entity_types.len().saturating_sub(1));
                if let Some(ty) = current_type(&mut meta, &stack) {
                    ty.navigation.push(NavigationProperty {
                        name: nav_name,
                        target_type,
                        collection,
                        referential: Vec::new(),
                    });
                    if let Some(relationship) = relationship {
                        pending.push(PendingNavigation {
                            at: (schema_index, type_index, ty.navigation.len() - 1),
                            relationship,
                            from: required(&mut a, "NavigationProperty", "FromRole")?,
                            to: required(&mut a, "NavigationProperty", "ToRole")?,
                        });
                    }
                }
            }
            ("ReferentialConstraint", "NavigationProperty") => {
                let pair = (
                    required(&mut a, "ReferentialConstraint", "Property")?,
                    required(&mut a, "ReferentialConstraint", "ReferencedProperty")?,
                );
                if let Some(nav) =
                    current_type(&mut meta, &stack).and_then(|t| t.navigation.last_mut())
                {
                    nav.referential.push(pair);
                }
            }
            ("Association", "Schema") => {
                let ns = meta
                    .schemas
                    .last()
                    .map(|s| s.namespace.clone())
                    .unwrap_or_default();
                let full = format!("{ns}.{}", required(&mut a, "Association", "Name")?);
                associations.insert(full.clone(), Association::default());
                current_association = Some(full);
            }
            ("End", "Association") => {
                if let Some(assoc) = current_association
                    .as_ref()
                    .and_then(|n| associations.get_mut(n))
                {
                    assoc.ends.push((
                        required(&mut a, "End", "Role")?,
                        resolve_alias(&required(&mut a, "End", "Type")?, &aliases),
                        a.remove("Multiplicity").unwrap_or_default(),
                    ));
                }
            }
            ("Principal" | "Dependent", "ReferentialConstraint") => {
                if let Some(assoc) = current_association
                    .as_ref()
                    .and_then(|n| associations.get_mut(n))
                {
                    let role = required(&mut a, "Principal", "Role")?;
                    if name == "Principal" {
                        assoc.principal.0 = role;
                    } else {
                        assoc.dependent.0 = role;
                    }
                }
            }
            ("PropertyRef", "Principal" | "Dependent") => {
                if let Some(assoc) = current_association
                    .as_ref()
                    .and_then(|n| associations.get_mut(n))
                {
                    let prop = required(&mut a, "PropertyRef", "Name")?;
                    if parent == "Principal" {
                        assoc.principal.1.push(prop);
                    } else {
                        assoc.dependent.1.push(prop);
                    }
                }
            }
            ("EntityContainer", "Schema") => {
                let name = required(&mut a, "EntityContainer", "Name")?;
                if let Some(s) = meta.schemas.last_mut() {
                    s.entity_container = Some(EntityContainer {
                        name,
                        entity_sets: Vec::new(),
                    });
                }
            }
            ("EntitySet", "EntityContainer") => {
                let set = EntitySet {
                    name: required(&mut a, "EntitySet", "Name")?,
                    entity_type: resolve_alias(
                        &required(&mut a, "EntitySet", "EntityType")?,
                        &aliases,
                    ),
                    navigation_bindings: Vec::new(),
                };
                if let Some(c) = meta
                    .schemas
                    .last_mut()
                    .and_then(|s| s.entity_container.as_mut())
                {
                    c.entity_sets.push(set);
                }
            }
            ("NavigationPropertyBinding", "EntitySet") => {
                let binding = (
                    required(&mut a, "NavigationPropertyBinding", "Path")?,
                    required(&mut a, "NavigationPropertyBinding", "Target")?,
                );
                if let Some(set) = meta
                    .schemas
                    .last_mut()
                    .and_then(|s| s.entity_container.as_mut())
                    .and_then(|c| c.entity_sets.last_mut())
                {
                    set.navigation_bindings.push(binding);
                }
            }
            ("AssociationSet", "EntityContainer") => {
                association_sets.push(AssociationSet {
                    association: resolve_alias(
                        &required(&mut a, "AssociationSet", "Association")?,
                        &aliases,
                    ),
                    ends: Vec::new(),
                });
            }
            ("End", "AssociationSet") => {
                let end = (
                    required(&mut a, "End", "Role")?,
                    required(&mut a, "End", "EntitySet")?,
                );
                if let Some(set) = association_sets.last_mut() {
                    set.ends.push(end);
                }
            }
            _ => {}
        }
        if !empty {
            stack.push(name);
        }
    }
    if meta.schemas.is_empty() {
        return Err(CsdlError::NoSchema);
    }
    resolve_v3(
        &mut meta,
        &pending,
        &associations,
        &association_sets,
        &aliases,
    )?;
    Ok(meta)
}

/// The entity type being read (the last one of the last schema) when inside `<EntityType>`.
fn current_type<'m>(meta: &'m mut Metadata, stack: &[String]) -> Option<&'m mut EntityType> {
    if !stack.iter().any(|s| s == "EntityType") {
        return None;
    }
    meta.schemas.last_mut()?.entity_types.last_mut()
}

/// v3: fills in navigation targets from associations, and bindings from association sets.
fn resolve_v3(
    meta: &mut Metadata,
    pending: &[PendingNavigation],
    associations: &HashMap<String, Association>,
    association_sets: &[AssociationSet],
    aliases: &HashMap<String, String>,
) -> Result<(), CsdlError> {
    for p in pending {
        let (s, t, n) = p.at;
        let Some(nav) = meta
            .schemas
            .get_mut(s)
            .and_then(|s| s.entity_types.get_mut(t))
            .and_then(|t| t.navigation.get_mut(n))
        else {
            continue;
        };
        let relationship = resolve_alias(&p.relationship, aliases);
        let assoc =
            associations
                .get(&relationship)
                .ok_or_else(|| CsdlError::UnknownAssociation {
                    navigation: nav.name.clone(),
                    association: relationship.clone(),
                })?;
        if let Some((_, ty, multiplicity)) = assoc.ends.iter().find(|(role, _, _)| role == &p.to) {
            nav.target_type = ty.clone();
            nav.collection = multiplicity == "*";
        }
        let (this, other) = if assoc.principal.0 == p.from {
            (&assoc.principal.1, &assoc.dependent.1)
        } else {
            (&assoc.dependent.1, &assoc.principal.1)
        };
        nav.referential = this.iter().cloned().zip(other.iter().cloned()).collect();
    }
    // Bindings: for each set, the association sets whose end for this side names the set.
    let mut bindings: Vec<(usize, usize, String, String)> = Vec::new();
    for (si, schema) in meta.schemas.iter().enumerate() {
        let Some(container) = &schema.entity_container else {
            continue;
        };
        for (set_index, set) in container.entity_sets.iter().enumerate() {
            let Some(at) = type_position(meta, &set.entity_type) else {
                continue;
            };
            for p in pending.iter().filter(|p| (p.at.0, p.at.1) == at) {
                let relationship = resolve_alias(&p.relationship, aliases);
                let target = association_sets.iter().find_map(|aset| {
                    if aset.association != relationship {
                        return None;
                    }
                    let (_, from_set) = aset.ends.iter().find(|(r, _)| r == &p.from)?;
                    if from_set != &set.name {
                        return None;
                    }
                    aset.ends
                        .iter()
                        .find(|(r, _)| r == &p.to)
                        .map(|(_, s)| s.clone())
                });
                let nav_name = &meta.schemas[p.at.0].entity_types[p.at.1].navigation[p.at.2].name;
                if let Some(target) = target {
                    bindings.push((si, set_index, nav_name.clone(), target));
                }
            }
        }
    }
    for (si, set_index, path, target) in bindings {
        if let Some(set) = meta.schemas[si]
            .entity_container
            .as_mut()
            .and_then(|c| c.entity_sets.get_mut(set_index))
        {
            set.navigation_bindings.push((path, target));
        }
    }
    Ok(())
}

/// (schema index, type index) of a qualified entity type name.
fn type_position(meta: &Metadata, qualified: &str) -> Option<(usize, usize)> {
    let (namespace, name) = qualified.rsplit_once('.')?;
    meta.schemas.iter().enumerate().find_map(|(si, s)| {
        if s.namespace != namespace {
            return None;
        }
        s.entity_types
            .iter()
            .position(|t| t.name == name)
            .map(|ti| (si, ti))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
