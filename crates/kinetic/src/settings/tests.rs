//! Settings tests: typed parsing, bad values, the rules between properties, precedence of
//! sources, profiles, and that secrets never leak into errors or Debug output.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const BASE: &str = "URL=https://erp.example.com;ERPInstance=Kinetic;User=u;Password=p";

fn ok(s: &str) -> Settings {
    Settings::parse(s).unwrap_or_else(|e| panic!("{s:?} was refused: {e}"))
}

fn err(s: &str) -> Error {
    match Settings::parse(s) {
        Ok(settings) => panic!("{s:?} was accepted: {settings:?}"),
        Err(e) => e,
    }
}

/// The error's text, after checking that it names `property`.
fn err_naming(s: &str, property: &str) -> String {
    let e = err(s);
    assert_eq!(e.property(), Some(property), "{s:?}: {e}");
    e.to_string()
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A configuration directory in memory.
struct MemFiles {
    dir: PathBuf,
    files: RefCell<HashMap<PathBuf, String>>,
}

impl MemFiles {
    fn with_profiles(toml: &str) -> Self {
        let dir = PathBuf::from("/mem/kinetic");
        let files = HashMap::from([(dir.join("profiles.toml"), toml.to_owned())]);
        MemFiles {
            dir,
            files: RefCell::new(files),
        }
    }
}

impl ConfigFiles for MemFiles {
    fn dir(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }
    fn read(&self, path: &Path) -> io::Result<Option<String>> {
        Ok(self.files.borrow().get(path).cloned())
    }
    fn write_private(&self, path: &Path, contents: &str) -> io::Result<()> {
        self.files
            .borrow_mut()
            .insert(path.to_owned(), contents.to_owned());
        Ok(())
    }
}

// ---- the grammar, through Settings ----------------------------------------------------------

#[test]
fn cdata_example_string_parses() {
    let s = ok("Service=Erp.BO.CustomerSvc;ERPInstance=Kinetic;URL=https://erp.example.com;User=u;Password=p;ApiVersion=v2;Company=EPIC06;ApiKey=k");
    assert_eq!(s.service.as_deref(), Some("Erp.BO.CustomerSvc"));
    assert_eq!(s.erp_instance, "Kinetic");
    assert_eq!(s.url, "https://erp.example.com");
    assert_eq!(s.auth.user.as_deref(), Some("u"));
    assert_eq!(s.auth.password.as_ref().map(Secret::expose), Some("p"));
    assert_eq!(s.api_version, ApiVersion::V2);
    assert_eq!(s.company.as_deref(), Some("EPIC06"));
    assert_eq!(s.auth.api_key.as_ref().map(Secret::expose), Some("k"));
}

#[test]
fn keys_are_case_insensitive_and_aliases_work() {
    let s = ok(
        "url=https://h;erpinstance=K;USERNAME=u;pwd=p;apiversion=V2;company=C;Tenant=t;PAGESIZE=7",
    );
    assert_eq!(s.url, "https://h");
    assert_eq!(s.erp_instance, "K");
    assert_eq!(s.auth.user.as_deref(), Some("u"));
    assert_eq!(s.auth.password.as_ref().map(Secret::expose), Some("p"));
    assert_eq!(s.api_version, ApiVersion::V2);
    assert_eq!(s.oauth.azure_tenant.as_deref(), Some("t"));
    assert_eq!(s.page_size, 7);
}

#[test]
fn quoted_values_keep_semicolons_and_escapes() {
    for (written, meant) in [
        ("Password=\"a;b=c\"", "a;b=c"),
        ("Password='a;b'", "a;b"),
        ("Password={a;b}", "a;b"),
        ("Password=\"say \"\"hi\"\"\"", "say \"hi\""),
        ("Password='it''s'", "it's"),
        ("Password={x}}y}", "x}y"),
        ("Password=\" spaced \"", " spaced "),
    ] {
        let s = ok(&format!("URL=https://h;ERPInstance=K;User=u;{written}"));
        assert_eq!(
            s.auth.password.as_ref().map(Secret::expose),
            Some(meant),
            "{written}"
        );
    }
}

#[test]
fn duplicates_in_one_string_are_errors_even_through_aliases() {
    let e = err_naming(&format!("{BASE};user=v"), "User");
    assert!(e.contains("`User` is given twice in the connection string (as `User` at character 49 and `user` at character 67)"), "{e}");
    let e = err_naming(&format!("{BASE};PWD=q"), "Password");
    assert!(e.contains("given twice") && e.contains("`PWD`"), "{e}");
    assert!(!e.contains("=q") && !e.contains("`q`"), "{e}");
}

#[test]
fn a_key_without_equals_names_the_position() {
    let e = err_naming("URL=https://h;ERPInstance;User=u", "ConnectionString");
    assert!(
        e.contains("`ERPInstance` at character 15 has no `=`"),
        "{e}"
    );
}

#[test]
fn unknown_properties_suggest_the_closest_name() {
    let e = err("URL=https://h;Pasword=x;ERPInstance=K");
    assert_eq!(
        e.to_string(),
        "unknown property `Pasword` in the connection string; did you mean `Password`?"
    );
    assert_eq!(e.property(), Some("Pasword"));
    let with = |extra: &str| err(&format!("{BASE};Company=C;{extra}")).to_string();
    assert!(with("ERPInstnace=x").contains("did you mean `ERPInstance`?"));
    assert!(with("oauthclientsecrte=x").contains("did you mean `OAuthClientSecret`?"));
    assert!(with("AuthSchem=Basic").contains("did you mean `AuthScheme`?"));
    let e = with("Colour=blue");
    assert!(
        e.contains("unknown property `Colour`") && e.contains("PROPERTIES.md"),
        "{e}"
    );
}

#[test]
fn after_an_unquoted_secret_an_unknown_key_is_not_echoed_but_still_suggested() {
    // The key may be the secret's tail after a `;`.
    let e = err(&format!("{BASE};Pasword=x"));
    assert_eq!(
        e.to_string(),
        "unknown property at character 67 of the connection string, right after `Password` \
         (not shown: it may be part of the Password value); did you mean `Password`? \
         if the value of `Password` contains `;`, quote it: Password={...}"
    );
    // After a quoted secret, the `;` cannot have been part of it: the key is echoed.
    let e = err("URL=https://h;ERPInstance=K;User=u;Password='p';Pasword=x").to_string();
    assert!(e.starts_with("unknown property `Pasword`"), "{e}");
}

#[test]
fn empty_values_unset_and_defaults_apply() {
    let s = ok(&format!("{BASE};Company=;Timeout=;Plant= "));
    assert_eq!(s.company, None);
    assert_eq!(s.timeout, Some(Duration::from_secs(60)));
    assert_eq!(s.plant, None);
}

// ---- typed values ---------------------------------------------------------------------------

#[test]
fn defaults() {
    let s = ok(BASE);
    assert_eq!(s.api_version, ApiVersion::V1);
    assert_eq!(s.auth.scheme, AuthScheme::Basic);
    assert_eq!(s.auth.license_type, LicenseType::Default);
    assert!(!s.auth.use_session);
    assert_eq!(s.oauth.initiate, InitiateOAuth::Off);
    assert_eq!(s.oauth.grant_type, OAuthGrantType::Code);
    assert_eq!(s.oauth.authority, "https://login.microsoftonline.com");
    assert_eq!(s.oauth.callback_url, "http://localhost:33333");
    assert_eq!(s.oauth.jwt_cert_type, JwtCertType::PemKeyFile);
    assert_eq!(s.timeout, Some(Duration::from_secs(60)));
    assert_eq!(s.max_retries, 3);
    assert_eq!(s.page_size, 100);
    assert_eq!(s.max_rows, None);
    assert_eq!(s.parallelism, None);
    assert_eq!(s.max_parallelism, 8);
    assert_eq!(s.verbosity, 1);
    assert!(s.proxy.is_none() && s.ssl_server_cert.is_none() && s.log_file.is_none());
    assert_eq!(s.origin("Timeout"), Some(&Origin::Default));
    assert_eq!(s.origin("url"), Some(&Origin::ConnectionString));
    assert_eq!(s.origin("Company"), None);
}

#[test]
fn every_property_types_its_value() {
    let s = ok("URL=HTTPS://ERP.example.com:8443/;ERPInstance=Live;ApiVersion=v2;Company=EPIC03;Plant=MfgSys;Language=enu;Service=Erp.BO.PartSvc;\
        AuthScheme=EntraID;User=u;Password=p;ApiKey=k;LicenseType=webserviceshared;UseSession=yes;\
        InitiateOAuth=getandrefresh;OAuthGrantType=client;AzureTenant=contoso.onmicrosoft.com;OAuthAuthority=https://login.microsoftonline.us/;\
        OAuthIssuer=https://idp.example/realms/x;Scope=api://srv/.default;OAuthClientId=cid;OAuthJWTCert=/certs/app.pfx;OAuthJWTCertType=pfxfile;\
        OAuthJWTCertPassword=cp;OAuthJWTCertThumbprint=AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01;CallbackURL=http://localhost:5000/cb;\
        OAuthAccessToken=at;OAuthRefreshToken=rt;OAuthVerifier=code;OAuthUserAssertion=ua;OAuthExpiresIn=3600;OAuthTokenTimestamp=1700000000000;\
        OAuthSettingsLocation=/tmp/tokens;OAuthSettingsKey=sk;SSLServerCert=*;ProxyServer=proxy.local;ProxyPort=3128;ProxyUser=pu;ProxyPassword=pp;\
        Timeout=0;MaxRetries=5;Pagesize=500;MaxRows=1000;Parallelism=4;Verbosity=3;Logfile=/tmp/kinetic.log");
    assert_eq!(s.url, "https://ERP.example.com:8443");
    assert_eq!(
        (s.erp_instance.as_str(), s.company.as_deref()),
        ("Live", Some("EPIC03"))
    );
    assert_eq!(
        (s.plant.as_deref(), s.language.as_deref()),
        (Some("MfgSys"), Some("enu"))
    );
    assert_eq!(s.service.as_deref(), Some("Erp.BO.PartSvc"));
    let a = &s.auth;
    assert_eq!(a.scheme, AuthScheme::AzureAd);
    assert_eq!(a.api_key.as_ref().map(Secret::expose), Some("k"));
    assert_eq!(a.license_type, LicenseType::WebServiceShared);
    assert_eq!(
        a.license_type.guid(),
        "00000003-231B-4E2B-9B47-13F87EA9A0A3"
    );
    assert!(a.use_session);
    let o = &s.oauth;
    assert_eq!(o.initiate, InitiateOAuth::GetAndRefresh);
    assert_eq!(o.grant_type, OAuthGrantType::Client);
    assert_eq!(o.azure_tenant.as_deref(), Some("contoso.onmicrosoft.com"));
    assert_eq!(o.authority, "https://login.microsoftonline.us");
    assert_eq!(
        o.azure_authority().as_deref(),
        Some("https://login.microsoftonline.us/contoso.onmicrosoft.com")
    );
    assert_eq!(o.issuer.as_deref(), Some("https://idp.example/realms/x"));
    assert_eq!(o.scope.as_deref(), Some("api://srv/.default"));
    assert_eq!(o.client_id.as_deref(), Some("cid"));
    assert_eq!(
        o.jwt_cert.as_ref().map(Secret::expose),
        Some("/certs/app.pfx")
    );
    assert_eq!(o.jwt_cert_type, JwtCertType::PfxFile);
    assert_eq!(o.jwt_cert_password.as_ref().map(Secret::expose), Some("cp"));
    assert_eq!(
        o.jwt_cert_thumbprint
            .as_ref()
            .map(|t| (t.algorithm, t.hex.as_str())),
        Some((
            ThumbprintAlgorithm::Sha1,
            "abcdef0123456789abcdef0123456789abcdef01"
        ))
    );
    assert_eq!(o.callback_url, "http://localhost:5000/cb");
    for (secret, value) in [
        (&o.access_token, "at"),
        (&o.refresh_token, "rt"),
        (&o.verifier, "code"),
        (&o.user_assertion, "ua"),
        (&o.settings_key, "sk"),
    ] {
        assert_eq!(secret.as_ref().map(Secret::expose), Some(value));
    }
    assert_eq!(
        o.expires_in,
        Some(TokenExpiry::After(Duration::from_secs(3600)))
    );
    assert_eq!(
        o.token_timestamp,
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(1_700_000_000_000))
    );
    assert_eq!(o.settings_location, Some(PathBuf::from("/tmp/tokens")));
    assert_eq!(s.ssl_server_cert, Some(ServerCert::AnyCertificate));
    let p = s.proxy.as_ref().map(|p| {
        (
            p.host.as_str(),
            p.port,
            p.user.as_deref(),
            p.password.as_ref().map(Secret::expose),
        )
    });
    assert_eq!(p, Some(("proxy.local", 3128, Some("pu"), Some("pp"))));
    assert_eq!(s.timeout, None);
    assert_eq!(
        (
            s.max_retries,
            s.page_size,
            s.max_rows,
            s.parallelism,
            s.verbosity
        ),
        (5, 500, Some(1000), Some(4), 3)
    );
    assert_eq!(s.log_file, Some(PathBuf::from("/tmp/kinetic.log")));
}

