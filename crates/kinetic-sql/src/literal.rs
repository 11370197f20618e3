//! SQL literals as the crate passes them on: a procedure's literal arguments, and decimals as
//! exact text (never rounded through a float) and as the JSON a write sends.

use serde_json::Value as Json;

/// A literal argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// A number, as written (exact).
    Number(String),
    Text(String),
}

impl Literal {
    pub(crate) fn to_json(&self) -> Json {
        match self {
            Literal::Null => Json::Null,
            Literal::Bool(b) => Json::Bool(*b),
            Literal::Number(n) => match n.parse::<i64>() {
                Ok(i) => Json::from(i),
                Err(_) => decimal_json(n.clone(), false),
            },
            Literal::Text(s) => Json::String(s.clone()),
        }
    }

    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Literal::Null => None,
            Literal::Bool(b) => Some(b.to_string()),
            Literal::Number(n) | Literal::Text(n) => Some(n.clone()),
        }
    }
}

/// The decimal `mantissa × 10^-scale` as text, exactly (`-12.50`).
pub fn decimal_text(mantissa: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = mantissa.to_string();
        if mantissa != 0 {
            s.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        }
        return s;
    }
    let scale = scale as usize;
    let digits = mantissa.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{}{int}.{frac}", if mantissa < 0 { "-" } else { "" })
}

/// A decimal for the wire: a JSON number when that number is the same decimal (and the API is
/// v2), its text otherwise: never rounded through a float.
pub(crate) fn decimal_json(text: String, v1: bool) -> Json {
    if !v1 {
        if let Ok(f) = text.parse::<f64>() {
            if normalized(&format!("{f}")) == normalized(&text) {
                if let Some(n) = serde_json::Number::from_f64(f) {
                    return Json::Number(n);
                }
            }
        }
    }
    Json::String(text)
}

/// A decimal's text without trailing fraction zeros (`12.50` → `12.5`, `3.00` → `3`).
fn normalized(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_with_a_negative_scale_are_whole() {
        assert_eq!(decimal_text(0, -3), "0");
        assert_eq!(decimal_text(-12, -1), "-120");
    }

    #[test]
    fn decimals_are_exact_text() {
        assert_eq!(decimal_text(1250, 2), "12.50");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(7, -2), "700");
        assert_eq!(decimal_text(i128::MAX, 0), i128::MAX.to_string());
    }

    #[test]
    fn a_decimal_is_a_number_only_when_the_number_is_the_same_decimal() {
        assert_eq!(decimal_json("12.50".into(), false), serde_json::json!(12.5));
        assert_eq!(decimal_json("0.10".into(), false), serde_json::json!(0.1));
        assert_eq!(
            decimal_json("12345678901234.56789".into(), false),
            Json::String("12345678901234.56789".into())
        );
        assert_eq!(
            decimal_json("3.00".into(), true),
            Json::String("3.00".into())
        );
    }
}
