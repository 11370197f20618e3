//! The names the catalog answers to: its own and its schemas' names, the table name a BAQ call
//! with parameters becomes, and which services may hold an unqualified table.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// The catalog's name (`kinetic.<schema>.<table>` in fully qualified names).
pub const CATALOG: &str = "kinetic";
/// The default schema: system tables and unqualified names.
pub const DEFAULT_SCHEMA: &str = "default";
/// The schema of BAQs.
pub const BAQ_SCHEMA: &str = "BaqSvc";

/// Services searched for an unqualified table when the server lists more: beyond this, only
/// services whose name contains the table's name are searched.
pub(crate) const SEARCH_ALL_UP_TO: usize = 64;

/// `CustomerSvc` of `Erp.BO.CustomerSvc`.
pub fn alias_of(service: &str) -> &str {
    service.rsplit('.').next().unwrap_or(service)
}

/// Whether `service` may hold the table `table` when the server lists more than
/// [`SEARCH_ALL_UP_TO`] services: its name contains the table's without a plural `s`
/// (`Customers`, `CUSTOMERS` → `Erp.BO.CustomerSvc`), in any case, as every name matches.
pub(crate) fn may_hold(service: &str, table: &str) -> bool {
    let stem = table.trim_end_matches(['s', 'S']).to_ascii_lowercase();
    service.to_ascii_lowercase().contains(&stem)
}

/// Characters encoded in a BAQ parameter value inside a table name.
const VALUE: &AsciiSet = &CONTROLS
    .add(b'%')
    .add(b'=')
    .add(b',')
    .add(b'(')
    .add(b')')
    .add(b'"');

/// `zOrdersByCustomer(CustID=ADDIS0001)`.
pub fn encode_baq_name(id: &str, parameters: &[(String, String)]) -> String {
    let params: Vec<String> = parameters
        .iter()
        .map(|(n, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(n, VALUE),
                utf8_percent_encode(v, VALUE)
            )
        })
        .collect();
    format!("{id}({})", params.join(","))
}

/// The BAQ id and parameters of a table name from [`encode_baq_name`] (or a plain id); `None`
/// for a name that is not one (a quoted name is the user's own text: `"zX(a)(b)"`, a pair
/// without `=`). Names and values are percent-decoded: what they are, not how they were
/// written, is what the catalog checks.
pub fn decode_baq_name(name: &str) -> Option<(String, Vec<(String, String)>)> {
    let Some((id, rest)) = name.split_once('(') else {
        return Some((name.to_owned(), Vec::new()));
    };
    let inner = rest.strip_suffix(')')?;
    if inner.contains(['(', ')']) {
        return None;
    }
    let decode = |t: &str| percent_decode_str(t).decode_utf8_lossy().into_owned();
    let params = inner
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map(|(n, v)| (decode(n), decode(v))))
        .collect::<Option<Vec<_>>>()?;
    Some((id.to_owned(), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_searched_in_services_named_like_it_in_any_case() {
        for table in ["Customers", "CUSTOMERS", "customer", "Customer"] {
            assert!(may_hold("Erp.BO.CustomerSvc", table), "{table}");
        }
        assert!(!may_hold("Erp.BO.PartSvc", "Customers"));
    }

    #[test]
    fn aliases_are_the_last_part() {
        assert_eq!(alias_of("Erp.BO.CustomerSvc"), "CustomerSvc");
        assert_eq!(alias_of("BaqSvc"), "BaqSvc");
    }

    #[test]
    fn baq_names_round_trip_hostile_values() {
        let params = vec![
            ("CustID".to_owned(), "A'); DROP--,=()%\"".to_owned()),
            ("MinQty".to_owned(), "5".to_owned()),
        ];
        let name = encode_baq_name("zX", &params);
        assert_eq!(decode_baq_name(&name), Some(("zX".to_owned(), params)));
        assert_eq!(
            decode_baq_name("zPlain"),
            Some(("zPlain".to_owned(), vec![]))
        );
    }

    /// A quoted table name is the user's text: decoded as written (so `%24filter` is
    /// `$filter`, for the catalog to refuse), or not a BAQ's name at all.
    #[test]
    fn raw_baq_names_decode_what_they_say_or_nothing() {
        let one = |n: &str, v: &str| Some(("zX".to_owned(), vec![(n.to_owned(), v.to_owned())]));
        assert_eq!(
            decode_baq_name("zX($filter=a eq 1)"),
            one("$filter", "a eq 1")
        );
        assert_eq!(
            decode_baq_name("zX(%24filter=a eq 1)"),
            one("$filter", "a eq 1")
        );
        assert_eq!(decode_baq_name("zX()"), Some(("zX".to_owned(), vec![])));
        for bad in ["zX(a)", "zX(a=1", "zX(a=1)(b=2)", "zX(a=1))", "zX(a=(1))"] {
            assert_eq!(decode_baq_name(bad), None, "{bad}");
        }
    }
}
