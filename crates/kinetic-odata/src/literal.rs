//! Validation of the textual forms of temporal, GUID, duration, numeric and binary values, shared by
//! the expression parser and the single-literal rule entry points.
//!
//! Each validator takes exactly the value text (no quotes, no prefix) and answers `Err(offset)` with the
//! byte offset inside that text where it stopped being valid, so callers can point at it.

/// `len` ASCII digits at `s[at..]`, parsed; `None` when they are not all there.
fn digits(s: &[u8], at: usize, len: usize) -> Option<u32> {
    let part = s.get(at..at + len)?;
    let mut v = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        // Proleptic Gregorian with astronomical year numbering (year 0 is a leap year), as XML Schema
        // and OData use it.
        _ if year.rem_euclid(4) == 0
            && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) =>
        {
            29
        }
        _ => 28,
    }
}

/// `[-]YYYY-MM-DD`: answers the end offset of the date part.
fn date_prefix(s: &[u8]) -> Result<usize, usize> {
    let mut i = 0;
    if s.first() == Some(&b'-') {
        i = 1;
    }
    let year_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let year_len = i - year_start;
    // Four digits, or more without a leading zero; at most 9 so the value fits comfortably.
    if year_len < 4 {
        return Err(i);
    }
    if year_len > 4 && s[year_start] == b'0' {
        return Err(year_start);
    }
    if year_len > 9 {
        return Err(year_start + 9);
    }
    let mut year: i64 = 0;
    for &b in &s[year_start..i] {
        year = year * 10 + i64::from(b - b'0');
    }
    if year_start == 1 {
        year = -year;
    }
    if s.get(i) != Some(&b'-') {
        return Err(i);
    }
    i += 1;
    let month = digits(s, i, 2).ok_or(i)?;
    if !(1..=12).contains(&month) {
        return Err(i);
    }
    i += 2;
    if s.get(i) != Some(&b'-') {
        return Err(i);
    }
    i += 1;
    let day = digits(s, i, 2).ok_or(i)?;
    if day < 1 || day > days_in_month(year, month) {
        return Err(i);
    }
    Ok(i + 2)
}

/// `hh:mm[:ss[.fffffffffff]]` at the start of `s`; answers the end offset.
fn time_prefix(s: &[u8], max_fraction: usize) -> Result<usize, usize> {
    let hour = digits(s, 0, 2).ok_or(0usize)?;
    if hour > 23 {
        // "24:00" is rejected: OData has no end-of-day time. Point at the second digit, as the
        // grammar does ("2" is a fine start, "24" is not).
        return Err(1);
    }
    if s.get(2) != Some(&b':') {
        return Err(2);
    }
    let minute = digits(s, 3, 2).ok_or(3usize)?;
    if minute > 59 {
        return Err(3);
    }
    let mut i = 5;
    if s.get(i) == Some(&b':') {
        i += 1;
        // 60 is a leap second.
        let second = digits(s, i, 2).ok_or(i)?;
        if second > 60 {
            return Err(i);
        }
        i += 2;
        if s.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            if i == start || i - start > max_fraction {
                return Err(i.min(start + max_fraction));
            }
        }
    }
    Ok(i)
}

/// Validates a date `[-]YYYY-MM-DD`.
pub(crate) fn validate_date(s: &str) -> Result<(), usize> {
    let b = s.as_bytes();
    let end = date_prefix(b)?;
    if end != b.len() {
        return Err(end);
    }
    Ok(())
}

/// Validates a date-time with offset `YYYY-MM-DDThh:mm[:ss[.f]](Z|±hh:mm)`.
pub(crate) fn validate_date_time_offset(s: &str) -> Result<(), usize> {
    let b = s.as_bytes();
    let mut i = date_prefix(b)?;
    if !matches!(b.get(i), Some(b'T' | b't')) {
        return Err(i);
    }
    i += 1;
    let rest = &b[i..];
    i += time_prefix(rest, 12).map_err(|e| e + i)?;
    match b.get(i) {
        Some(b'Z' | b'z') => i += 1,
        Some(b'+' | b'-') => {
            i += 1;
            let h = digits(b, i, 2).ok_or(i)?;
            if h > 23 {
                return Err(i);
            }
            if b.get(i + 2) != Some(&b':') {
                return Err(i + 2);
            }
            let m = digits(b, i + 3, 2).ok_or(i + 3)?;
            if m > 59 {
                return Err(i + 3);
            }
            i += 5;
        }
        _ => return Err(i),
    }
    if i != b.len() {
        return Err(i);
    }
    Ok(())
}

