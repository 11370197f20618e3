//! Where a collection page starts and how a capped page links to the next one, in the default mode
//! and in strict server-driven paging (`strict_paging`).
//!
//! By default a capped page's next link (with `next_link` on) repeats the request with `$skip`, and
//! a client may as well page by `$skip` itself: ASP.NET OData, on which Epicor's REST API is built,
//! accepts both. Strict paging plays a server that pages only by its own links, as OData servers
//! with `$skiptoken` do (OData 4.01 Part 1, 11.2.6.7 "Server-Driven Paging": the next link is
//! opaque; Dataverse and Microsoft Graph refuse `$skip` where they page this way):
//! - a capped page's link carries an opaque `$skiptoken` (the position, bound to the query), never
//!   `$skip`; a token from another query is refused;
//! - a `$skip` on a request the server would page with links (no `$top`, or one above the cap) is
//!   refused with 400: the client must follow the link;
//! - rows are sorted only as asked: rows the `$orderby` leaves tied come by key ascending on
//!   even pages and descending on odd ones, as a database may give ties in any order on each
//!   request, so a client that does not make its order total reads some rows twice and misses
//!   others. Without `$orderby` the order is the store's own (its clustered key), the same on
//!   every page, so links work.

use super::query::Ties;
use crate::api_error::ApiError;
use epicor_kinetic_odata::QueryOptions;
use std::hash::{Hash, Hasher};

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageStart {
    /// Rows before the page: `$skip`, or the position a `$skiptoken` holds.
    pub offset: u64,
    /// The order of rows the `$orderby` leaves tied.
    pub ties: Ties,
}

/// Whether the server cuts the rows a request asks for into pages: a cap, and no `$top` or one
/// above it.
pub fn capped(cap: u64, top: Option<u64>) -> bool {
    cap > 0 && top.is_none_or(|t| t > cap)
}

/// Where the page a collection request asks for starts. `self_url` is the request's URL without
/// its query, `raw_query` its query; `cap` is the server's page cap (0: none).
pub fn start(
    strict: bool,
    cap: u64,
    opts: &QueryOptions,
    self_url: &str,
    raw_query: &str,
) -> Result<PageStart, ApiError> {
    if !strict {
        return Ok(PageStart {
            offset: opts.skip.unwrap_or(0),
            ties: Ties::KeyAscending,
        });
    }
    if let Some(skip) = opts.skip {
        if opts.skiptoken.is_some() {
            return Err(ApiError::odata(
                "$skip and $skiptoken cannot be used together: follow the server's nextLink as \
                 it is, without adding $skip",
            ));
        }
        if capped(cap, opts.top) {
            return Err(ApiError::odata(format!(
                "$skip={skip} is not supported here: this server pages this query itself, at most \
                 {cap} rows a page, and links each page to the next with @odata.nextLink \
                 (odata.nextLink in v1); follow that link instead of asking for $skip (or ask \
                 for $top={cap} rows or fewer, which the server does not page)"
            )));
        }
    }
    let offset = match &opts.skiptoken {
        None => opts.skip.unwrap_or(0),
        Some(token) => read_token(token, self_url, raw_query)?,
    };
    // Ties alternate by page; only an order the client gave can leave ties (see the module).
    let page = offset.checked_div(cap).unwrap_or(0);
    let ties = if !opts.orderby.is_empty() && page % 2 == 1 {
        Ties::KeyDescending
    } else {
        Ties::KeyAscending
    };
    Ok(PageStart { offset, ties })
}

/// The next page's URL: the request's URL with its paging options replaced by `$top` (what is
/// left of the client's, if it gave one) and `$skip` (or, strict, `$skiptoken`) at `offset`.
pub fn next_link(
    strict: bool,
    self_url: &str,
    raw_query: &str,
    offset: u64,
    top: Option<u64>,
) -> String {
    let mut parts: Vec<String> = raw_query
        .split('&')
        .filter(|p| !p.is_empty() && !is_paging_option(p))
        .map(str::to_string)
        .collect();
    if let Some(t) = top {
        parts.push(format!("$top={t}"));
    }
    if strict {
        parts.push(format!("$skiptoken={}", token(offset, self_url, raw_query)));
    } else {
        parts.push(format!("$skip={offset}"));
    }
    format!("{self_url}?{}", parts.join("&"))
}

/// A query piece naming `$top`, `$skip` or `$skiptoken` (with or without `$`, in any case).
fn is_paging_option(piece: &str) -> bool {
    let key = piece.split('=').next().unwrap_or("");
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    let key = key.trim_start_matches('$').to_ascii_lowercase();
    matches!(key.as_str(), "skip" | "top" | "skiptoken")
}

/// A `$skiptoken`: the position, and a check of the query it belongs to.
fn token(offset: u64, self_url: &str, raw_query: &str) -> String {
    format!("{offset:x}.{:016x}", query_check(self_url, raw_query))
}

