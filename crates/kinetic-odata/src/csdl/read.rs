//! Reading CSDL, v3 or v4, into a [`Metadata`] (v3 associations resolved into navigation).

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::*;

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

pub(super) fn read(xml: &str) -> Result<Metadata, CsdlError> {
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