/// Credentials never go to another machine over plain http unless a lab says so; loopback http
/// (a local emulator) is fine.
#[test]
fn plain_http_to_another_machine_is_refused() {
    for (text, property) in [
        ("URL=http://erp.example.com;ERPInstance=K;User=u;Password=p", "URL"),
        ("URL=http://10.1.2.3:8080;ERPInstance=K;User=u;Password=p", "URL"),
        ("URL=http://localhost.evil.example;ERPInstance=K;User=u;Password=p", "URL"),
        ("URL=https://erp.example.com;ERPInstance=K;AuthScheme=AzureAD;AzureTenant=t;OAuthAuthority=http://login.example.com;OAuthGrantType=CLIENT;OAuthClientId=c;OAuthClientSecret=s;Scope=x/.default", "OAuthAuthority"),
        ("URL=https://erp.example.com;ERPInstance=K;AuthScheme=OAuth;OAuthIssuer=http://idp.example.com/realms/x;OAuthGrantType=CLIENT;OAuthClientId=c;OAuthClientSecret=s;Scope=x", "OAuthIssuer"),
    ] {
        let e = Settings::parse(text).expect_err(text);
        assert_eq!(e.property(), Some(property), "{text}: {e}");
        assert!(e.to_string().contains("in clear"), "{e}");
        assert!(!e.to_string().contains("Password=p"), "{e}");
    }
    for ok in [
        "URL=http://127.0.0.1:8040;ERPInstance=K;User=u;Password=p",
        "URL=http://localhost:8040;ERPInstance=K;User=u;Password=p",
        "URL=http://[::1]:8040;ERPInstance=K;User=u;Password=p",
        "URL=https://erp.example.com;ERPInstance=K;User=u;Password=p",
        "URL=http://erp.lab;ERPInstance=K;User=u;Password=p;InsecureHttpForLab=true",
    ] {
        Settings::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn every_registry_property_reaches_settings() {
    // Values records what the conversion reads: a registry row without a Settings field fails here.
    let layer =
        layer_from_string(BASE, &Origin::ConnectionString).unwrap_or_else(|e| panic!("{e}"));
    let v = Values {
        layer,
        read: RefCell::default(),
    };
    assert!(Settings::from_values(&v).is_ok());
    let read = v.read.borrow();
    for p in PROPERTIES {
        assert!(
            read.contains(p.name),
            "{} is in the registry but Settings never reads it",
            p.name
        );
    }
}

#[test]
fn licence_types_by_name_and_guid() {
    for (written, meant) in [
        ("Default", LicenseType::Default),
        ("WebService", LicenseType::WebService),
        ("datacollection", LicenseType::DataCollection),
        (
            "00000003-9439-4B30-A6F4-6D2FD4B9FD0F",
            LicenseType::WebService,
        ),
        (
            "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}",
            LicenseType::Other("AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE".into()),
        ),
    ] {
        assert_eq!(
            ok(&format!("{BASE};LicenseType={written}"))
                .auth
                .license_type,
            meant,
            "{written}"
        );
    }
}

#[test]
fn auth_scheme_aliases_and_values() {
    for (written, meant) in [
        ("basic", AuthScheme::Basic),
        ("TOKEN", AuthScheme::Token),
        ("AzureADOpenID", AuthScheme::AzureAd),
        ("entraid", AuthScheme::AzureAd),
        ("None", AuthScheme::None),
    ] {
        let s = ok(&format!("{BASE};AuthScheme={written};OAuthAccessToken=t"));
        assert_eq!(s.auth.scheme, meant, "{written}");
    }
    let s = ok("URL=https://h;ERPInstance=K;AuthScheme=OAuth;OAuthAccessToken=t");
    assert_eq!(s.auth.scheme, AuthScheme::OAuth);
}

#[test]
fn numbers_at_their_limits() {
    assert_eq!(ok(&format!("{BASE};MaxRows=-1")).max_rows, None);
    assert_eq!(ok(&format!("{BASE};MaxRows=0")).max_rows, None);
    assert_eq!(ok(&format!("{BASE};Pagesize=1")).page_size, 1);
    assert_eq!(ok(&format!("{BASE};Parallelism=64")).parallelism, Some(64));
    assert_eq!(ok(&format!("{BASE};MaxRetries=0")).max_retries, 0);
    assert_eq!(ok(&format!("{BASE};Verbosity=5")).verbosity, 5);
    // The SQL limits: none by default but the recursion cap, `0` for none.
    let s = ok(BASE);
    assert_eq!(
        (
            s.memory_limit,
            s.statement_timeout,
            s.max_recursion,
            s.credential_procedures
        ),
        (None, None, Some(100), true)
    );
    let s = ok(&format!(
        "{BASE};MemoryLimit=64;StatementTimeout=30;MaxRecursion=5;CredentialProcedures=false"
    ));
    assert_eq!(s.memory_limit, Some(64 * 1024 * 1024));
    assert_eq!(
        s.statement_timeout,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(s.max_recursion, Some(5));
    assert!(!s.credential_procedures);
    let s = ok(&format!(
        "{BASE};MemoryLimit=0;StatementTimeout=0;MaxRecursion=0"
    ));
    assert_eq!(
        (s.memory_limit, s.statement_timeout, s.max_recursion),
        (None, None, None)
    );
    assert_eq!(
        ok(&format!("{BASE};Timeout=86400")).timeout,
        Some(Duration::from_secs(86_400))
    );
    let s = ok(&format!(
        "{BASE};AuthScheme=AzureAD;OAuthAccessToken=t;OAuthExpiresIn=-1"
    ));
    assert_eq!(s.oauth.expires_in, Some(TokenExpiry::Never));
    let s = ok(&format!("{BASE};ProxyServer=p"));
    assert_eq!(s.proxy.map(|p| p.port), Some(80));
}

#[test]
fn bad_values_name_the_property_and_what_it_must_be() {
    for (setting, property, expected) in [
        ("ApiVersion=v3", "ApiVersion", "`ApiVersion` in the connection string must be one of v1, v2, not `v3`; did you mean ApiVersion=v1?"),
        ("ApiVersion=latest", "ApiVersion", "must be one of v1, v2, not `latest`; set ApiVersion to one of v1, v2"),
        ("AuthScheme=Basci", "AuthScheme", "must be one of Basic, Token, AzureAD, OAuth, None, not `Basci`; did you mean AuthScheme=Basic?"),
        ("AuthScheme=EntraId2", "AuthScheme", "did you mean AuthScheme=EntraID?"),
        ("InitiateOAuth=ON", "InitiateOAuth", "must be one of OFF, GETANDREFRESH, REFRESH, not `ON`"),
        ("OAuthGrantType=PASSWORD", "OAuthGrantType", "must be one of CODE, CLIENT, OBO, DEVICE, not `PASSWORD`"),
        ("OAuthJWTCertType=DER", "OAuthJWTCertType", "must be one of PEMKEY_FILE, PEMKEY_BLOB, PFXFILE, PFXBLOB, not `DER`"),
        ("LicenseType=Enterprise", "LicenseType", "must be one of Default, WebService, WebServiceShared, DataCollection or a GUID, not `Enterprise`"),
        ("UseSession=maybe", "UseSession", "`UseSession` in the connection string must be true or false, not `maybe`; set UseSession=true or UseSession=false"),
        ("Timeout=soon", "Timeout", "must be a whole number from 0 to 86400, not `soon`; set Timeout to a number in range, e.g. Timeout=60"),
        ("Timeout=-5", "Timeout", "from 0 to 86400"),
        ("MaxRetries=21", "MaxRetries", "from 0 to 20"),
        ("Pagesize=0", "Pagesize", "from 1 to 100000"),
        ("MaxRows=-2", "MaxRows", "must be a whole number of at least -1"),
        ("Parallelism=0", "Parallelism", "from 1 to 64"),
        ("Verbosity=6", "Verbosity", "from 1 to 5"),
        ("MemoryLimit=-1", "MemoryLimit", "from 0 to 1048576"),
        ("StatementTimeout=soon", "StatementTimeout", "from 0 to 86400"),
        ("MaxRecursion=-1", "MaxRecursion", "from 0 to 1000000"),
        ("CredentialProcedures=maybe", "CredentialProcedures", "must be true or false"),
        ("ProxyPort=70000", "ProxyPort", "from 1 to 65535"),
        ("OAuthExpiresIn=x", "OAuthExpiresIn", "at least -1"),
        ("OAuthTokenTimestamp=-1", "OAuthTokenTimestamp", "at least 0"),
        ("OAuthJWTCertThumbprint=abc", "OAuthJWTCertThumbprint", "SHA-1 (40 hex digits) or SHA-256 (64 hex digits)"),
        ("CallbackURL=localhost:33333", "CallbackURL", "`CallbackURL` in the connection string must start with http:// or https://; set CallbackURL to an address like http://localhost:33333"),
        ("OAuthAuthority=https://login.microsoftonline.com/t?x=1", "OAuthAuthority", "must not have a query"),
        ("OAuthIssuer=idp.example", "OAuthIssuer", "must start with http:// or https://"),
        ("ProxyServer=http://proxy:8080", "ProxyServer", "must be a host name, not an address"),
        ("ProxyServer=proxy:8080", "ProxyServer", "must not contain a port; write the host alone"),
        ("AzureTenant=https://login.microsoftonline.com/t", "AzureTenant", "must be a tenant id or domain"),
    ] {
        let e = err_naming(&format!("{BASE};{setting}"), property);
        assert!(e.contains(expected), "{setting}: {e}");
    }
}

#[test]
fn urls_are_checked_and_credentials_refused_without_echo() {
    let e = err_naming(
        "URL=https://user:hunter2@erp.example.com;ERPInstance=K;User=u;Password=p",
        "URL",
    );
    assert_eq!(e, "`URL` in the connection string must not contain a user name or password; put the user name and password in User and Password instead");
    let e = err_naming("URL=erp.example.com;ERPInstance=K;User=u;Password=p", "URL");
    assert!(
        e.contains("must start with http:// or https://") && !e.contains("erp.example.com;"),
        "{e}"
    );
    assert_eq!(
        ok("URL=http://127.0.0.1:8040/;ERPInstance=K;User=u;Password=p").url,
        "http://127.0.0.1:8040"
    );
}

#[test]
fn bad_values_say_where_they_came_from() {
    let e = Settings::resolve(
        Some(BASE),
        None,
        &env(&[("KINETIC_TIMEOUT", "abc")]),
        &ConfigDir::none(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        e.starts_with("`Timeout` in environment variable KINETIC_TIMEOUT must be"),
        "{e}"
    );
}

// ---- the rules between properties -----------------------------------------------------------

#[test]
fn url_and_instance_are_required() {
    assert_eq!(
        err_naming("ERPInstance=K;User=u;Password=p", "URL"),
        "`URL` is required; set URL to your server's address, e.g. URL=https://erp.example.com"
    );
    assert!(err_naming("URL=https://h;User=u;Password=p", "ERPInstance")
        .contains("ERPInstance=Kinetic"));
    assert!(err_naming(
        "URL=https://h;ERPInstance=;User=u;Password=p",
        "ERPInstance"
    )
    .contains("required"));
    assert!(err_naming("", "URL").contains("required"));
}

#[test]
fn v2_requires_company_but_not_an_api_key() {
    let e = err_naming(&format!("{BASE};ApiVersion=v2"), "Company");
    assert!(
        e.contains("`Company` is required with ApiVersion=v2") && e.contains("Company=EPIC06"),
        "{e}"
    );
    assert!(ok(&format!("{BASE};ApiVersion=v2;Company=EPIC06"))
        .auth
        .api_key
        .is_none());
    assert!(ok(&format!("{BASE};Company=EPIC06")).company.is_some());
}

#[test]
fn basic_and_token_require_user_and_password() {
    for scheme in ["Basic", "Token"] {
        let e = err_naming(
            &format!("URL=https://h;ERPInstance=K;AuthScheme={scheme};Password=p"),
            "User",
        );
        assert!(
            e.contains(&format!("`User` is required with AuthScheme={scheme}")),
            "{e}"
        );
        let e = err_naming(
            &format!("URL=https://h;ERPInstance=K;AuthScheme={scheme};User=u"),
            "Password",
        );
        assert!(e.contains("KINETIC_PASSWORD"), "{e}");
    }
    assert!(ok("URL=https://h;ERPInstance=K;AuthScheme=None;ApiKey=k")
        .auth
        .user
        .is_none());
}

const AZ: &str = "URL=https://h;ERPInstance=K;AuthScheme=AzureAD";

#[test]
fn oauth_off_with_an_interactive_grant_needs_an_access_token() {
    let e = err_naming(AZ, "OAuthAccessToken");
    assert!(
        e.contains("InitiateOAuth=OFF") && e.contains("InitiateOAuth=GETANDREFRESH"),
        "{e}"
    );
    let e = err_naming(&format!("{AZ};OAuthGrantType=DEVICE"), "OAuthAccessToken");
    assert!(e.contains("OAuthGrantType=DEVICE"), "{e}");
    // A given token is all it needs: no client id, tenant or scope.
    assert!(ok(&format!("{AZ};OAuthAccessToken=eyJ"))
        .oauth
        .client_id
        .is_none());
    assert!(
        ok("URL=https://h;ERPInstance=K;AuthScheme=OAuth;OAuthAccessToken=eyJ")
            .oauth
            .issuer
            .is_none()
    );
}

const AZ_GET: &str = "URL=https://h;ERPInstance=K;AuthScheme=AzureAD;InitiateOAuth=GETANDREFRESH";

#[test]
fn azure_ad_that_gets_tokens_needs_client_id_tenant_and_scope() {
    assert!(err_naming(AZ_GET, "OAuthClientId").contains("application (client) id"));
    let e = err_naming(&format!("{AZ_GET};OAuthClientId=c"), "AzureTenant");
    assert!(
        e.contains("https://login.microsoftonline.com/{tenant}"),
        "{e}"
    );
    let e = err_naming(&format!("{AZ_GET};OAuthClientId=c;AzureTenant=t"), "Scope");
    assert!(
        e.contains("api://{server app id}/user_impersonation"),
        "{e}"
    );
    let s = ok(&format!(
        "{AZ_GET};OAuthClientId=c;AzureTenant=t;Scope=api://srv/user_impersonation"
    ));
    assert_eq!(
        s.oauth.azure_authority().as_deref(),
        Some("https://login.microsoftonline.com/t")
    );
    // The tenant may be part of the authority instead.
    let s = ok(&format!(
        "{AZ_GET};OAuthClientId=c;OAuthAuthority=http://127.0.0.1:8040/tid/;Scope=s"
    ));
    assert_eq!(
        s.oauth.azure_authority().as_deref(),
        Some("http://127.0.0.1:8040/tid")
    );
    assert!(ok(&format!(
        "{AZ_GET};OAuthClientId=c;OAuthAuthority=http://127.0.0.1:8040/tid;AzureTenant=TID;Scope=s"
    ))
    .oauth
    .azure_tenant
    .is_some());
    let e = err_naming(&format!("{AZ_GET};OAuthClientId=c;OAuthAuthority=http://127.0.0.1:8040/tid;AzureTenant=other;Scope=s"), "AzureTenant");
    assert!(
        e.contains("differs from the tenant at the end of OAuthAuthority"),
        "{e}"
    );
}

#[test]
fn generic_oauth_needs_an_issuer_or_an_authority() {
    let base = "URL=https://h;ERPInstance=K;AuthScheme=OAuth;InitiateOAuth=GETANDREFRESH;OAuthClientId=c;Scope=s";
    let e = err_naming(base, "OAuthIssuer");
    assert!(e.contains("/.well-known/openid-configuration"), "{e}");
    assert!(
        ok(&format!("{base};OAuthIssuer=https://idp.example/realms/x"))
            .oauth
            .issuer
            .is_some()
    );
    assert!(ok(&format!("{base};OAuthAuthority=https://idp.example"))
        .oauth
        .issuer
        .is_none());
}

#[test]
fn client_grant_needs_one_client_credential_whatever_initiate_says() {
    let base = "URL=https://h;ERPInstance=K;AuthScheme=AzureAD;OAuthGrantType=CLIENT;OAuthClientId=c;AzureTenant=t";
    // CLIENT needs no person, so InitiateOAuth=OFF does not stop it getting tokens: Scope is due.
    let e = err_naming(base, "Scope");
    assert!(e.contains("/.default"), "{e}");
    let with_scope = format!("{base};Scope=api://srv/.default");
    let e = err_naming(&with_scope, "OAuthClientSecret");
    assert!(e.contains("`OAuthClientSecret` or `OAuthJWTCert`"), "{e}");
    assert!(ok(&format!("{with_scope};OAuthClientSecret=s"))
        .oauth
        .requests_tokens());
    assert!(ok(&format!("{with_scope};OAuthJWTCert=/c.pem"))
        .oauth
        .jwt_cert
        .is_some());
    let e = err_naming(
        &format!("{with_scope};OAuthJWTCert=/c.pem;OAuthClientSecret=s"),
        "OAuthJWTCert",
    );
    assert!(e.contains("keep one"), "{e}");
}

#[test]
fn obo_needs_a_client_credential() {
    let base = "URL=https://h;ERPInstance=K;AuthScheme=AzureAD;OAuthGrantType=OBO;OAuthClientId=c;AzureTenant=t;Scope=s";
    // Without OAuthUserAssertion: a web app's client settings, whose users' tokens come per call
    // (Client::on_behalf_of); opening a connection from them alone asks for it (tests/web.rs).
    assert!(err_naming(base, "OAuthClientSecret").contains("OBO"));
    assert!(ok(&format!("{base};OAuthClientSecret=s"))
        .oauth
        .user_assertion
        .is_none());
    assert!(err_naming(
        &format!("{base};OAuthUserAssertion=ua"),
        "OAuthClientSecret"
    )
    .contains("OBO"));
    assert!(
        ok(&format!("{base};OAuthUserAssertion=ua;OAuthClientSecret=s"))
            .oauth
            .user_assertion
            .is_some()
    );
}

#[test]
fn refresh_only_needs_something_to_refresh() {
    let base = "URL=https://h;ERPInstance=K;AuthScheme=AzureAD;InitiateOAuth=REFRESH;OAuthClientId=c;AzureTenant=t;Scope=s";
    let e = err_naming(base, "OAuthRefreshToken");
    assert!(e.contains("OAuthSettingsLocation"), "{e}");
    assert!(ok(&format!("{base};OAuthRefreshToken=r"))
        .oauth
        .refresh_token
        .is_some());
    assert!(ok(&format!("{base};OAuthSettingsLocation=/tmp/t"))
        .oauth
        .settings_location
        .is_some());
}

#[test]
fn certificate_details_need_the_certificate() {
    for dependent in [
        "OAuthJWTCertThumbprint=0000000000000000000000000000000000000000",
        "OAuthJWTCertPassword=x",
        "OAuthJWTCertType=PFXFILE",
    ] {
        let property = dependent.split('=').next().unwrap_or_default();
        let e = err_naming(&format!("{BASE};{dependent}"), property);
        assert!(e.contains("set OAuthJWTCert"), "{e}");
    }
    // The key also encrypts the default token file, so it needs no OAuthSettingsLocation.
    assert!(Settings::parse(&format!("{BASE};OAuthSettingsKey=k")).is_ok());
}

#[test]
fn proxy_details_need_the_proxy() {
    for dependent in ["ProxyPort=8080", "ProxyUser=u", "ProxyPassword=p"] {
        let e = err_naming(&format!("{BASE};{dependent}"), "ProxyServer");
        assert!(e.contains("set ProxyServer"), "{e}");
    }
    assert!(err_naming(
        &format!("{BASE};ProxyServer=p;ProxyUser=u"),
        "ProxyPassword"
    )
    .contains("needs both"));
    assert!(err_naming(
        &format!("{BASE};ProxyServer=p;ProxyPassword=x"),
        "ProxyUser"
    )
    .contains("needs both"));
}

#[test]
fn use_session_works_with_any_scheme() {
    assert!(ok(&format!("{BASE};UseSession=true")).auth.use_session);
    assert!(
        ok(&format!("{AZ};OAuthAccessToken=t;UseSession=true"))
            .auth
            .use_session
    );
}

// ---- secrets --------------------------------------------------------------------------------

const LEAK: &str = "zq7Leak";

#[test]
fn secrets_never_appear_in_errors() {
    let cases = [
        format!("URL=https://h;ERPInstance=K;User=u;Password=ab;{LEAK}"),
        format!("URL=https://h;ERPInstance=K;User=u;Password=ab;{LEAK}=x"),
        format!("URL=https://h;ERPInstance=K;User=u;Password=ab;{LEAK}x=y;c"),
        format!("URL=https://u:{LEAK}@h;ERPInstance=K;User=u;Password=p"),
        format!("URL=https://h/?api-key={LEAK};ERPInstance=K;User=u;Password=p"),
        format!("URL=https://h;ERPInstance=K;ProxyServer=u:{LEAK}@proxy;User=u;Password=p"),
        format!("URL=https://h;ERPInstance=K;User=u;Password=\"{LEAK}"),
        format!("URL=https://h;ERPInstance=K;User=u;Password=\"{LEAK}\"x"),
        format!("URL=https://h;ERPInstance=K;User=u;Password={LEAK};PWD={LEAK}"),
        format!("Password={LEAK};ApiKey={LEAK}"),
        format!("URL=https://h;ERPInstance=K;AuthScheme=AzureAD;OAuthClientSecret={LEAK};OAuthGrantType=CLIENT"),
        format!("URL=https://h;ERPInstance=K;AuthScheme=AzureAD;OAuthClientSecret={LEAK};OAuthJWTCert={LEAK};OAuthGrantType=CLIENT;OAuthClientId=c;AzureTenant=t;Scope=s"),
        format!("URL=https://h;ERPInstance=K;OAuthSettingsKey={LEAK}"),
        format!("URL=https://h;ERPInstance=K;User=u;Password=p;ProxyPassword={LEAK}"),
        format!("URL=https://h;ERPInstance=K;User=u;Password=p;ProxyServer=p;ProxyPassword={LEAK}"),
        format!("URL=https://h;ERPInstance=K;User=u;Password=p;OAuthJWTCertPassword={LEAK}"),
        format!("URL=https://h;ERPInstance=K;AuthScheme=OAuth;OAuthRefreshToken={LEAK};OAuthVerifier={LEAK};OAuthUserAssertion={LEAK}"),
    ];
    for case in &cases {
        let e = err(case);
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(LEAK), "{case:?} leaked: {shown}");
        }
    }
    // And through the environment.
    let leaky = env(&[(
        "KINETIC_CONNECTION",
        &format!("URL=https://h;Password=a;{LEAK}"),
    )]);
    let e = Settings::resolve(None, None, &leaky, &ConfigDir::none())
        .err()
        .map(|e| format!("{e} {e:?}"));
    assert!(
        e.as_deref()
            .is_some_and(|e| !e.contains(LEAK) && e.contains("KINETIC_CONNECTION")),
        "{e:?}"
    );
}

#[test]
fn secrets_never_appear_in_settings_debug() {
    let s = ok(&format!("URL=https://h;ERPInstance=K;User=u;Password={LEAK}1;ApiKey={LEAK}2;AuthScheme=AzureAD;InitiateOAuth=GETANDREFRESH;\
        OAuthGrantType=OBO;OAuthClientId=c;AzureTenant=t;Scope=s;OAuthJWTCert={LEAK}3;OAuthJWTCertPassword={LEAK}4;OAuthAccessToken={LEAK}5;\
        OAuthRefreshToken={LEAK}6;OAuthVerifier={LEAK}7;OAuthUserAssertion={LEAK}8;OAuthSettingsLocation=/t;OAuthSettingsKey={LEAK}9;\
        ProxyServer=p;ProxyUser=pu;ProxyPassword={LEAK}10"));
    for shown in [format!("{s:?}"), format!("{s:#?}")] {
        assert!(!shown.contains(LEAK), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
    let s = ok(&format!("URL=https://h;ERPInstance=K;AuthScheme=AzureAD;OAuthGrantType=CLIENT;OAuthClientId=c;AzureTenant=t;Scope=s;OAuthClientSecret={LEAK}"));
    assert!(!format!("{s:?}").contains(LEAK));
}

// ---- sources and precedence -----------------------------------------------------------------

const PROFILES: &str = r#"
[prod]
URL = "https://prod.example.com"
ERPInstance = "Live"
User = "profile-user"
Password = "profile-pass"
Company = "EPIC06"
Pagesize = 50
UseSession = true

[conn]
connection = "URL=https://conn.example.com;ERPInstance=K;User=cu;Password={c;p}"
MaxRetries = 1
"#;

#[test]
fn precedence_is_string_then_env_vars_then_env_connection_then_profile() {
    let files = MemFiles::with_profiles(PROFILES);
    let vars = env(&[
        (
            "KINETIC_CONNECTION",
            "User=envconn-user;Company=EPIC03;Timeout=30;Plant=P1",
        ),
        ("KINETIC_USER", "envvar-user"),
        ("KINETIC_TIMEOUT", "10"),
        ("KINETIC_PAGESIZE", ""), // empty: ignored
        ("KINETIC_PROFILE", "prod"),
    ]);
    // No connection named on the command line: every source, in order.
    let s = Settings::resolve(None, None, &vars, &files).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.timeout, Some(Duration::from_secs(10))); // env var beats KINETIC_CONNECTION
    assert_eq!(s.auth.user.as_deref(), Some("envvar-user"));
    assert_eq!(
        s.origin("User"),
        Some(&Origin::EnvVar("KINETIC_USER".into()))
    );
    assert_eq!(s.company.as_deref(), Some("EPIC03")); // KINETIC_CONNECTION beats the profile
    assert_eq!(s.origin("Company"), Some(&Origin::EnvConnection));
    assert_eq!(s.url, "https://prod.example.com"); // the profile fills the rest
    assert_eq!(s.plant.as_deref(), Some("P1"));
    assert!(
        s.notes().iter().any(|n| n.contains("KINETIC_USER")),
        "{:?}",
        s.notes()
    );

    // A string named explicitly: it beats everything; KINETIC_CONNECTION, another connection,
    // is left out (and said so); targeted variables and the profile fill the gaps.
    let s = Settings::resolve(Some("Timeout=5;Plant="), Some("prod"), &vars, &files)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.timeout, Some(Duration::from_secs(5))); // string beats everything
    assert_eq!(s.origin("Timeout"), Some(&Origin::ConnectionString));
    assert_eq!(s.auth.user.as_deref(), Some("envvar-user")); // a targeted variable still applies
    assert_eq!(
        s.company.as_deref(),
        Some("EPIC06"),
        "the profile's, not KINETIC_CONNECTION's"
    );
    assert!(
        s.notes()
            .iter()
            .any(|n| n.contains("KINETIC_CONNECTION is set but not used")),
        "{:?}",
        s.notes()
    );
    assert_eq!(s.url, "https://prod.example.com"); // the profile fills the rest
    assert_eq!(
        s.auth.password.as_ref().map(Secret::expose),
        Some("profile-pass")
    );
    assert_eq!(s.page_size, 50);
    assert!(s.auth.use_session);
    assert!(matches!(s.origin("URL"), Some(Origin::Profile { name, .. }) if name == "prod"));
    assert_eq!(s.plant, None); // `Plant=` in the string unsets it
    assert_eq!(s.max_retries, 3); // default

    // An explicit --profile alone: KINETIC_CONNECTION does not leak into it either.
    let s = Settings::resolve(None, Some("prod"), &vars, &files).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.url, "https://prod.example.com");
    assert_eq!(s.company.as_deref(), Some("EPIC06"));
    assert_eq!(s.plant, None);
}

#[test]
fn the_profile_comes_from_kinetic_profile_when_not_given() {
    let files = MemFiles::with_profiles(PROFILES);
    let s = Settings::resolve(None, None, &env(&[("KINETIC_PROFILE", "conn")]), &files)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.url, "https://conn.example.com");
    assert_eq!(s.auth.password.as_ref().map(Secret::expose), Some("c;p"));
    assert_eq!(s.max_retries, 1);
    // An explicit profile wins over KINETIC_PROFILE.
    let s = Settings::resolve(
        None,
        Some("prod"),
        &env(&[("KINETIC_PROFILE", "conn")]),
        &files,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.url, "https://prod.example.com");
}

