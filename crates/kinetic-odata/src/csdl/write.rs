//! Writing CSDL: a [`Metadata`] as EDMX 4.0 or, for v1, EDMX 1.0 with associations.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::*;

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

pub(super) fn write_schema(out: &mut String, schema: &Schema, version: ODataVersion) {
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
                    close_with(
                        out,
                        "NavigationProperty",
                        &nav.referential,
                        |out, (p, r)| {
                            out.push_str("<ReferentialConstraint");
                            attr(out, "Property", p);
                            attr(out, "ReferencedProperty", r);
                        },
                    );
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
            // v3 has no bindings: its associations say where a navigation leads.
            let bindings = match version {
                ODataVersion::V4 => &set.navigation_bindings[..],
                ODataVersion::V3 => &[],
            };
            close_with(out, "EntitySet", bindings, |out, (path, target)| {
                out.push_str("<NavigationPropertyBinding");
                attr(out, "Path", path);
                attr(out, "Target", target);
            });
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
                out.push_str("<ReferentialConstraint>\n");
                let principal = nav.referential.iter().map(|(p, _)| p.as_str());
                write_constraint_end(out, "Principal", &from, principal);
                let dependent = nav.referential.iter().map(|(_, r)| r.as_str());
                write_constraint_end(out, "Dependent", &to, dependent);
                out.push_str("</ReferentialConstraint>\n");
            }
            out.push_str("</Association>\n");
        }
    }
}

/// Ends an element whose start tag is open: `/>` without children, else `>`, one empty child
/// element a line (`child` writes its start and attributes) and the end tag.
fn close_with<T>(out: &mut String, tag: &str, children: &[T], child: impl Fn(&mut String, &T)) {
    if children.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for c in children {
        child(out, c);
        out.push_str("/>\n");
    }
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

/// v3: one end of a referential constraint, `<Principal Role="..."><PropertyRef Name="..."/>...
/// </Principal>` (or `Dependent`), on a line of its own.
fn write_constraint_end<'a>(
    out: &mut String,
    tag: &str,
    role: &str,
    properties: impl Iterator<Item = &'a str>,
) {
    out.push('<');
    out.push_str(tag);
    attr(out, "Role", role);
    out.push('>');
    for name in properties {
        out.push_str("<PropertyRef");
        attr(out, "Name", name);
        out.push_str("/>");
    }
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
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
