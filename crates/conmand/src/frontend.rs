//! What every client front end shares: the running consoles, the reloadable
//! settings, the reverse-DNS cache, and ConMan's console selection over them.
//!
//! The accept loop ([`server`](crate::server)) hands each connection to the
//! handshake ([`client`](crate::client)) with an `Arc<Frontend>`; neither of them
//! owns it, so neither depends on the other for it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use conmand_core::protocol::{Request, RequestError};

use crate::console::ConsoleHandle;
use crate::registry::Registry;
use crate::settings::SettingsCell;

/// What every client connection needs.
pub struct Frontend {
    /// The running consoles.
    pub registry: Arc<Registry>,
    /// The reloadable settings (`resetcmd` → `OK OPTION=RESET`).
    pub settings: Arc<SettingsCell>,
    /// Reverse-DNS cache for client addresses.
    pub resolver: Resolver,
    /// SO_KEEPALIVE on client sockets (fixed at start).
    pub keepalive: bool,
    /// How long a client may take to complete its handshake.
    pub handshake_timeout: Duration,
}

impl Frontend {
    /// The daemon has a `resetcmd` now.
    pub fn has_reset(&self) -> bool {
        self.settings.get().has_reset()
    }

    /// The consoles a request names, deduplicated and sorted in ConMan's natural
    /// order, after ConMan's checks (errors 3, 5, 6: `matching::resolve`), and
    /// whether the session is a broadcast. QUERY with no pattern means all consoles.
    pub fn resolve(
        &self,
        consoles: &[ConsoleHandle],
        req: &Request,
    ) -> Result<(Vec<ConsoleHandle>, bool), RequestError> {
        let names: Vec<&str> = consoles.iter().map(|c| c.name()).collect();
        let sel = conmand_core::matching::resolve(req, &names)?;
        let list = sel
            .consoles
            .into_iter()
            .map(|i| consoles[i].clone())
            .collect();
        Ok((list, sel.broadcast))
    }

    /// The names a request matched, for the trailer of error 6.
    pub fn matched_names(&self, consoles: &[ConsoleHandle], req: &Request) -> Vec<String> {
        let names: Vec<&str> = consoles.iter().map(|c| c.name()).collect();
        conmand_core::matching::select(&req.consoles, req.regex, &names)
            .unwrap_or_default()
            .into_iter()
            .map(|i| names[i].to_string())
            .collect()
    }
}

/// Reverse lookups of client addresses (ConMan shows `localhost` for 127.0.0.1),
/// cached so a thousand clients from one host cost one lookup.
pub struct Resolver {
    cache: std::sync::Mutex<std::collections::HashMap<IpAddr, String>>,
    /// At most this many lookups run at once (each holds a blocking-pool thread);
    /// past that, a new address is shown as the address itself.
    lookups: tokio::sync::Semaphore,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver {
            cache: Default::default(),
            lookups: tokio::sync::Semaphore::new(MAX_LOOKUPS),
        }
    }
}

/// Concurrent reverse lookups of client addresses.
const MAX_LOOKUPS: usize = 16;

impl Resolver {
    /// The short host name (up to the first `.`) of `ip`, or the address itself.
    pub async fn short_name(&self, ip: IpAddr) -> String {
        if let Some(n) = self.cache.lock().ok().and_then(|c| c.get(&ip).cloned()) {
            return n;
        }
        let Ok(_permit) = self.lookups.try_acquire() else {
            return ip.to_string();
        };
        let looked = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::task::spawn_blocking(move || dns_lookup::lookup_addr(&ip).ok()),
        )
        .await;
        let name = match looked {
            Ok(Ok(Some(n))) if !n.is_empty() => n.split('.').next().unwrap_or(&n).to_string(),
            _ => ip.to_string(),
        };
        if let Ok(mut c) = self.cache.lock() {
            if c.len() > 4096 {
                c.clear();
            }
            c.insert(ip, name.clone());
        }
        name
    }
}