#[test]
fn env_alone_is_enough() {
    let vars = env(&[
        ("KINETIC_URL", "https://env.example.com"),
        ("KINETIC_ERPINSTANCE", "K"),
        ("KINETIC_USER", "u"),
        ("KINETIC_PASSWORD", "p"),
        ("KINETIC_APIVERSION", "v2"),
        ("KINETIC_COMPANY", "EPIC06"),
    ]);
    let s =
        Settings::resolve(None, None, &vars, &ConfigDir::none()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (s.url.as_str(), s.api_version),
        ("https://env.example.com", ApiVersion::V2)
    );
}

#[test]
fn profile_errors() {
    let files = MemFiles::with_profiles(PROFILES);
    let e = Settings::resolve(Some(BASE), Some("nope"), &(), &files)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("has no profile `nope` (there are: conn, prod)"),
        "{e}"
    );
    let e = Settings::resolve(Some(BASE), Some("x"), &(), &ConfigDir::none())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("KINETIC_CONFIG_DIR"), "{e}");

    let bad = MemFiles::with_profiles("[p]\nPasword = \"x\"\n");
    let e = Settings::resolve(None, Some("p"), &(), &bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("unknown property `Pasword` in profile `p`")
            && e.contains("did you mean `Password`?"),
        "{e}"
    );

    let dup = MemFiles::with_profiles("[p]\nconnection = \"User=a\"\nuser = \"b\"\n");
    let e = Settings::resolve(None, Some("p"), &(), &dup)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("`User` is given twice in profile `p`"), "{e}");

    let broken = MemFiles::with_profiles(&format!("[p]\nPassword = \"{LEAK}\n"));
    let e = Settings::resolve(None, Some("p"), &(), &broken)
        .err()
        .map(|e| format!("{e} {e:?}"))
        .unwrap_or_default();
    assert!(
        e.contains("is not valid TOML at line 2") && !e.contains(LEAK),
        "{e}"
    );

    let nested = MemFiles::with_profiles("p = 1\n[q]\nTimeout = [1]\n");
    let e = Settings::resolve(None, Some("p"), &(), &nested)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("must be a table"), "{e}");
    let e = Settings::resolve(None, Some("q"), &(), &nested)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("`Timeout` in profile `q`"), "{e}");
}

