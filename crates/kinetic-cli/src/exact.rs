//! JSON as the server wrote it, for printing answers: numbers keep their text, so a decimal
//! such as `53500.000` prints as `53500.000` (not `53500.0`) and a value beyond a float's 17
//! digits is not rounded. `serde_json::Value` holds numbers as floats (its exact mode would
//! change how every crate of the build parses numbers), so method and function answers are
//! read into this tree instead.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt::Write as _;

/// A JSON value with its numbers as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number's text, as the server wrote it.
    Number(String),
    Text(String),
    Array(Vec<Json>),
    /// Members in the server's order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses JSON text, numbers kept as written.
    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        let raw: &RawValue = serde_json::from_str(text)?;
        Json::from_raw(raw)
    }

    fn from_raw(raw: &RawValue) -> Result<Json, serde_json::Error> {
        let text = raw.get();
        Ok(match text.as_bytes().first() {
            Some(b'{') => {
                let Pairs(pairs) = serde_json::from_str(text)?;
                Json::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| Json::from_raw(&v).map(|v| (k, v)))
                        .collect::<Result<_, _>>()?,
                )
            }
            Some(b'[') => {
                let items: Vec<Box<RawValue>> = serde_json::from_str(text)?;
                Json::Array(
                    items
                        .iter()
                        .map(|v| Json::from_raw(v))
                        .collect::<Result<_, _>>()?,
                )
            }
            Some(b'"') => Json::Text(serde_json::from_str(text)?),
            Some(b't') => Json::Bool(true),
            Some(b'f') => Json::Bool(false),
            Some(b'n') => Json::Null,
            _ => Json::Number(text.to_owned()),
        })
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The members of an object.
    pub fn members(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// As a `serde_json::Value` (numbers through floats): for code that only looks at the
    /// shape, never for printing values.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => serde_json::from_str(n).unwrap_or(Value::Null),
            Json::Text(t) => Value::String(t.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The value's text in a table cell: text bare, null empty, the rest as compact JSON.
    pub fn cell(&self) -> String {
        match self {
            Json::Text(t) => t.clone(),
            Json::Null => String::new(),
            Json::Number(n) => n.clone(),
            other => other.text(false),
        }
    }

    /// JSON text: compact, or pretty (two-space indents, as `serde_json` writes it).
    pub fn text(&self, pretty: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, pretty, 0);
        out
    }

    fn write(&self, out: &mut String, pretty: bool, depth: usize) {
        let indent = |out: &mut String, depth: usize| {
            if pretty {
                out.push('\n');
                out.push_str(&"  ".repeat(depth));
            }
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Json::Number(n) => out.push_str(n),
            Json::Text(t) => out.push_str(&Value::String(t.clone()).to_string()),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    item.write(out, pretty, depth + 1);
                }
                if !items.is_empty() {
                    indent(out, depth);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(if pretty { ": " } else { ":" });
                    v.write(out, pretty, depth + 1);
                }
                if !members.is_empty() {
                    indent(out, depth);
                }
                out.push('}');
            }
        }
    }
}

impl From<&Value> for Json {
    fn from(v: &Value) -> Json {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.to_string()),
            Value::String(s) => Json::Text(s.clone()),
            Value::Array(items) => Json::Array(items.iter().map(Json::from).collect()),
            Value::Object(map) => map.into(),
        }
    }
}

impl From<&serde_json::Map<String, Value>> for Json {
    fn from(map: &serde_json::Map<String, Value>) -> Json {
        Json::Object(map.iter().map(|(k, v)| (k.clone(), v.into())).collect())
    }
}

/// An object's members in order, their values unparsed.
struct Pairs(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    pairs.push((k, v));
                }
                Ok(Pairs(pairs))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let text = r#"{"CreditLimit":53500.000,"Big":12345678901234567.89,"n":[1,2.50,-0.0],"s":"a\"b","t":true,"z":null}"#;
        let j = Json::parse(text).unwrap();
        assert_eq!(j.get("CreditLimit").unwrap().cell(), "53500.000");
        assert_eq!(j.get("Big").unwrap().cell(), "12345678901234567.89");
        assert_eq!(j.text(false), text);
        assert_eq!(j.get("s").unwrap().cell(), "a\"b");
    }

    #[test]
    fn pretty_text_is_serde_jsons() {
        let v: Value = serde_json::from_str(r#"{"a":[1,{"b":"x"}],"c":{},"d":[]}"#).unwrap();
        assert_eq!(
            Json::from(&v).text(true),
            serde_json::to_string_pretty(&v).unwrap()
        );
        assert_eq!(Json::from(&v).text(false), v.to_string());
    }
}
