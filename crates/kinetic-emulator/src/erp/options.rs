//! The query options of a request, read with this server's limits: expression lengths, `$top` and
//! `$skip` bounds (also inside `$expand`), and how many navigations one request may expand. What
//! the options mean in SQL is [`super::query`]'s business.

use crate::api_error::ApiError;
use crate::config::LimitsConfig;
use epicor_kinetic_odata::QueryOptions;

/// Most `$expand`ed navigations in one request, at all levels together: each one is a query per
/// parent row, so breadth multiplies work like depth does.
pub const MAX_EXPANDS: usize = 16;

/// Query options from a raw query string, with this server's limits checked before and after
/// parsing: expression options no longer than `max_expression_bytes`, `$top` / `$skip` (also inside
/// `$expand`) whole numbers within `0..=max_top_skip`, at most [`MAX_EXPANDS`] expansions.
pub fn checked_options(limits: &LimitsConfig, raw: &str) -> Result<QueryOptions, ApiError> {
    for piece in raw.split('&') {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let key = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
        let name = key.trim_start_matches('$').to_ascii_lowercase();
        match name.as_str() {
            "filter" | "orderby" | "expand" | "select" | "search" | "apply" => {
                let len = percent_encoding::percent_decode_str(v).count();
                if len > limits.max_expression_bytes {
                    return Err(ApiError::odata(format!(
                        "${name} is {len} bytes long; this server accepts at most {} bytes \
                         ([limits] max_expression_bytes); split the query",
                        limits.max_expression_bytes
                    )));
                }
            }
            "top" | "skip" => {
                let text = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                let ok = !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && text.parse::<u64>().is_ok_and(|n| n <= limits.max_top_skip);
                if !ok {
                    return Err(top_skip_error(&name, &text, limits));
                }
            }
            _ => {}
        }
    }
    let opts = QueryOptions::from_query(raw).map_err(|e| ApiError::odata(e.to_string()))?;
    let mut expands = 0;
    check_nested(&opts, limits, &mut expands)?;
    Ok(opts)
}

fn top_skip_error(name: &str, text: &str, limits: &LimitsConfig) -> ApiError {
    let shown: String = text.chars().take(40).collect();
    ApiError::odata(format!(
        "${name} must be a whole number from 0 to {} ([limits] max_top_skip), not `{shown}`",
        limits.max_top_skip
    ))
}

/// The limits of `$expand` items and the options nested in them.
fn check_nested(
    opts: &QueryOptions,
    limits: &LimitsConfig,
    expands: &mut usize,
) -> Result<(), ApiError> {
    for (name, v) in [("top", opts.top), ("skip", opts.skip)] {
        if let Some(n) = v.filter(|n| *n > limits.max_top_skip) {
            return Err(top_skip_error(name, &n.to_string(), limits));
        }
    }
    for item in &opts.expand {
        *expands += 1;
        if *expands > MAX_EXPANDS {
            return Err(ApiError::odata(format!(
                "$expand names more than {MAX_EXPANDS} navigations (counting nested ones); \
                 this server expands at most {MAX_EXPANDS} per request"
            )));
        }
        check_nested(&item.options, limits, expands)?;
    }
    Ok(())
}
