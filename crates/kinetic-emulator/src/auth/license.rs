//! Licences and sessions, as Epicor counts them: a call without a session claims a seat for that call
//! only; `Ice.Lib.SessionModSvc/Login` claims one for the session until Logout (or until it idles out);
//! the `License` header (`ClaimedLicense`, `SessionID`) picks the licence type and reuses a session.
//! When no WebService seat is free a call falls back to WebServiceShared, slowed down per call; no
//! seat at all is an error.

use crate::api_error::{kind, ApiError};
use crate::clock::Clock;
use crate::config::LicenseConfig;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Epicor's licence types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LicenseType {
    Default,
    WebService,
    WebServiceShared,
    DataCollection,
}

impl LicenseType {
    pub const ALL: [LicenseType; 4] = [
        LicenseType::Default,
        LicenseType::WebService,
        LicenseType::WebServiceShared,
        LicenseType::DataCollection,
    ];

    /// The GUID clients send as `ClaimedLicense`.
    pub fn guid(self) -> &'static str {
        match self {
            LicenseType::Default => "00000003-B615-4300-957B-34956697F040",
            LicenseType::WebService => "00000003-9439-4B30-A6F4-6D2FD4B9FD0F",
            LicenseType::WebServiceShared => "00000003-231B-4E2B-9B47-13F87EA9A0A3",
            LicenseType::DataCollection => "00000003-B8EB-40C4-8897-248CB30C5D47",
        }
    }

    pub fn from_guid(g: &str) -> Option<LicenseType> {
        Self::ALL
            .into_iter()
            .find(|t| t.guid().eq_ignore_ascii_case(g.trim_matches(['{', '}'])))
    }

    fn capacity(self, c: &LicenseConfig) -> u32 {
        match self {
            LicenseType::Default => c.default,
            LicenseType::WebService => c.web_service,
            LicenseType::WebServiceShared => c.web_service_shared,
            LicenseType::DataCollection => c.data_collection,
        }
    }
}

/// A session: a seat held from Login to Logout.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub license: LicenseType,
    pub company: String,
    pub created: i64,
    pub last_used: i64,
    pub calls: u64,
}

struct State {
    in_use: HashMap<LicenseType, u32>,
    sessions: HashMap<String, Session>,
}

/// Seats and sessions.
pub struct Licensing {
    cfg: LicenseConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// A seat claimed for one call; released when dropped (after the answer is built).
pub struct CallSeat {
    licensing: Arc<Licensing>,
    license: LicenseType,
}

impl Drop for CallSeat {
    fn drop(&mut self) {
        self.licensing.release(self.license);
    }
}

/// What the `License` header asked for.
#[derive(Debug, Default, Clone)]
pub struct LicenseHeader {
    pub claimed: Option<LicenseType>,
    pub session_id: Option<String>,
}

/// How a call is licensed.
pub struct Admission {
    pub license: LicenseType,
    pub session: Option<Session>,
    /// Held for the call when it has no session.
    pub seat: Option<CallSeat>,
}

impl Admission {
    /// The slow-down of a WebServiceShared call.
    pub fn delay(&self, cfg: &LicenseConfig) -> Option<Duration> {
        (self.license == LicenseType::WebServiceShared && cfg.shared_delay_ms > 0)
            .then(|| Duration::from_millis(cfg.shared_delay_ms))
    }
}

fn session_gone(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        kind::API,
        format!("Session {id} is invalid or has been deleted; log in again (Ice.Lib.SessionModSvc/Login)"),
    )
}

/// Parses the `License` header: `{"ClaimedLicense":"<GUID>","SessionID":"<id>"}`.
pub fn parse_header(headers: &HeaderMap) -> Result<LicenseHeader, ApiError> {
    let Some(raw) = headers.get("License") else {
        return Ok(LicenseHeader::default());
    };
    let text = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("the License header is not text"))?;
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(format!(
            "the License header is not valid JSON ({e}); send {{\"ClaimedLicense\":\"<GUID>\",\"SessionID\":\"<id>\"}}"
        ))
    })?;
    let claimed = match v.get("ClaimedLicense").and_then(|c| c.as_str()) {
        None | Some("") => None,
        Some(g) => Some(LicenseType::from_guid(g).ok_or_else(|| {
            ApiError::bad_request(format!(
                "ClaimedLicense {g} is not a licence type; use one of {}",
                LicenseType::ALL
                    .map(|t| format!("{t:?} {}", t.guid()))
                    .join(", ")
            ))
        })?),
    };
    let session_id = v
        .get("SessionID")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(LicenseHeader {
        claimed,
        session_id,
    })
}

impl Licensing {
    pub fn new(cfg: LicenseConfig, clock: Arc<dyn Clock>) -> Arc<Licensing> {
        Arc::new(Licensing {
            cfg,
            clock,
            state: Mutex::new(State {
                in_use: HashMap::new(),
                sessions: HashMap::new(),
            }),
        })
    }

