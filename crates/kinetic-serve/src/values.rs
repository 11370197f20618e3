//! Values on the wire in PostgreSQL's binary format, both ways: a client's parameters (text or
//! binary, by their type) as the SQL layer's [`Param`]s, and `numeric` as PostgreSQL writes it
//! (base 10000 digits, exact for every digit a decimal column has).
//!
//! A parameter's type is the one the client gave in `Parse`, or else the one the statement
//! gives it (`CustNum = $1`: the column's; see `SqlSession::describe`), or else text. A value
//! that does not read as its type is SQLSTATE 22P02 in PostgreSQL's words (`invalid input
//! syntax for type integer: "x"`); nothing a client sends is ever read as SQL.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use epicor_kinetic_sql::Param;
use pgwire::api::Type;

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (PostgreSQL's).
pub const DAYS_1970_TO_2000: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub const MICROS_1970_TO_2000: i64 = 946_684_800_000_000;

/// Why a parameter could not be read: its SQLSTATE and PostgreSQL's message.
#[derive(Debug, PartialEq)]
pub struct BadValue {
    pub code: &'static str,
    pub message: String,
}

fn syntax(ty: &Type, shown: &str) -> BadValue {
    BadValue {
        code: "22P02",
        message: format!(
            "invalid input syntax for type {}: \"{}\"",
            type_name(ty),
            shown.chars().take(64).collect::<String>()
        ),
    }
}

fn binary_error(ty: &Type, len: usize) -> BadValue {
    BadValue {
        code: "22P03",
        message: format!(
            "incorrect binary data format for type {} ({len} bytes)",
            type_name(ty)
        ),
    }
}

/// The name PostgreSQL's messages give a type.
fn type_name(ty: &Type) -> &str {
    match *ty {
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::BOOL => "boolean",
        Type::TIMESTAMP => "timestamp",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::TIME => "time",
        _ => ty.name(),
    }
}

/// A parameter's value as the SQL layer binds it: `bytes` (`None` for SQL NULL) in text or
/// binary format, read as `ty`.
pub fn param(bytes: Option<&[u8]>, binary: bool, ty: &Type) -> Result<Param, BadValue> {
    let Some(bytes) = bytes else {
        return Ok(Param::Null);
    };
    if binary {
        return binary_param(bytes, ty);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| BadValue {
        code: "22021",
        message: "invalid byte sequence for encoding \"UTF8\" in a parameter".into(),
    })?;
    text_param(text, ty)
}

fn text_param(text: &str, ty: &Type) -> Result<Param, BadValue> {
    let bad = || syntax(ty, text);
    let t = text.trim();
    Ok(match *ty {
        Type::BOOL => Param::Bool(boolean(t).ok_or_else(bad)?),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => {
            Param::Int(t.parse::<i64>().map_err(|_| bad())?)
        }
        Type::FLOAT4 | Type::FLOAT8 => Param::Float(float(t).ok_or_else(bad)?),
        Type::NUMERIC => {
            if !is_decimal(t) {
                return Err(bad());
            }
            Param::Decimal(t.trim_start_matches('+').to_owned())
        }
        Type::DATE => Param::Date(NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())?),
        Type::TIMESTAMP => Param::LocalTimestamp(local_timestamp(t).ok_or_else(bad)?),
        Type::TIMESTAMPTZ => Param::Timestamp(instant(t).ok_or_else(bad)?),
        Type::TIME => Param::Time(NaiveTime::parse_from_str(t, "%H:%M:%S%.f").map_err(|_| bad())?),
        _ => Param::Text(text.to_owned()),
    })
}

/// PostgreSQL's spellings of a boolean (`t`, `true`, `yes`, `on`, `1`, any case).
fn boolean(t: &str) -> Option<bool> {
    match t.to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn float(t: &str) -> Option<f64> {
    match t.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" => Some(f64::INFINITY),
        "-infinity" => Some(f64::NEG_INFINITY),
        // NaN reads, and the SQL layer refuses it with its reason when bound.
        _ => t.parse().ok(),
    }
}