/// The position a `$skiptoken` of this query holds, or 400.
fn read_token(token: &str, self_url: &str, raw_query: &str) -> Result<u64, ApiError> {
    let parsed = token.split_once('.').and_then(|(offset, check)| {
        Some((
            u64::from_str_radix(offset, 16).ok()?,
            u64::from_str_radix(check, 16).ok()?,
        ))
    });
    match parsed {
        Some((offset, check)) if check == query_check(self_url, raw_query) => Ok(offset),
        Some(_) => Err(ApiError::odata(
            "this $skiptoken belongs to another query: follow the nextLink of this query's \
             previous page as the server wrote it",
        )),
        None => Err(ApiError::odata(
            "this $skiptoken was not written by this server: follow the nextLink of the \
             previous page as the server wrote it",
        )),
    }
}

/// A hash of the address and the decoded options other than paging, so a token works only for
/// the query it came from (however the client re-encodes the link).
fn query_check(self_url: &str, raw_query: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let path = self_url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(self_url);
    path.to_ascii_lowercase().hash(&mut h);
    for piece in raw_query
        .split('&')
        .filter(|p| !p.is_empty() && !is_paging_option(p))
    {
        let decoded = percent_encoding::percent_decode_str(piece).decode_utf8_lossy();
        decoded.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://h/K/api/v2/odata/EPIC06/S/Customers";

    fn opts(q: &str) -> QueryOptions {
        QueryOptions::from_query(q).unwrap()
    }

    #[test]
    fn default_paging_is_by_skip() {
        let s = start(false, 100, &opts("$skip=250"), URL, "$skip=250").unwrap();
        assert_eq!(s.offset, 250);
        assert_eq!(s.ties, Ties::KeyAscending);
        assert_eq!(
            next_link(false, URL, "%24top=500&$filter=a&$skip=3", 103, Some(400)),
            format!("{URL}?$filter=a&$top=400&$skip=103")
        );
    }

    #[test]
    fn strict_links_carry_a_token_of_their_query() {
        let q = "$filter=Name%20eq%20'A'&$orderby=Name&$top=500";
        let link = next_link(true, URL, q, 100, Some(400));
        let query = link.split_once('?').unwrap().1;
        assert!(!query.contains("$skip="), "{link}");
        assert!(query.starts_with("$filter=Name%20eq%20'A'&$orderby=Name&$top=400&$skiptoken="));
        let s = start(true, 100, &opts(query), URL, query).unwrap();
        assert_eq!(s.offset, 100);
        assert_eq!(s.ties, Ties::KeyDescending, "page 1 of an asked order");
        // Re-encoded by a client, the token still fits.
        let re = query.replace('\'', "%27");
        assert_eq!(start(true, 100, &opts(&re), URL, &re).unwrap().offset, 100);
        // Another filter, or another set: refused.
        let other = query.replace("'A'", "'B'");
        let e = start(true, 100, &opts(&other), URL, &other).unwrap_err();
        assert!(
            e.message.contains("belongs to another query"),
            "{}",
            e.message
        );
        let e = start(
            true,
            100,
            &opts(query),
            "http://h/K/api/v2/odata/EPIC06/S/Parts",
            query,
        )
        .unwrap_err();
        assert!(
            e.message.contains("belongs to another query"),
            "{}",
            e.message
        );
        let e = start(true, 100, &opts("$skiptoken=zz"), URL, "$skiptoken=zz").unwrap_err();
        assert!(
            e.message.contains("not written by this server"),
            "{}",
            e.message
        );
    }

    #[test]
    fn strict_refuses_skip_where_it_pages_with_links() {
        for q in ["$skip=100", "$top=500&$skip=100", "$top=101&$skip=0"] {
            let e = start(true, 100, &opts(q), URL, q).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains("follow that link"), "{q}: {}", e.message);
        }
        // Pages the server does not cut may be asked for by $skip.
        for q in ["$top=100&$skip=300", "$top=5&$skip=5"] {
            assert!(start(true, 100, &opts(q), URL, q).is_ok(), "{q}");
        }
        assert!(
            start(true, 0, &opts("$skip=5"), URL, "$skip=5").is_ok(),
            "no cap"
        );
        let e = start(true, 100, &opts("$top=5&$skip=5&$skiptoken=1.2"), URL, "").unwrap_err();
        assert!(
            e.message.contains("cannot be used together"),
            "{}",
            e.message
        );
    }

    #[test]
    fn strict_ties_alternate_only_under_an_asked_order() {
        let natural = next_link(true, URL, "", 100, None);
        let q = natural.split_once('?').unwrap().1;
        assert_eq!(
            start(true, 100, &opts(q), URL, q).unwrap().ties,
            Ties::KeyAscending
        );
    }
}
