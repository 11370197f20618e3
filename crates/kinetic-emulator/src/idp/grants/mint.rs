//! Minting the tokens of one answer: access, ID and refresh tokens, signed with the current key.

use super::client_auth::Authn;
use super::{random_token, Scopes, GRAPH};
use crate::encoding::b64url;
use crate::idp::{App, Idp, Issued, Ready, RefreshRecord, User, REMEMBER_SPENT};
use serde_json::{json, Value};

/// Everything needed to mint tokens for one answer.
pub(super) struct Mint<'a> {
    pub(super) idp: &'a Idp,
    pub(super) ready: &'a Ready,
    pub(super) issuer: String,
    pub(super) client: &'a App,
    pub(super) authn: Authn,
}

impl Mint<'_> {
    pub(super) fn now(&self) -> i64 {
        self.idp.clock.now_secs()
    }

    /// A delegated (user) access token.
    pub(super) fn user_access_token(
        &self,
        user: &User,
        resource: Option<&App>,
        scopes: &[String],
        mfa: bool,
    ) -> (String, String, String) {
        let now = self.now();
        let uti = random_token(16);
        let (aud, scp) = match resource {
            Some(r) => (r.reg.client_id.clone(), scopes.join(" ")),
            None => (GRAPH.to_string(), "openid profile email".to_string()),
        };
        let claims = json!({
            "aud": aud, "iss": self.issuer, "iat": now, "nbf": now,
            "exp": now + self.idp.cfg.token_lifetime_secs as i64,
            "aio": random_token(12), "amr": amr(mfa), "azp": self.client.reg.client_id, "azpacr": self.authn.to_string(),
            "name": user.display_name, "oid": user.object_id, "preferred_username": user.upn,
            "rh": "0.kinetic", "scp": scp, "sub": pairwise(&user.object_id, &self.client.reg.client_id),
            "tid": self.idp.cfg.tenant, "uti": uti, "ver": "2.0",
        });
        let granted = match resource {
            Some(r) => {
                let prefix = r
                    .reg
                    .app_id_uri
                    .clone()
                    .unwrap_or_else(|| r.reg.client_id.clone());
                scopes
                    .iter()
                    .map(|s| format!("{prefix}/{s}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => scp,
        };
        (self.sign(&claims), granted, uti)
    }

    pub(super) fn id_token(&self, user: &User, nonce: Option<&str>, mfa: bool) -> String {
        let now = self.now();
        let mut claims = json!({
            "aud": self.client.reg.client_id, "amr": amr(mfa), "iss": self.issuer, "iat": now, "nbf": now,
            "exp": now + self.idp.cfg.token_lifetime_secs as i64,
            "name": user.display_name, "oid": user.object_id, "preferred_username": user.upn,
            "sub": pairwise(&user.object_id, &self.client.reg.client_id), "tid": self.idp.cfg.tenant,
            "uti": random_token(16), "ver": "2.0",
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.sign(&claims)
    }

    pub(super) fn sign(&self, claims: &Value) -> String {
        self.ready
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sign(claims)
    }

    /// A new refresh token of `family` (or of a new family); returns it and its family.
    pub(super) fn refresh_token(
        &self,
        user: &User,
        scopes: &[String],
        family: Option<String>,
        mfa: bool,
    ) -> (String, String) {
        let token = format!("1.{}", random_token(48));
        let family = family.unwrap_or_else(|| random_token(12));
        let now = self.now();
        let expires = now + self.idp.cfg.refresh_token_lifetime_secs as i64;
        let record = RefreshRecord {
            family: family.clone(),
            client_id: self.client.reg.client_id.clone(),
            user: user.upn.clone(),
            scopes: scopes.to_vec(),
            expires,
            used: false,
            mfa,
        };
        let weight = token.len()
            + family.len()
            + record.client_id.len()
            + record.user.len()
            + scopes.iter().map(|s| s.len() + 8).sum::<usize>()
            + 64;
        let mut store = self.idp.store.lock().unwrap_or_else(|p| p.into_inner());
        // Remembered a while past its expiry, to answer "expired" rather than "unknown".
        store
            .refresh
            .insert(now, token.clone(), record, expires + REMEMBER_SPENT, weight);
        (token, family)
    }

    /// The token response of a user flow. `scope_text` is the full requested scope list (kept for refresh).
    pub(super) fn user_response(
        &self,
        user: &User,
        scopes: &Scopes<'_>,
        granted_names: &[String],
        extras: Extras<'_>,
        requested: &[String],
    ) -> (Value, Issued) {
        let (access, granted, uti) =
            self.user_access_token(user, scopes.resource, granted_names, extras.mfa);
        let mut issued = Issued {
            family: None,
            access_uti: Some(uti),
            replayed: false,
        };
        let life = self.idp.cfg.token_lifetime_secs;
        let mut scope_list: Vec<String> = granted
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        scope_list.extend(
            scopes
                .oidc
                .iter()
                .filter(|s| *s != "offline_access")
                .cloned(),
        );
        let mut out = json!({
            "token_type": "Bearer", "scope": scope_list.join(" "), "expires_in": life, "ext_expires_in": life,
            "access_token": access,
        });
        if life >= 600 {
            out["refresh_in"] = json!(life / 2);
        }
        if scopes.offline() {
            let (token, family) = self.refresh_token(user, requested, extras.family, extras.mfa);
            out["refresh_token"] = json!(token);
            issued.family = Some(family);
        }
        if scopes.openid() {
            out["id_token"] = json!(self.id_token(user, extras.nonce, extras.mfa));
        }
        if extras.client_info {
            let ci = json!({"uid": user.object_id, "utid": self.idp.cfg.tenant});
            out["client_info"] = json!(b64url(ci.to_string().as_bytes()));
        }
        (out, issued)
    }
}

/// Optional parts of a user-flow answer.
pub(super) struct Extras<'a> {
    pub(super) nonce: Option<&'a str>,
    /// The refresh-token family to continue (a refresh), or a new one.
    pub(super) family: Option<String>,
    /// Return `client_info` (MSAL asks with `client_info=1`).
    pub(super) client_info: bool,
    /// The sign-in behind it passed a second factor.
    pub(super) mfa: bool,
}

/// How the user signed in, as Entra's `amr` claim says it.
fn amr(mfa: bool) -> Value {
    if mfa {
        json!(["pwd", "mfa"])
    } else {
        json!(["pwd"])
    }
}

/// A per-app subject, as Entra's `sub` is pairwise.
pub(super) fn pairwise(oid: &str, client: &str) -> String {
    use sha2::Digest;
    b64url(&sha2::Sha256::digest(format!("{oid}|{client}").as_bytes())[..24])
}