/// Digits with an optional sign and point (no exponent: the SQL layer binds exact decimals).
fn is_decimal(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(whole.is_empty() && fraction.is_empty()) && plain(whole) && plain(fraction)
}

fn local_timestamp(t: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN))
    })
}

/// A timestamp with a time zone (`2025-01-31 10:00:00+01`, `...+05:30`, `...Z`); without one,
/// UTC (the server's `TimeZone` is UTC).
fn instant(t: &str) -> Option<DateTime<Utc>> {
    ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(t, f).ok())
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
        .or_else(|| local_timestamp(t).map(|d| d.and_utc()))
}

fn binary_param(b: &[u8], ty: &Type) -> Result<Param, BadValue> {
    let bad = || binary_error(ty, b.len());
    let int = |n: usize| -> Result<i64, BadValue> {
        match (n, b.len()) {
            (2, 2) => Ok(i64::from(i16::from_be_bytes([b[0], b[1]]))),
            (4, 4) => Ok(i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
            (8, 8) => Ok(i64::from_be_bytes(b.try_into().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    };
    Ok(match *ty {
        Type::BOOL => match b {
            [v] => Param::Bool(*v != 0),
            _ => return Err(bad()),
        },
        Type::INT2 => Param::Int(int(2)?),
        Type::INT4 | Type::OID => Param::Int(int(4)?),
        Type::INT8 => Param::Int(int(8)?),
        Type::FLOAT4 => Param::Float(f64::from(f32::from_bits(int(4)? as u32))),
        Type::FLOAT8 => Param::Float(f64::from_bits(int(8)? as u64)),
        Type::NUMERIC => Param::Decimal(numeric_text(b).ok_or_else(bad)?),
        Type::DATE => {
            let days = i32::try_from(int(4)?).map_err(|_| bad())?;
            let day = NaiveDate::from_num_days_from_ce_opt(
                days.checked_add(730_120).ok_or_else(bad)?, // 2000-01-01 is day 730,120 of the era
            )
            .ok_or_else(bad)?;
            Param::Date(day)
        }
        Type::TIMESTAMP => Param::LocalTimestamp(micros_2000(int(8)?).ok_or_else(bad)?.naive_utc()),
        Type::TIMESTAMPTZ => Param::Timestamp(micros_2000(int(8)?).ok_or_else(bad)?),
        Type::TIME => {
            let micros = int(8)?;
            let secs = u32::try_from(micros.div_euclid(1_000_000)).map_err(|_| bad())?;
            let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).map_err(|_| bad())?;
            Param::Time(NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).ok_or_else(bad)?)
        }
        Type::UUID => match <[u8; 16]>::try_from(b) {
            Ok(u) => Param::Text(uuid_text(&u)),
            Err(_) => return Err(bad()),
        },
        _ => Param::Text(
            std::str::from_utf8(b)
                .map_err(|_| BadValue {
                    code: "22021",
                    message: "invalid byte sequence for encoding \"UTF8\" in a parameter".into(),
                })?
                .to_owned(),
        ),
    })
}

fn micros_2000(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros.checked_add(MICROS_1970_TO_2000)?)
}

fn uuid_text(u: &[u8; 16]) -> String {
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

const NUMERIC_NEGATIVE: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;

/// A binary `numeric` as decimal text (`None` when malformed, NaN or an infinity: values the
/// SQL layer cannot bind).
pub fn numeric_text(b: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])) };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    if b.len() != 8 + 2 * ndigits || (sign != 0 && sign != NUMERIC_NEGATIVE) || dscale > 16_383 {
        return None;
    }
    let digits = (0..ndigits)
        .map(|i| word(8 + 2 * i).filter(|d| *d < 10_000))
        .collect::<Option<Vec<u16>>>()?;
    if weight.unsigned_abs() > 10_000 {
        return None;
    }
    let group = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == NUMERIC_NEGATIVE && digits.iter().any(|d| *d != 0) {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                out.push_str(&group(i).to_string());
            } else {
                out.push_str(&format!("{:04}", group(i)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", group(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Some(out)
}

/// Decimal text (`-123.4500`, as Arrow writes a decimal) as a binary `numeric`, exact, its
/// scale the text's; `None` for anything else.
pub fn numeric_binary(text: &str, out: &mut BytesMut) -> Option<()> {
    if text == "NaN" {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(NUMERIC_NAN);
        out.put_u16(0);
        return Some(());
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let dscale = u16::try_from(fraction.len()).ok()?;
    let mut padded = "0".repeat((4 - whole.len() % 4) % 4);
    padded.push_str(whole);
    let whole_groups = padded.len() / 4;
    padded.push_str(fraction);
    padded.push_str(&"0".repeat((4 - fraction.len() % 4) % 4));
    let mut groups: Vec<i16> = padded
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |n, d| n * 10 + i16::from(d - b'0')))
        .collect();
    let mut weight = i16::try_from(whole_groups).ok()? - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= i16::try_from(leading).ok()?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(i16::try_from(groups.len()).ok()?);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() {
        NUMERIC_NEGATIVE
    } else {
        0
    });
    out.put_u16(dscale);
    for g in groups {
        out.put_i16(g);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut b = BytesMut::new();
        numeric_binary(text, &mut b).unwrap();
        numeric_text(&b).unwrap()
    }

    #[test]
    fn numerics_round_trip_exactly() {
        for t in [
            "0",
            "0.0001",
            "-0.50",
            "1234.5000",
            "10000",
            "99999999999999999999999999999999999999",
            "-1234567890123456789012345678.9012345678",
            "0.00000000000000000001",
            "120000",
        ] {
            assert_eq!(round_trip(t), t, "{t}");
        }
        // The bytes PostgreSQL itself sends for 1234.5000: 2 digits, weight 0, scale 4.
        let mut b = BytesMut::new();
        numeric_binary("1234.5000", &mut b).unwrap();
        assert_eq!(&b[..], [0, 2, 0, 0, 0, 0, 0, 4, 0x04, 0xD2, 0x13, 0x88]);
        assert!(numeric_binary("1e5", &mut BytesMut::new()).is_none());
        assert!(numeric_text(&[0, 1, 0, 0, 0, 0, 0, 0]).is_none(), "short");
        assert!(numeric_text(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).is_none(), "NaN");
    }

    #[test]
    fn parameters_read_as_their_types() {
        let t = |s: &str, ty: &Type| param(Some(s.as_bytes()), false, ty);
        assert_eq!(t("42", &Type::INT4), Ok(Param::Int(42)));
        assert_eq!(t("yes", &Type::BOOL), Ok(Param::Bool(true)));
        assert_eq!(
            t("-1.50", &Type::NUMERIC),
            Ok(Param::Decimal("-1.50".into()))
        );
        assert_eq!(
            t("2025-01-31 10:00:00+01", &Type::TIMESTAMPTZ),
            Ok(Param::Timestamp(
                DateTime::parse_from_rfc3339("2025-01-31T09:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            ))
        );
        assert_eq!(
            t("O'Brien", &Type::UNKNOWN),
            Ok(Param::Text("O'Brien".into()))
        );
        let e = t("1; DROP TABLE x", &Type::INT4).unwrap_err();
        assert_eq!(e.code, "22P02");
        assert_eq!(
            e.message,
            "invalid input syntax for type integer: \"1; DROP TABLE x\""
        );
        assert_eq!(param(None, false, &Type::INT4), Ok(Param::Null));
        let b = |bytes: &[u8], ty: &Type| param(Some(bytes), true, ty);
        assert_eq!(b(&7i32.to_be_bytes(), &Type::INT4), Ok(Param::Int(7)));
        assert_eq!(b(&[0, 0, 0], &Type::INT4).unwrap_err().code, "22P03");
        assert_eq!(
            b(&0i32.to_be_bytes(), &Type::DATE),
            Ok(Param::Date(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()))
        );
        assert_eq!(
            b(&(-1i64).to_be_bytes(), &Type::TIMESTAMPTZ),
            Ok(Param::Timestamp(
                DateTime::parse_from_rfc3339("1999-12-31T23:59:59.999999Z")
                    .unwrap()
                    .with_timezone(&Utc)
            ))
        );
    }
}