// ---- profiles on disk -----------------------------------------------------------------------

#[test]
fn profiles_add_list_show_remove() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("kinetic");
    let files = ConfigDir::at(&dir);
    assert_eq!(profiles::list(&files).ok(), Some(vec![]));

    let conn = "url=https://erp.example.com;ERPInstance=Kinetic;User=manager;pwd={Epicor;123!};ApiKey=k-secret;Timeout=30";
    assert!(profiles::add(&files, "prod", conn, false).is_ok());
    assert!(profiles::add(
        &files,
        "emulator",
        "URL=http://127.0.0.1:8040;ERPInstance=Kinetic",
        false
    )
    .is_ok());
    assert_eq!(
        profiles::list(&files).ok(),
        Some(vec!["emulator".to_owned(), "prod".to_owned()])
    );

    let shown = profiles::show(&files, "prod").unwrap_or_else(|e| panic!("{e}"));
    let pairs: Vec<(&str, &str)> = shown
        .iter()
        .map(|p| (p.property, p.value.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("URL", "https://erp.example.com"),
            ("ERPInstance", "Kinetic"),
            ("User", "manager"),
            ("Password", "[redacted]"),
            ("ApiKey", "[redacted]"),
            ("Timeout", "30"),
        ]
    );

    // Stored under canonical names, readable back into settings with the secret intact.
    let s = Settings::resolve(None, Some("prod"), &(), &files).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.auth.password.as_ref().map(Secret::expose),
        Some("Epicor;123!")
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("profiles.toml"))
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
    }

    // No silent overwrite.
    let e = profiles::add(&files, "prod", "URL=https://other", false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("already has a profile `prod`"), "{e}");
    assert!(profiles::add(&files, "prod", "URL=https://other", true).is_ok());
    assert_eq!(
        profiles::show(&files, "prod").map(|s| s.len()).ok(),
        Some(1)
    );

    assert_eq!(profiles::remove(&files, "prod").ok(), Some(true));
    assert_eq!(profiles::remove(&files, "prod").ok(), Some(false));
    assert_eq!(
        profiles::list(&files).ok(),
        Some(vec!["emulator".to_owned()])
    );
}

