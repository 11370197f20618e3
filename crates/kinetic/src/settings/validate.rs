//! The rules between properties, checked once the typed settings are built.

use crate::error::Result;

use super::merged::{settings_error, Values};
use super::types::{ApiVersion, AuthScheme, InitiateOAuth, OAuthGrantType};
use super::{authority_tenant, Settings};

/// The rules between properties. Each failure names the property to set and how; the first
/// failure is returned. Nothing here reads the network or the file system.
pub(super) fn validate(s: &Settings, v: &Values) -> Result<()> {
    if s.url.is_empty() {
        return Err(settings_error(
            "URL",
            "`URL` is required",
            "set URL to your server's address, e.g. URL=https://erp.example.com",
        ));
    }
    if s.erp_instance.is_empty() {
        return Err(settings_error(
            "ERPInstance",
            "`ERPInstance` is required",
            "set ERPInstance to the instance in your Kinetic address https://host/{ERPInstance}/, e.g. ERPInstance=Kinetic",
        ));
    }
    if s.api_version == ApiVersion::V2 && s.company.is_none() {
        return Err(settings_error(
            "Company",
            "`Company` is required with ApiVersion=v2 (the company is part of every v2 address)",
            "set Company to your Epicor company id, e.g. Company=EPIC06, or use ApiVersion=v1",
        ));
    }

    match s.auth.scheme {
        AuthScheme::Basic | AuthScheme::Token => {
            let scheme = s.auth.scheme;
            if s.auth.user.is_none() {
                return Err(settings_error(
                    "User",
                    format!("`User` is required with AuthScheme={scheme}"),
                    "set User to your Epicor user name, or choose another AuthScheme",
                ));
            }
            if s.auth.password.is_none() {
                return Err(settings_error(
                    "Password",
                    format!("`Password` is required with AuthScheme={scheme}"),
                    "set Password (quote it as Password={...} if it contains `;`), or set it in KINETIC_PASSWORD",
                ));
            }
        }
        AuthScheme::AzureAd | AuthScheme::OAuth => validate_oauth(s, v)?,
        AuthScheme::None => {}
    }

    let o = &s.oauth;
    for dependent in [
        "OAuthJWTCertThumbprint",
        "OAuthJWTCertPassword",
        "OAuthJWTCertType",
    ] {
        if v.given(dependent) && o.jwt_cert.is_none() {
            return Err(settings_error(
                dependent,
                format!("`{dependent}` describes OAuthJWTCert, which is not set"),
                format!("set OAuthJWTCert to the certificate, or remove {dependent}"),
            ));
        }
    }
    // `OAuthSettingsKey` without `OAuthSettingsLocation` is allowed: it encrypts the default
    // token file under the configuration directory.

    if s.proxy.is_none() {
        for dependent in ["ProxyPort", "ProxyUser", "ProxyPassword"] {
            if v.given(dependent) {
                return Err(settings_error(
                    "ProxyServer",
                    format!("`{dependent}` is set but `ProxyServer` is not"),
                    format!("set ProxyServer to the proxy's host name, or remove {dependent}"),
                ));
            }
        }
    }
    if let Some(proxy) = &s.proxy {
        if proxy.user.is_some() != proxy.password.is_some() {
            let (have, lack) = if proxy.user.is_some() {
                ("ProxyUser", "ProxyPassword")
            } else {
                ("ProxyPassword", "ProxyUser")
            };
            return Err(settings_error(
                lack,
                format!("`{have}` is set but `{lack}` is not"),
                format!("set {lack} too: the proxy's Basic authentication needs both"),
            ));
        }
    }
    Ok(())
}

