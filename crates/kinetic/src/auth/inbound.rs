//! Access tokens that callers present to a server of ours (`kinetic serve --auth azuread`, the
//! MCP server): checked before anything is done with them, as a resource server checks them.
//!
//! A token is accepted when it is a JWT signed (RS256) by one of the identity provider's keys
//! (its JWKS, found through the OpenID discovery document of the client's settings:
//! `AzureTenant` or `OAuthIssuer`), issued by that provider (`iss`: the discovery document's
//! issuer, or Entra's v1 form `https://sts.windows.net/{tenant}/` for the same tenant), for this
//! server (`aud`: its `OAuthClientId`, or `api://{OAuthClientId}`), within its lifetime (`exp`,
//! `nbf`, a minute's leeway, on the client's clock), and naming a user (`tid` and `oid`, or
//! `sub`). Keys are cached for an hour; a token signed by a key not in the cache (the provider
//! rotated its keys) makes one fresh read of the JWKS, at most every five minutes, so random key
//! ids cannot make the server hammer the provider.
//!
//! Nothing here exchanges or keeps the token: the caller then uses it for
//! [`Client::on_behalf_of`](crate::Client::on_behalf_of), whose exchange the provider checks again.

use crate::clock::unix_seconds;
use crate::http::{Method, Request, Url};
use crate::{Client, Error, Result};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long the provider's keys are kept.
const KEYS_FOR: Duration = Duration::from_secs(3600);
/// The least time between two reads of the keys.
const REREAD_AFTER: Duration = Duration::from_secs(300);
/// The leeway on `exp` and `nbf`, in seconds (clocks differ).
const LEEWAY: u64 = 60;

/// Who a verified token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `{tenant}.{object id}` (as the web application's token cache names users), or `sub`.
    pub user: String,
    /// The names the user goes by: `preferred_username`, `upn`, `unique_name`, `email`, `oid`
    /// (those present), for matching the name a client signed in with.
    pub names: Vec<String>,
}