/// Validates a time of day `hh:mm[:ss[.fffffffffff]]`.
pub(crate) fn validate_time_of_day(s: &str) -> Result<(), usize> {
    let b = s.as_bytes();
    let end = time_prefix(b, 12)?;
    if end != b.len() {
        return Err(end);
    }
    Ok(())
}

/// Validates a duration `[-]P[nD][T[nH][nM][n[.n]S]]` (no years or months: OData durations are
/// day-time durations).
pub(crate) fn validate_duration(s: &str) -> Result<(), usize> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    if !matches!(b.get(i), Some(b'P' | b'p')) {
        return Err(i);
    }
    i += 1;
    let mut any = false;
    // Number then designator; `order` makes sure D, H, M, S come in that order at most once.
    let mut in_time = false;
    let mut order = 0;
    while i < b.len() {
        if !in_time && matches!(b[i], b'T' | b't') {
            in_time = true;
            i += 1;
            if i == b.len() {
                return Err(i);
            }
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(i);
        }
        let mut fraction = false;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let f = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == f {
                return Err(i);
            }
            fraction = true;
        }
        let rank = match (in_time, b.get(i).map(u8::to_ascii_uppercase)) {
            (false, Some(b'D')) => 1,
            (true, Some(b'H')) => 2,
            (true, Some(b'M')) => 3,
            (true, Some(b'S')) => 4,
            _ => return Err(i),
        };
        if rank <= order || (fraction && rank != 4) {
            return Err(i);
        }
        order = rank;
        any = true;
        i += 1;
    }
    if !any {
        return Err(i);
    }
    Ok(())
}

/// Validates a GUID `8-4-4-4-12` hexadecimal digits.
pub(crate) fn validate_guid(s: &str) -> Result<(), usize> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            c == b'-'
        } else {
            c.is_ascii_hexdigit()
        };
        if !ok || i >= 36 {
            return Err(i);
        }
    }
    if b.len() != 36 {
        return Err(b.len());
    }
    Ok(())
}

/// True when `s` starts with a GUID that is not followed by more identifier characters.
pub(crate) fn starts_with_guid(s: &str) -> bool {
    match s.get(..36) {
        Some(head) => {
            validate_guid(head).is_ok()
                && !s[36..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
        }
        None => false,
    }
}

/// Validates a decimal or double value as in payloads:
/// `[+|-]digits[.digits][(e|E)[+|-]digits]`, or `INF`, `-INF`, `NaN`.
pub(crate) fn validate_number(s: &str) -> Result<(), usize> {
    if matches!(s, "INF" | "-INF" | "NaN") {
        return Ok(());
    }
    let b = s.as_bytes();
    let end = number_prefix(b)?;
    if end != b.len() {
        return Err(end);
    }
    Ok(())
}

/// Scans `[+|-]digits[.digits][(e|E)[+|-]digits]` at the start of `b`; answers its end.
pub(crate) fn number_prefix(b: &[u8]) -> Result<usize, usize> {
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return Err(i);
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == f {
            return Err(i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return Err(i);
        }
    }
    Ok(i)
}

/// Validates the value of an enum literal: members or integers separated by commas.
pub(crate) fn validate_enum_value(s: &str) -> Result<(), usize> {
    let mut offset = 0;
    for part in s.split(',') {
        let ok = if let Some(first) = part.chars().next() {
            if first.is_alphabetic() || first == '_' {
                part.chars().all(|c| c.is_alphanumeric() || c == '_')
            } else {
                let digits = part.strip_prefix(['+', '-']).unwrap_or(part);
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            }
        } else {
            false
        };
        if !ok {
            return Err(offset);
        }
        offset += part.len() + 1;
    }
    Ok(())
}

fn base64_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        // OData uses the URL-safe alphabet; the standard one is accepted too, leniently.
        b'-' | b'+' => 62,
        b'_' | b'/' => 63,
        _ => return None,
    })
}

