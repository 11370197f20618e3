//! A connection: settings in, an authenticated pipeline out (and, with `UseSession`, one Epicor
//! session held from open to close, so an integration uses one licence seat rather than one per call).

use crate::clock::{Clock, SystemClock};
use crate::http::{Authorization, Credential, Pipeline, Request};
use crate::{Client, Error, Result, Secret, Settings};
use epicor_kinetic_odata::csdl::Metadata;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::OnceCell;

impl Client {
    /// Opens a connection authenticated as `settings` say (see [`Connection::open`]). The
    /// settings' transport must be the client's: a different `SSLServerCert`, proxy or `Timeout`
    /// is an [`Error::InvalidSettings`] naming the property (make another client for it).
    pub async fn connect(&self, settings: Settings) -> Result<Connection> {
        self.check_transport(&settings)?;
        let credential = crate::auth::scheme::credential_for(self, &settings).await?;
        Connection::start(self.clone(), settings, credential).await
    }

    /// As [`Client::connect`], with the credential given instead of chosen from the settings'
    /// `AuthScheme` (for example an interactive sign-in with a user agent of the application's
    /// own, from [`interactive::credential`](crate::auth::interactive::credential)).
    pub async fn connect_with_credential(
        &self,
        settings: Settings,
        credential: Arc<dyn Credential>,
    ) -> Result<Connection> {
        self.check_transport(&settings)?;
        Connection::start(self.clone(), settings, credential).await
    }

    /// A connection that calls Epicor as the signed-in user of a web application, from their
    /// access token to the application (its audience is the app; see
    /// [`auth::web`](crate::auth::web)). The client's settings name the app registration
    /// (`AuthScheme=AzureAD` or `OAuth`, `OAuthClientId`, `OAuthClientSecret` or `OAuthJWTCert`)
    /// and the Epicor API's `Scope`. Cheap: nothing is sent until a call needs a token, and then
    /// the user's Epicor token comes from the client's cache ([`Client::user_tokens`]: this
    /// process, and Redis with `OAuthSettingsLocation=redis://...`), exchanged on behalf of the
    /// user only when no instance holds a fresh one. An answer that needs the user to sign in
    /// again is [`Error::OAuth`] with [`needs_sign_in`](crate::OAuthError::needs_sign_in).
    pub async fn on_behalf_of(&self, user_access_token: &Secret) -> Result<Connection> {
        let (settings, credential) =
            crate::auth::web::on_behalf_of_credential(self, user_access_token).await?;
        Connection::start(self.clone(), settings, credential).await
    }

    /// Signs `user` (`{tenant}.{object id}`, as [`SignedIn::user`](crate::auth::web::SignedIn)
    /// names them) out of the application on every instance: their Epicor tokens are deleted
    /// here and in Redis, and the other instances drop theirs (see
    /// [`UserTokenCache::sign_out`](crate::store::UserTokenCache::sign_out)).
    pub async fn sign_out_user(&self, user: &str) -> Result<()> {
        self.user_tokens().await?.sign_out(user).await
    }

    fn check_transport(&self, s: &Settings) -> Result<()> {
        let mine = self.settings();
        let differs = if format!("{:?}", s.ssl_server_cert) != format!("{:?}", mine.ssl_server_cert)
        {
            Some("SSLServerCert")
        } else if s.timeout != mine.timeout {
            Some("Timeout")
        } else if !crate::client::same_proxy(s, mine) {
            Some("ProxyServer")
        } else {
            None
        };
        match differs {
            Some(property) => Err(Error::invalid_settings(
                property,
                format!("`{property}` differs from the client's, whose connection pool is built with it"),
                "open this connection from a client made with these settings (Client::new)",
            )),
            None => Ok(()),
        }
    }
}