    pub fn config(&self) -> &LicenseConfig {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, t: LicenseType) {
        let mut s = self.lock();
        if let Some(n) = s.in_use.get_mut(&t) {
            *n = n.saturating_sub(1);
        }
    }

    /// Deletes sessions idle for longer than allowed, freeing their seats.
    fn sweep(&self, s: &mut State) {
        let now = self.clock.now_secs();
        let idle = self.cfg.session_idle_secs as i64;
        let expired: Vec<String> = s
            .sessions
            .values()
            .filter(|x| now - x.last_used > idle)
            .map(|x| x.id.clone())
            .collect();
        for id in expired {
            if let Some(x) = s.sessions.remove(&id) {
                if let Some(n) = s.in_use.get_mut(&x.license) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }

    /// Takes a seat of the requested type (WebService falls back to WebServiceShared; with no
    /// WebService licences at all, to Default, as Epicor does).
    fn claim(&self, s: &mut State, requested: LicenseType) -> Result<LicenseType, ApiError> {
        self.sweep(s);
        let order: &[LicenseType] = match requested {
            LicenseType::WebService if self.cfg.web_service == 0 => &[LicenseType::Default],
            LicenseType::WebService => &[LicenseType::WebService, LicenseType::WebServiceShared],
            other => match other {
                LicenseType::Default => &[LicenseType::Default],
                LicenseType::WebServiceShared => &[LicenseType::WebServiceShared],
                _ => &[LicenseType::DataCollection],
            },
        };
        for t in order {
            let used = s.in_use.entry(*t).or_insert(0);
            if *used < t.capacity(&self.cfg) {
                *used += 1;
                return Ok(*t);
            }
        }
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            kind::API,
            format!(
                "All {} licences are in use ({} seats); wait for a seat, log out idle sessions, or use another LicenseType",
                order.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(" and "),
                order.iter().map(|t| t.capacity(&self.cfg)).sum::<u32>()
            ),
        );
        e.headers.push((
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        ));
        Err(e)
    }

    /// Licenses one call: through its session, or with a seat for the call alone.
    pub fn admit(
        self: &Arc<Self>,
        user: &str,
        header: &LicenseHeader,
    ) -> Result<Admission, ApiError> {
        let mut s = self.lock();
        if let Some(id) = &header.session_id {
            self.sweep(&mut s);
            let now = self.clock.now_secs();
            let session = s.sessions.get_mut(id).ok_or_else(|| session_gone(id))?;
            if !session.user.eq_ignore_ascii_case(user) {
                return Err(session_gone(id));
            }
            session.last_used = now;
            session.calls += 1;
            return Ok(Admission {
                license: session.license,
                session: Some(session.clone()),
                seat: None,
            });
        }
        let license = self.claim(&mut s, header.claimed.unwrap_or(LicenseType::Default))?;
        Ok(Admission {
            license,
            session: None,
            seat: Some(CallSeat {
                licensing: Arc::clone(self),
                license,
            }),
        })
    }

    /// `SessionModSvc/Login`: a new session holding a seat.
    pub fn login(
        &self,
        user: &str,
        company: &str,
        requested: Option<LicenseType>,
    ) -> Result<Session, ApiError> {
        let mut s = self.lock();
        let license = self.claim(&mut s, requested.unwrap_or(LicenseType::Default))?;
        let now = self.clock.now_secs();
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user: user.to_string(),
            license,
            company: company.to_string(),
            created: now,
            last_used: now,
            calls: 0,
        };
        s.sessions.insert(session.id.clone(), session.clone());
        Ok(session)
    }

    /// `SessionModSvc/Logout` (or an administrator's delete): ends a session and frees its seat.
    pub fn logout(&self, id: &str, user: Option<&str>) -> Result<(), ApiError> {
        let mut s = self.lock();
        self.sweep(&mut s);
        match s.sessions.get(id) {
            Some(x) if user.is_none_or(|u| x.user.eq_ignore_ascii_case(u)) => {
                let license = x.license;
                s.sessions.remove(id);
                if let Some(n) = s.in_use.get_mut(&license) {
                    *n = n.saturating_sub(1);
                }
                Ok(())
            }
            _ => Err(session_gone(id)),
        }
    }

    /// Sessions and seats in use, for the admin route.
    pub fn report(&self) -> serde_json::Value {
        let mut s = self.lock();
        self.sweep(&mut s);
        let seats: Vec<serde_json::Value> = LicenseType::ALL
            .iter()
            .map(|t| {
                serde_json::json!({"LicenseType": format!("{t:?}"), "Guid": t.guid(),
                    "Seats": t.capacity(&self.cfg), "InUse": s.in_use.get(t).copied().unwrap_or(0)})
            })
            .collect();
        let mut sessions: Vec<&Session> = s.sessions.values().collect();
        sessions.sort_by_key(|x| x.created);
        serde_json::json!({"seats": seats, "sessions": sessions})
    }
}
