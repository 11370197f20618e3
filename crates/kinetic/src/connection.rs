//! A connection: settings in, an authenticated pipeline out (and, with `UseSession`, one Epicor
//! session held from open to close, so an integration uses one licence seat rather than one per call).

use crate::auth::providers::credential_for;
use crate::clock::{Clock, SystemClock};
use crate::http::{Authorization, Credential, Pipeline, Request};
use crate::{Error, Result, Secret, Settings};
use epicor_kinetic_odata::csdl::Metadata;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An open connection to an Epicor server.
#[derive(Debug)]
pub struct Connection {
    settings: Settings,
    pipeline: Pipeline,
    credential: Arc<dyn Credential>,
    clock: Arc<dyn Clock>,
    session: bool,
    /// Each service's `$metadata`, read once per connection.
    metadata: Mutex<HashMap<String, Arc<Metadata>>>,
}

impl Connection {
    /// Authenticates as the settings say (nothing is sent until a call needs it, except the session
    /// login with `UseSession=true`).
    pub async fn open(settings: Settings) -> Result<Connection> {
        Self::open_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Connection::open`], with an injected clock.
    pub async fn open_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Connection> {
        let credential = credential_for(&settings, clock.clone()).await?;
        Self::open_with_credential(settings, credential, clock).await
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
        let pipeline = Pipeline::builder(&settings)
            .credential(credential.clone())
            .clock(clock.clone())
            .build()?;
        let mut connection = Connection {
            session: false,
            settings,
            pipeline,
            credential,
            clock,
            metadata: Mutex::default(),
        };
        if connection.settings.auth.use_session {
            connection.login().await?;
        }
        Ok(connection)
    }

    /// The `$metadata` of `service` (entity sets, columns, types, keys), read once and kept for
    /// the life of the connection.
    pub async fn metadata(&self, service: &str) -> Result<Arc<Metadata>> {
        if let Some(m) = self
            .metadata
            .lock()
            .ok()
            .and_then(|c| c.get(service).cloned())
        {
            return Ok(m);
        }
        let endpoint = self
            .pipeline
            .endpoints()
            .service(service)?
            .segment("$metadata");
        let request = Request::get(&endpoint)?.header(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/xml"),
        );
        let response = self.pipeline.send(request).await?;
        let metadata = Metadata::from_xml(&response.text()).map_err(|e| Error::Protocol {
            status: Some(response.status().as_u16()),
            message: format!("the $metadata of {service} does not parse: {e}"),
            correlation_id: None,
            source: Some(Box::new(e)),
        })?;
        let metadata = Arc::new(metadata);
        if let Ok(mut cache) = self.metadata.lock() {
            cache.insert(service.to_owned(), metadata.clone());
        }
        Ok(metadata)
    }

    /// The settings the connection was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The authenticated pipeline every call goes through.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The `Authorization` value the next call would carry (signing in or refreshing first when
    /// needed); `None` for `AuthScheme=None`.
    pub async fn authorization(&self) -> Result<Option<Authorization>> {
        self.credential.authorization().await
    }

    /// An access token for the connection, for use with other tools: the bearer token of the Token,
    /// AzureAD and OAuth schemes; with Basic, a token from Epicor's token service for the same user
    /// (Basic itself sends credentials, not a token).
    pub async fn access_token(&self) -> Result<Secret> {
        if self.settings.auth.scheme == crate::settings::AuthScheme::Basic {
            use crate::auth::cache::TokenSource;
            let source = crate::auth::providers::EpicorTokenSource::from_settings(
                &self.settings,
                self.clock.clone(),
            )?;
            return Ok(source.fetch(None).await?.access_token);
        }
        match self.authorization().await? {
            Some(a) => match a.expose().strip_prefix("Bearer ") {
                Some(t) => Ok(Secret::new(t)),
                None => Err(Error::invalid_settings(
                    "AuthScheme",
                    format!("AuthScheme={} sends credentials, not a token", self.settings.auth.scheme),
                    "use AuthScheme=Token (Epicor's token service), AzureAD or OAuth to get a token",
                )),
            },
            None => Err(Error::invalid_settings(
                "AuthScheme",
                "AuthScheme=None has no token",
                "set AuthScheme to Token, AzureAD or OAuth",
            )),
        }
    }

    /// `Ice.Lib.SessionModSvc/Login`: one session, one seat, reused by every call.
    async fn login(&mut self) -> Result<()> {
        let endpoint = self.pipeline.endpoints().session("Login");
        let response = self
            .pipeline
            .send(Request::post(&endpoint)?.json(&serde_json::json!({}))?)
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
        self.pipeline.set_session_id(Some(Secret::new(id)));
        self.session = true;
        Ok(())
    }

    /// Ends the session (when one was opened), freeing its licence seat.
    pub async fn close(mut self) -> Result<()> {
        if self.session {
            let endpoint = self.pipeline.endpoints().session("Logout");
            self.pipeline
                .send(Request::post(&endpoint)?.json(&serde_json::json!({}))?)
                .await?;
            self.pipeline.set_session_id(None);
            self.session = false;
        }
        Ok(())
    }
}