/// An open connection to an Epicor server: who is calling (the credential) and its session, on a
/// [`Client`]'s shared pool and caches. Cheap to clone: clones are the same connection (one
/// credential, one session), so a query's stream can own one and outlive the call that made it.
#[derive(Clone, Debug)]
pub struct Connection {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    settings: Settings,
    pipeline: Pipeline,
    credential: Arc<dyn Credential>,
    /// An Epicor session is open (`UseSession`), until [`Connection::close`].
    session: AtomicBool,
    /// With Basic: the token service's token for [`Connection::access_token`], kept until it
    /// nears expiry.
    basic_token: OnceCell<Arc<dyn Credential>>,
}

impl Drop for Inner {
    /// The last handle dropped with a session still open: its licence seat is given back in the
    /// background when a Tokio runtime is running (call [`Connection::close`] to wait for it and
    /// see its outcome).
    fn drop(&mut self) {
        if !self.session.swap(false, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pipeline = self.pipeline.clone();
        runtime.spawn(async move {
            if let Err(e) = logout(&pipeline).await {
                tracing::warn!(target: "epicor_kinetic::auth", "the Epicor session of a dropped connection could not be closed: {e}");
            }
        });
    }
}

impl Connection {
    /// Authenticates as the settings say (nothing is sent until a call needs it, except the session
    /// login with `UseSession=true`), on a new [`Client`]. To open several connections to one
    /// server, make the client once and use [`Client::connect`]: they then share the connection
    /// pool, the identity provider's discovery and each service's `$metadata`.
    pub async fn open(settings: Settings) -> Result<Connection> {
        Self::open_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Connection::open`], with an injected clock.
    pub async fn open_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Connection> {
        Client::with_clock(&settings, clock)?
            .connect(settings)
            .await
    }

    /// As [`Connection::open_with_clock`], with the credential given instead of chosen from the
    /// settings' `AuthScheme`: for example an interactive sign-in with a
    /// [`UserAgent`](crate::auth::interactive::UserAgent) of the application's own, from
    /// [`interactive::credential`](crate::auth::interactive::credential).
    pub async fn open_with_credential(
        settings: Settings,
        credential: Arc<dyn Credential>,
        clock: Arc<dyn Clock>,
    ) -> Result<Connection> {
        Client::with_clock(&settings, clock)?
            .connect_with_credential(settings, credential)
            .await
    }

    pub(crate) async fn start(
        client: Client,
        settings: Settings,
        credential: Arc<dyn Credential>,
    ) -> Result<Connection> {
        let pipeline = client.pipeline(&settings, credential.clone())?;
        let connection = Connection {
            inner: Arc::new(Inner {
                client,
                settings,
                pipeline,
                credential,
                session: AtomicBool::new(false),
                basic_token: OnceCell::new(),
            }),
        };
        if connection.inner.settings.auth.use_session {
            connection.login().await?;
        }
        Ok(connection)
    }

    /// The client the connection shares its pool and caches with.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The `$metadata` of `service` (entity sets, columns, types, keys), read once per server
    /// and kept by the [`Client`] for every connection made from it.
    /// A service the server does not have is [`Error::NotFound`], with the closest name it
    /// lists when one is a typo away.
    pub async fn metadata(&self, service: &str) -> Result<Arc<Metadata>> {
        match self
            .inner
            .client
            .metadata(&self.inner.pipeline, service)
            .await
        {
            Err(Error::NotFound {
                status,
                message,
                correlation_id,
                error_type,
            }) => {
                let names: Vec<String> = self
                    .services()
                    .await
                    .map(|s| s.into_iter().map(|i| i.name).collect())
                    .unwrap_or_default();
                let guess = crate::did_you_mean::closest(service, names.iter().map(String::as_str))
                    .filter(|g| *g != service)
                    .map(|g| format!("; did you mean {g}?"))
                    .unwrap_or_default();
                Err(Error::NotFound {
                    status,
                    message: format!("{message}{guess}"),
                    correlation_id,
                    error_type,
                })
            }
            other => other,
        }
    }

    /// The settings the connection was opened with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The authenticated pipeline every call goes through.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The `Authorization` value the next call would carry (signing in or refreshing first when
    /// needed); `None` for `AuthScheme=None`.
    pub async fn authorization(&self) -> Result<Option<Authorization>> {
        self.inner.credential.authorization().await
    }

    /// An access token for the connection, for use with other tools: the bearer token of the Token,
    /// AzureAD and OAuth schemes; with Basic, a token from Epicor's token service for the same user
    /// (Basic itself sends credentials, not a token). The token is the one in use (or cached):
    /// a new one is asked for only when it nears expiry.
    pub async fn access_token(&self) -> Result<Secret> {
        let settings = &self.inner.settings;
        if settings.auth.scheme == crate::settings::AuthScheme::Basic {
            let credential = self
                .inner
                .basic_token
                .get_or_try_init(|| async {
                    let mut as_token = settings.clone();
                    as_token.auth.scheme = crate::settings::AuthScheme::Token;
                    crate::auth::scheme::credential_for(&self.inner.client, &as_token).await
                })
                .await?;
            return match credential.authorization().await? {
                Some(a) => bearer_of(&a),
                None => Err(Error::internal("the token service gave no token")),
            };
        }
        match self.authorization().await? {
            Some(a) => bearer_of(&a).map_err(|_| {
                Error::invalid_settings(
                    "AuthScheme",
                    format!("AuthScheme={} sends credentials, not a token", settings.auth.scheme),
                    "use AuthScheme=Token (Epicor's token service), AzureAD or OAuth to get a token",
                )
            }),
            None => Err(Error::invalid_settings(
                "AuthScheme",
                "AuthScheme=None has no token",
                "set AuthScheme to Token, AzureAD or OAuth",
            )),
        }
    }

    /// `Ice.Lib.SessionModSvc/Login`: one session, one seat, reused by every call.
    async fn login(&self) -> Result<()> {
        let pipeline = &self.inner.pipeline;
        let endpoint = pipeline.endpoints().session("Login");
        let response = pipeline
            .send(
                Request::post(&endpoint)?
                    .json(&serde_json::json!({}))?
                    .confidential(),
            )
            .await?;
        let v: serde_json::Value = response.json()?;
        let id = v
            .get("returnObj")
            .and_then(|r| r.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Protocol {
                status: Some(response.status().as_u16()),
                message: "SessionModSvc/Login answered without a session id in returnObj".into(),
                correlation_id: None,
                source: None,
            })?;
        pipeline.set_session_id(Some(Secret::new(id)));
        self.inner.session.store(true, Ordering::SeqCst);
        tracing::info!(target: "epicor_kinetic::auth", "Epicor session opened (UseSession): one licence seat until close");
        Ok(())
    }

    /// Ends the session (when one was opened), freeing its licence seat. Idempotent: a second
    /// call, or a call on a clone, does nothing. Calls made after it go without the session (a
    /// licence per call).
    pub async fn close(&self) -> Result<()> {
        if self.inner.session.swap(false, Ordering::SeqCst) {
            logout(&self.inner.pipeline).await?;
            tracing::info!(target: "epicor_kinetic::auth", "Epicor session closed");
        }
        Ok(())
    }
}

/// The token of a `Bearer` authorization.
fn bearer_of(a: &Authorization) -> Result<Secret> {
    a.expose()
        .strip_prefix("Bearer ")
        .map(Secret::new)
        .ok_or_else(|| Error::internal("the authorization is not a bearer token"))
}

/// `Ice.Lib.SessionModSvc/Logout` for the pipeline's session; later calls go without it (a
/// licence per call) whether or not the server answered.
async fn logout(pipeline: &Pipeline) -> Result<()> {
    let endpoint = pipeline.endpoints().session("Logout");
    let sent = pipeline
        .send(Request::post(&endpoint)?.json(&serde_json::json!({}))?)
        .await;
    pipeline.set_session_id(None);
    sent.map(|_| ())
}