/// The rules for `AuthScheme` `AzureAD` and `OAuth`.
fn validate_oauth(s: &Settings, v: &Values) -> Result<()> {
    let o = &s.oauth;
    let scheme = s.auth.scheme;
    if !o.requests_tokens() {
        // InitiateOAuth=OFF with an interactive grant: the connector will not sign anyone in, so
        // it can only use a token it is given.
        if o.access_token.is_none() {
            return Err(settings_error(
                "OAuthAccessToken",
                format!(
                    "AuthScheme={scheme} with InitiateOAuth=OFF and OAuthGrantType={} needs `OAuthAccessToken` (the connector does not sign in by itself)",
                    o.grant_type
                ),
                "set OAuthAccessToken to a token, or InitiateOAuth=GETANDREFRESH to let the connector sign in",
            ));
        }
        return Ok(());
    }

    if o.client_id.is_none() {
        return Err(settings_error(
            "OAuthClientId",
            format!("`OAuthClientId` is required with AuthScheme={scheme} when the connector gets tokens"),
            "set OAuthClientId to the application (client) id of your app registration",
        ));
    }
    match scheme {
        AuthScheme::AzureAd => {
            let authority_tenant = authority_tenant(&o.authority);
            match (&o.azure_tenant, authority_tenant) {
                (None, None) => {
                    return Err(settings_error(
                        "AzureTenant",
                        "`AzureTenant` is required with AuthScheme=AzureAD",
                        "set AzureTenant to your tenant id or domain (e.g. contoso.onmicrosoft.com), or OAuthAuthority to https://login.microsoftonline.com/{tenant}",
                    ))
                }
                (Some(tenant), Some(in_authority)) if !tenant.eq_ignore_ascii_case(in_authority) => {
                    return Err(settings_error(
                        "AzureTenant",
                        format!("`AzureTenant` ({tenant}) differs from the tenant at the end of OAuthAuthority ({in_authority})"),
                        "set one of them: AzureTenant with OAuthAuthority left as the cloud's address, or the full authority alone",
                    ))
                }
                _ => {}
            }
        }
        _ => {
            if o.issuer.is_none() && !v.given("OAuthAuthority") {
                return Err(settings_error(
                    "OAuthIssuer",
                    "`OAuthIssuer` is required with AuthScheme=OAuth (the Microsoft default authority is for AzureAD)",
                    "set OAuthIssuer to your provider's issuer URL (where /.well-known/openid-configuration is served), or OAuthAuthority",
                ));
            }
        }
    }
    if o.scope.is_none() {
        // The Epicor server's app id is specific to each installation: no default can be right.
        return Err(settings_error(
            "Scope",
            format!("`Scope` is required with AuthScheme={scheme} when the connector gets tokens"),
            match o.grant_type {
                OAuthGrantType::Client => "set Scope to your Epicor server app's scope for apps, e.g. Scope=api://{server app id}/.default",
                _ => "set Scope to your Epicor server app's scope, e.g. Scope=api://{server app id}/user_impersonation",
            },
        ));
    }

    let has_client_credential = o.client_secret.is_some() || o.jwt_cert.is_some();
    if o.client_secret.is_some() && o.jwt_cert.is_some() {
        return Err(settings_error(
            "OAuthJWTCert",
            "both `OAuthClientSecret` and `OAuthJWTCert` are set; the connector would not know which to present",
            "keep one: OAuthJWTCert (a certificate is the stronger credential) or OAuthClientSecret",
        ));
    }
    match o.grant_type {
        OAuthGrantType::Client if !has_client_credential => Err(settings_error(
            "OAuthClientSecret",
            "OAuthGrantType=CLIENT needs a client credential: `OAuthClientSecret` or `OAuthJWTCert`",
            "set OAuthClientSecret to the app's secret, or OAuthJWTCert to its certificate",
        )),
        OAuthGrantType::Obo if !has_client_credential => Err(settings_error(
            "OAuthClientSecret",
            "OAuthGrantType=OBO needs a client credential: `OAuthClientSecret` or `OAuthJWTCert`",
            "set OAuthClientSecret to your web app's secret, or OAuthJWTCert to its certificate",
        )),
        grant
            if grant.is_interactive()
                && o.initiate == InitiateOAuth::Refresh
                && o.refresh_token.is_none()
                && o.verifier.is_none()
                && o.settings_location.is_none() =>
        {
            Err(settings_error(
                "OAuthRefreshToken",
                format!("InitiateOAuth=REFRESH with OAuthGrantType={grant} needs a token to refresh: `OAuthRefreshToken`, a stored one in `OAuthSettingsLocation`, or an authorization code in `OAuthVerifier`"),
                "set OAuthRefreshToken, or OAuthSettingsLocation to a token file copied from a machine with a browser, or OAuthVerifier to a code, or InitiateOAuth=GETANDREFRESH to sign in",
            ))
        }
        _ => Ok(()),
    }
}