#[test]
fn profile_add_checks_names_keys_and_values_but_not_combinations() {
    let files = MemFiles::with_profiles("");
    assert!(profiles::add(&files, "partial", "Company=EPIC06", false).is_ok()); // no URL: fine in a profile
    for bad_name in ["", "a b", "x/y", &"n".repeat(65)] {
        let e = profiles::add(&files, bad_name, "Company=C", false).err();
        assert!(
            e.is_some_and(|e| e.property() == Some("Profile")),
            "{bad_name:?}"
        );
    }
    let e = profiles::add(&files, "p", "Pasword=x", false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("did you mean `Password`?"), "{e}");
    let e = profiles::add(&files, "p", "Timeout=soon", false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("`Timeout` in profile `p`") && e.contains("must be a whole number"),
        "{e}"
    );
    let e = profiles::add(&files, "p", &format!("Password=a;{LEAK}"), false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!e.is_empty() && !e.contains(LEAK), "{e}");
    assert!(profiles::show(&files, "p").is_err());
}

// ---- robustness -----------------------------------------------------------------------------

#[test]
fn no_input_panics() {
    // Deterministic pseudo-random strings built from the grammar's delimiters, property names,
    // multi-byte and control characters. Parsing must answer Ok or Err, never panic.
    const PIECES: &[&str] = &[
        "=",
        ";",
        "\"",
        "'",
        "{",
        "}",
        " ",
        "\t",
        "a",
        "é",
        "€",
        "\u{0}",
        "URL",
        "Password",
        "PWD",
        "https://h",
        "http://[::1",
        ":",
        "@",
        "-1",
        "99999999999999999999",
        "v2",
        "AzureAD",
        "ERPInstance",
        "ProxyPort",
        "OAuthJWTCertThumbprint",
        "ab:cd",
        "\n",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for _ in 0..2_000 {
        let len = (next() % 24) as usize;
        let input: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let _ = Settings::parse(&input);
        let _ = Settings::parse(&format!("{BASE};{input}"));
    }
}

/// A CData connection string pasted as is: the reference connector's properties that mean
/// nothing here are ignored with a note (their values never shown), not refused; a real typo
/// still is.
#[test]
fn reference_connector_properties_are_ignored_with_a_note() {
    let s = Settings::parse(&format!(
        "{BASE};SupportEnhancedSQL=true;Location=C:\\\\cdata;firewallpassword=fw-secret-9"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let notes = s.notes().join("\n");
    for name in ["SupportEnhancedSQL", "Location", "FirewallPassword"] {
        assert!(notes.contains(&format!("`{name}`")), "{notes}");
    }
    assert!(!notes.contains("fw-secret-9"), "{notes}");
    assert!(Settings::parse(&format!("{BASE};SupportEnhancedSQLs=true")).is_err());
}
