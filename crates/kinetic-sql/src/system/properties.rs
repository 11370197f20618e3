//! `sys_connection_props` (every property of the registry with this connection's value,
//! secrets masked) and `sys_sqlinfo` (what the engine does).

use super::shape::{optional_text_cell, text_cell, Cell, Rows};
use super::MASK;
use epicor_kinetic::settings::{Kind, Origin, Settings, PROPERTIES};

/// The value of property `name` in `settings` as a connection string would write it; secrets
/// as [`MASK`] when set. `None` when unset.
pub(super) fn property_value(settings: &Settings, name: &str) -> Option<String> {
    let mask = |v: &Option<epicor_kinetic::Secret>| v.as_ref().map(|_| MASK.to_owned());
    let text = |v: &Option<String>| v.clone();
    let a = &settings.auth;
    let o = &settings.oauth;
    let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    match name {
        "URL" => nonempty(&settings.url),
        "ERPInstance" => nonempty(&settings.erp_instance),
        "ApiVersion" => Some(settings.api_version.name().to_owned()),
        "Company" => text(&settings.company),
        "Plant" => text(&settings.plant),
        "Language" => text(&settings.language),
        "Service" => text(&settings.service),
        "AuthScheme" => Some(a.scheme.name().to_owned()),
        "User" => text(&a.user),
        "Password" => mask(&a.password),
        "ApiKey" => mask(&a.api_key),
        "LicenseType" => Some(a.license_type.to_string()),
        "UseSession" => Some(a.use_session.to_string()),
        "InitiateOAuth" => Some(o.initiate.name().to_owned()),
        "OAuthGrantType" => Some(o.grant_type.name().to_owned()),
        "AzureTenant" => text(&o.azure_tenant),
        "OAuthAuthority" => nonempty(&o.authority),
        "OAuthIssuer" => text(&o.issuer),
        "Scope" => text(&o.scope),
        "OAuthClientId" => text(&o.client_id),
        "OAuthClientSecret" => mask(&o.client_secret),
        "OAuthJWTCert" => mask(&o.jwt_cert),
        "OAuthJWTCertType" => Some(o.jwt_cert_type.name().to_owned()),
        "OAuthJWTCertPassword" => mask(&o.jwt_cert_password),
        "OAuthJWTCertThumbprint" => o.jwt_cert_thumbprint.as_ref().map(ToString::to_string),
        "CallbackURL" => nonempty(&o.callback_url),
        "Prompt" => nonempty(&o.prompt),
        "OAuthAccessToken" => mask(&o.access_token),
        "OAuthRefreshToken" => mask(&o.refresh_token),
        "OAuthVerifier" => mask(&o.verifier),
        "OAuthUserAssertion" => mask(&o.user_assertion),
        "OAuthExpiresIn" => o.expires_in.map(|e| match e {
            epicor_kinetic::settings::TokenExpiry::Never => "-1".to_owned(),
            epicor_kinetic::settings::TokenExpiry::After(d) => d.as_secs().to_string(),
        }),
        "OAuthTokenTimestamp" => o.token_timestamp.and_then(|t| {
            t.duration_since(std::time::SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis().to_string())
        }),
        "OAuthSettingsLocation" => o
            .settings_location
            .as_ref()
            .map(|p| p.display().to_string()),
        "OAuthSettingsKey" => mask(&o.settings_key),
        "SSLServerCert" => settings.ssl_server_cert.as_ref().map(|c| match c {
            epicor_kinetic::settings::ServerCert::AnyCertificate => "*".to_owned(),
            epicor_kinetic::settings::ServerCert::PemFile(p) => p.display().to_string(),
            // Inline PEM is long; it is not secret, but say what it is.
            epicor_kinetic::settings::ServerCert::Pem(_) => "(PEM text)".to_owned(),
            epicor_kinetic::settings::ServerCert::Thumbprint(t) => t.to_string(),
        }),
        "ProxyServer" => settings.proxy.as_ref().map(|p| p.host.clone()),
        "ProxyPort" => settings.proxy.as_ref().map(|p| p.port.to_string()),
        "ProxyUser" => settings.proxy.as_ref().and_then(|p| p.user.clone()),
        "ProxyPassword" => settings.proxy.as_ref().and_then(|p| mask(&p.password)),
        "Timeout" => Some(settings.timeout.map_or(0, |d| d.as_secs()).to_string()),
        "MaxRetries" => Some(settings.max_retries.to_string()),
        "Pagesize" => Some(settings.page_size.to_string()),
        "MaxRows" => Some(settings.max_rows.map_or(-1, |n| n as i64).to_string()),
        "Parallelism" => Some(settings.parallelism.to_string()),
        "Verbosity" => Some(settings.verbosity.to_string()),
        "Logfile" => settings.log_file.as_ref().map(|p| p.display().to_string()),
        _ => None,
    }
}