impl Caller {
    /// Whether `name` (any case) is one of the user's names.
    pub fn is_named(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Why a token was refused: said to the caller (never the token itself).
fn refused(why: impl Into<String>) -> Error {
    Error::Unauthorized {
        status: None,
        message: format!("the access token was refused: {}", why.into()),
        correlation_id: None,
        error_type: None,
    }
}

/// Checks access tokens for the app registration of a client's settings.
#[derive(Debug)]
pub struct InboundVerifier {
    client: Client,
    issuers: Vec<String>,
    audiences: Vec<String>,
    tenant: Option<String>,
    jwks_uri: Url,
    keys: Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    set: Option<JwkSet>,
    read_at: Option<Instant>,
}

impl InboundVerifier {
    /// The verifier of tokens for `client`'s app registration (`OAuthClientId`; the provider
    /// from `AzureTenant` or `OAuthIssuer`). Reads the provider's discovery document now: a
    /// provider that cannot be reached is an error here, not at the first client.
    pub async fn new(client: &Client) -> Result<InboundVerifier> {
        let settings = client.settings();
        let client_id = settings.oauth.client_id.clone().ok_or_else(|| {
            Error::invalid_settings(
                "OAuthClientId",
                "checking access tokens needs this server's app registration",
                "set OAuthClientId to the app registration whose tokens clients present",
            )
        })?;
        let url = crate::auth::providers::discovery_url(settings)?;
        let doc = get_json(client, &url, "the OpenID discovery document").await?;
        let field = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        let issuer = field("issuer").ok_or_else(|| refused_config(&url, "names no issuer"))?;
        let jwks = field("jwks_uri").ok_or_else(|| refused_config(&url, "names no jwks_uri"))?;
        let base = Url::parse(&url).map_err(|e| refused_config(&url, &e.to_string()))?;
        let jwks_uri = Url::parse(&jwks).map_err(|e| refused_config(&url, &e.to_string()))?;
        let scheme_ok = jwks_uri.scheme() == "https" || base.scheme() == "http";
        if !scheme_ok || jwks_uri.host_str() != base.host_str() {
            return Err(refused_config(
                &url,
                &format!("names its keys at {jwks}, not https on its own host"),
            ));
        }
        // A multi-tenant authority (`common`) has no single issuer to check against.
        if issuer.contains("{tenantid}") {
            return Err(Error::invalid_settings(
                "AzureTenant",
                "checking access tokens needs one tenant (common and organizations accept any)",
                "set AzureTenant to your directory (tenant) id",
            ));
        }
        let tenant = settings.oauth.azure_tenant.clone();
        let mut issuers = vec![issuer];
        if let Some(t) = &tenant {
            issuers.push(format!("https://sts.windows.net/{t}/"));
        }
        Ok(InboundVerifier {
            client: client.clone(),
            issuers,
            audiences: vec![client_id.clone(), format!("api://{client_id}")],
            tenant,
            jwks_uri,
            keys: Mutex::new(Keys::default()),
        })
    }

    /// The caller `token` names, when it is good (see the module's documentation).
    pub async fn verify(&self, token: &str) -> Result<Caller> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refused("it is not a JSON Web Token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(refused(format!(
                "it is signed with {:?}, not RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| refused("its header names no signing key (kid)"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&self.audiences);
        validation.set_issuer(&self.issuers);
        // Lifetimes are checked below, on the client's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            refused(match e.kind() {
                K::InvalidSignature => "its signature is not the provider's".to_owned(),
                K::InvalidAudience => "it is for another application (aud)".to_owned(),
                K::InvalidIssuer => "it comes from another issuer (iss)".to_owned(),
                K::MissingRequiredClaim(c) => format!("it has no {c} claim"),
                other => format!("{other:?}"),
            })
        })?;
        let claims = data.claims;
        let now = unix_seconds(self.client.clock().now());
        let number = |k: &str| claims.get(k).and_then(Value::as_u64);
        if number("exp").is_none_or(|exp| exp + LEEWAY < now) {
            return Err(refused("it has expired: get a new one"));
        }
        if number("nbf").is_some_and(|nbf| nbf > now + LEEWAY) {
            return Err(refused("it is not valid yet (nbf)"));
        }
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        if let (Some(want), Some(tid)) = (&self.tenant, text("tid")) {
            if !want.eq_ignore_ascii_case(&tid) {
                return Err(refused("it is from another tenant (tid)"));
            }
        }
        let user = match (text("tid"), text("oid")) {
            (Some(tid), Some(oid)) => format!("{tid}.{oid}"),
            _ => text("sub").ok_or_else(|| refused("it names no user (oid, sub)"))?,
        };
        let names = ["preferred_username", "upn", "unique_name", "email", "oid"]
            .iter()
            .filter_map(|k| text(k))
            .collect();
        Ok(Caller { user, names })
    }

    /// The provider's key `kid`: from the cache, or read again (see the module's documentation).
    async fn key(&self, kid: &str) -> Result<DecodingKey> {
        let mut keys = self.keys.lock().await;
        let fresh = keys.read_at.is_some_and(|at| at.elapsed() < KEYS_FOR);
        let find = |set: &Option<JwkSet>| set.as_ref().and_then(|s| s.find(kid)).cloned();
        let mut found = if fresh { find(&keys.set) } else { None };
        let may_reread = keys.read_at.is_none_or(|at| at.elapsed() >= REREAD_AFTER) || !fresh;
        if found.is_none() && may_reread {
            let doc = get_json(&self.client, self.jwks_uri.as_str(), "the provider's keys").await?;
            let set: JwkSet = serde_json::from_value(doc).map_err(|e| Error::Protocol {
                status: None,
                message: format!("the provider's keys at {} do not read: {e}", self.jwks_uri),
                correlation_id: None,
                source: None,
            })?;
            keys.set = Some(set);
            keys.read_at = Some(Instant::now());
            found = find(&keys.set);
        }
        let jwk =
            found.ok_or_else(|| refused("it is signed by a key the provider does not list"))?;
        DecodingKey::from_jwk(&jwk).map_err(|_| refused("its signing key is not an RSA key"))
    }
}

fn refused_config(url: &str, why: &str) -> Error {
    Error::Protocol {
        status: None,
        message: format!("the OpenID discovery document {url} {why}"),
        correlation_id: None,
        source: None,
    }
}

/// A JSON document from the provider, through the client's pipeline without credentials.
async fn get_json(client: &Client, url: &str, what: &str) -> Result<Value> {
    let address =
        Url::parse(url).map_err(|e| refused_config(url, &format!("is not a URL: {e}")))?;
    let response = client
        .outside()
        .send(Request::new(Method::GET, address).without_credentials())
        .await?;
    serde_json::from_slice(response.body()).map_err(|e| Error::Protocol {
        status: None,
        message: format!("{what} at {url} is not JSON: {e}"),
        correlation_id: None,
        source: None,
    })
}