/// Decodes base64 (URL-safe or standard alphabet, padding optional).
pub(crate) fn decode_base64(s: &str) -> Result<Vec<u8>, usize> {
    let b = s.as_bytes();
    let data_len = b.iter().rposition(|&c| c != b'=').map_or(0, |p| p + 1);
    let padding = b.len() - data_len;
    if padding > 2 || (padding > 0 && !b.len().is_multiple_of(4)) || data_len % 4 == 1 {
        return Err(data_len);
    }
    let mut out = Vec::with_capacity(data_len * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for (i, &c) in b[..data_len].iter().enumerate() {
        let v = base64_value(c).ok_or(i)?;
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// Encodes bytes as URL-safe base64 with padding (the canonical form written in `binary'...'`).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &c)| acc | (u32::from(c) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(validate_date("2012-09-03").is_ok());
        assert!(validate_date("0000-01-01").is_ok());
        assert!(validate_date("-10000-04-01").is_ok());
        assert!(validate_date("2024-02-29").is_ok());
        assert_eq!(validate_date("2023-02-29"), Err(8));
        assert_eq!(validate_date("2025-13-01"), Err(5));
        assert!(validate_date("INF").is_err());
        assert!(validate_date("01234-01-01").is_err());
    }

    #[test]
    fn date_time_offsets() {
        for ok in [
            "2012-09-03T13:52Z",
            "2012-09-03T22:09:02Z",
            "1972-06-30T23:59:60Z",
            "2012-08-31T18:19:22.1Z",
            "2012-09-03T14:53+02:00",
            "-10000-04-01T00:00Z",
        ] {
            assert!(validate_date_time_offset(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_date_time_offset("2011-12-31T24:00Z"), Err(12));
        assert_eq!(validate_date_time_offset("2012-09-03T23%3A59Z"), Err(13));
        assert!(validate_date_time_offset("2012-09-03T23:59").is_err());
    }

    #[test]
    fn times_durations_guids() {
        assert!(validate_time_of_day("11:22:33.4444444").is_ok());
        assert_eq!(validate_time_of_day("24:00:00"), Err(1));
        assert!(validate_duration("-P6DT23H59M59.9999S").is_ok());
        assert!(validate_duration("PT1H").is_ok());
        assert_eq!(validate_duration("+P1D"), Err(0));
        assert_eq!(validate_duration("P1Y"), Err(2));
        assert!(validate_duration("P").is_err());
        assert!(validate_duration("PT").is_err());
        assert!(validate_duration("P1H").is_err());
        assert!(validate_guid("01234567-89ab-cdef-0123-456789abcdef").is_ok());
        assert_eq!(
            validate_guid("01234g67-89ab-cdef-0123-456789abcdef"),
            Err(5)
        );
        assert!(starts_with_guid("01234567-89ab-cdef-0123-456789abcdef)"));
        assert!(!starts_with_guid("01234567-89ab-cdef-0123-456789abcdefa"));
    }

    #[test]
    fn numbers_and_enums() {
        for ok in [
            "3.14",
            "-1.234567e3",
            "1e-101",
            "INF",
            "-INF",
            "NaN",
            "+42",
            "-2",
        ] {
            assert!(validate_number(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_number("42."), Err(3));
        assert_eq!(validate_number(".1"), Err(0));
        assert_eq!(validate_number("-0.314e1e2"), Err(8));
        assert!(validate_enum_value("Solid,Yellow,-42").is_ok());
        assert!(validate_enum_value("Solid,,Yellow").is_err());
    }

    #[test]
    fn base64_round_trip() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zg", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg==", b"foob"),
            ("Zm9vYmE=", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
        ] {
            assert_eq!(decode_base64(text).unwrap(), bytes, "{text}");
        }
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"\xff\xfe\xfd\xfc"] {
            assert_eq!(decode_base64(&encode_base64(bytes)).unwrap(), bytes);
        }
        assert!(decode_base64("Z").is_err());
        assert!(decode_base64("Zg=").is_err());
        assert!(decode_base64("Z!==").is_err());
    }
}
