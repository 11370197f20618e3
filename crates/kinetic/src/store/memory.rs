//! `memory://name`: tokens kept in the process, shared by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::{Change, StoredSettings, TokenStore};
use crate::Result;

type Slot = Arc<Mutex<Option<StoredSettings>>>;

/// Every named memory store of the process, so that two connections with the same
/// `OAuthSettingsLocation=memory://name` share their tokens, as they would share a file.
fn registry() -> &'static Mutex<HashMap<String, Slot>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A closure that panicked under the lock left the settings as they were before it ran
    // (nothing is written until it returns): carry on with them.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tokens kept in memory for the life of the process.
///
/// Stores with the same name share one slot; names are compared exactly.
///
/// ```
/// use epicor_kinetic::auth::Token;
/// use epicor_kinetic::store::{Change, MemoryStore, StoredSettings, TokenStore};
///
/// let a = MemoryStore::named("shared");
/// a.update(&mut |_| Ok(Change::Write(StoredSettings::with_token(Token::bearer("t")))))?;
/// assert!(MemoryStore::named("shared").load()?.is_some());
/// assert!(MemoryStore::named("other").load()?.is_none());
/// # Ok::<(), epicor_kinetic::Error>(())
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    name: Option<String>,
    slot: Slot,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// The store called `name` (the part after `memory://`), created empty on first use.
    pub fn named(name: &str) -> Self {
        let slot = lock(registry()).entry(name.to_owned()).or_default().clone();
        MemoryStore {
            name: Some(name.to_owned()),
            slot,
        }
    }

    /// A store of its own, shared only with its clones.
    pub fn private() -> Self {
        MemoryStore {
            name: None,
            slot: Slot::default(),
        }
    }

    /// The name, for a named store.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self) -> Result<Option<StoredSettings>> {
        Ok(lock(&self.slot).clone())
    }

    fn update(
        &self,
        change: &mut dyn FnMut(Option<&StoredSettings>) -> Result<Change>,
    ) -> Result<Option<StoredSettings>> {
        let mut slot = lock(&self.slot);
        match change(slot.as_ref())? {
            Change::Keep => {}
            Change::Write(settings) => *slot = Some(settings),
            Change::Remove => *slot = None,
        }
        Ok(slot.clone())
    }
}