/// The properties a connection cannot be made without.
pub(super) const REQUIRED: &[&str] = &["URL", "ERPInstance"];

pub(super) fn connection_props(settings: &Settings, rows: &mut Rows) {
    for p in PROPERTIES {
        let (ty, values) = match p.kind {
            Kind::Bool => ("bool", Some("true,false".to_owned())),
            Kind::Int { .. } => ("int", None),
            Kind::Enum(v) => ("string", Some(v.join(","))),
            Kind::EnumOrGuid(v) => ("string", Some(v.join(","))),
            _ => ("string", None),
        };
        let value = if p.secret {
            // Never a secret's text: whether it is set, at most.
            settings.origin(p.name).map(|_| MASK.to_owned())
        } else {
            // A property the settings do not keep (InsecureHttpForLab): its default when no
            // source set it, else unknown.
            property_value(settings, p.name).or_else(|| match settings.origin(p.name) {
                None | Some(Origin::Default) => p.default.map(str::to_owned),
                Some(_) => None,
            })
        };
        rows.0.push(vec![
            text_cell(p.name),
            text_cell(p.help),
            text_cell(ty),
            optional_text_cell(p.default),
            optional_text_cell(values),
            optional_text_cell(value),
            Cell::Bool(Some(REQUIRED.contains(&p.name))),
            text_cell(p.category.title()),
        ]);
    }
}

/// What the engine does, as the reference's `sys_sqlinfo` says it.
pub(super) const SQL_INFO: &[(&str, &str)] = &[
    ("DIALECT", "Apache DataFusion (PostgreSQL-like)"),
    ("IDENTIFIER_QUOTE_OPEN_CHAR", "\""),
    ("IDENTIFIER_QUOTE_CLOSE_CHAR", "\""),
    ("SUPPORTS_JOIN", "YES"),
    ("OUTER_JOINS", "YES"),
    ("OJ_CAPABILITIES", "LEFT,RIGHT,FULL,INNER,NESTED,ALL_COMPARISON_OPS"),
    ("SUBQUERIES", "CORRELATED,EXISTS,IN,COMPARISON,SCALAR"),
    ("GROUP_BY", "YES"),
    ("AGGREGATE_FUNCTIONS", "AVG,COUNT,MAX,MIN,SUM,DISTINCT"),
    ("COUNT", "YES"),
    ("WINDOW_FUNCTIONS", "YES"),
    (
        "SUPPORTED_OPERATORS",
        "=,<>,!=,<,<=,>,>=,AND,OR,NOT,IN,NOT IN,BETWEEN,LIKE,NOT LIKE,IS NULL,IS NOT NULL",
    ),
    (
        "PUSHED_DOWN",
        "comparisons,AND,OR,NOT,IN,BETWEEN,LIKE prefix/suffix/contains,IS NULL,projection,LIMIT,ORDER BY",
    ),
    ("SUPPORTS_INSERT", "YES"),
    ("SUPPORTS_UPDATE", "YES"),
    ("SUPPORTS_DELETE", "YES"),
    ("SUPPORT_TRANSACTION", "NO"),
    ("SUPPORTS_BATCH_OPERATIONS", "NO"),
    ("SUPPORTS_MULTIPLE_SCHEMAS", "YES"),
    ("SUPPORTS_MULTIPLE_CATALOGS", "NO"),
    ("STORED_PROCEDURES", "YES"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_has_a_value_mapping_or_is_secret() {
        let settings = Settings::parse(
            "URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p4ss-w0rd",
        )
        .expect("settings");
        let mut rows = Rows::default();
        connection_props(&settings, &mut rows);
        assert_eq!(rows.0.len(), PROPERTIES.len());
        let shown = format!("{:?}", rows.0);
        assert!(!shown.contains("p4ss-w0rd"));
        assert_eq!(
            property_value(&settings, "Pagesize").as_deref(),
            Some("100")
        );
        assert_eq!(property_value(&settings, "Password").as_deref(), Some(MASK));
    }
}
