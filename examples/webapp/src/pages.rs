//! The HTML: one page shell, every value escaped, a Content-Security-Policy that allows no script
//! and forms only to this app and the identity provider.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a URL path segment.
pub fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The links of a signed-in page, and the sign-out form (a POST with the session's CSRF token).
pub fn nav(csrf: &str) -> String {
    format!(
        "<nav><a href=\"/customers\" id=\"nav-customers\">Customers</a> · <a href=\"/orders\" id=\"nav-orders\">Open orders</a> · \
         <form method=\"post\" action=\"/auth/sign-out\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" id=\"sign-out\">Sign out</button></form></nav>",
        esc(csrf)
    )
}

/// A page being built.
pub struct Page {
    title: String,
    body: String,
    instance: String,
    csp: String,
}

impl Page {
    pub fn new(title: &str, instance: &str, idp_origin: &str) -> Page {
        Page {
            title: title.to_owned(),
            body: String::new(),
            instance: instance.to_owned(),
            csp: format!(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {idp_origin}; frame-ancestors 'none'; base-uri 'none'"
            ),
        }
    }

    /// The body's HTML (already escaped where it holds values).
    pub fn body(mut self, html: &str) -> Page {
        self.body = html.to_owned();
        self
    }

    pub fn respond(self, status: StatusCode) -> Response {
        let html = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}\
             td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}}.error{{color:#a00}}\
             form.inline{{display:inline}}footer{{color:#888;margin-top:2em;font-size:small}}</style></head>\
             <body><h1>{t}</h1>{b}<footer>kinetic-webapp · instance <span id=\"instance\">{i}</span></footer></body></html>",
            t = esc(&self.title),
            b = self.body,
            i = esc(&self.instance)
        );
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&self.csp) {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_text_attributes_and_paths() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(path_segment("EP/06?x"), "EP%2F06%3Fx");
        assert!(nav("a\"b").contains("value=\"a&quot;b\""));
    }
}
