//! Reverse lookups of client addresses (ConMan shows `localhost` for 127.0.0.1),
//! cached so a thousand clients from one host cost one lookup.
//!
//! Names come from DNS, which whoever controls the address's reverse zone can set:
//! they are passed through [`printable_label`] before anyone sees them. For
//! TCP-wrappers a name is only trusted when it maps back to the address
//! ([`PeerName::checked`]), as libwrap's PARANOID mode does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use conmand_core::hostsaccess::HostName;
use conmand_core::notice::printable_label;

/// Concurrent reverse lookups of client addresses.
const MAX_LOOKUPS: usize = 16;
/// How long one lookup may take before the address is shown instead.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// Cached addresses; the cache is emptied when it grows past this.
const CACHE_SIZE: usize = 4096;

/// What a client address resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerName {
    /// The short host name (up to the first `.`), or the address: what ConMan shows.
    pub short: String,
    /// The full name from the reverse lookup, if any (made printable).
    pub fqdn: Option<String>,
    /// Whether a forward lookup of `fqdn` gives the address back; `None` until asked.
    pub confirmed: Option<bool>,
}

impl PeerName {
    fn address(ip: IpAddr) -> PeerName {
        PeerName {
            short: ip.to_string(),
            fqdn: None,
            confirmed: None,
        }
    }

    /// The name as hosts_access(5) rules see it: `unknown` without a name,
    /// `paranoid` when the name does not map back to the address (or was not
    /// checked), the name otherwise.
    pub fn checked(&self) -> HostName<'_> {
        match (&self.fqdn, self.confirmed) {
            (None, _) => HostName::Unknown,
            (Some(n), Some(true)) => HostName::Known(n),
            (Some(_), _) => HostName::Paranoid,
        }
    }

    /// The full name, or the address text: how a rejected peer is named in the log.
    pub fn full(&self) -> &str {
        self.fqdn.as_deref().unwrap_or(&self.short)
    }
}

/// The reverse-DNS cache.
pub struct Resolver {
    cache: std::sync::Mutex<HashMap<IpAddr, PeerName>>,
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

impl Resolver {
    /// The short host name (up to the first `.`) of `ip`, or the address itself.
    pub async fn short_name(&self, ip: IpAddr) -> String {
        self.lookup(ip, false).await.short
    }

    /// Reverse-resolve `ip`; with `confirm`, also check that the name maps back to
    /// `ip` (a forward lookup).
    pub async fn lookup(&self, ip: IpAddr, confirm: bool) -> PeerName {
        let cached = self.cache.lock().ok().and_then(|c| c.get(&ip).cloned());
        if let Some(p) = &cached
            && (!confirm || p.fqdn.is_none() || p.confirmed.is_some())
        {
            return p.clone();
        }
        let Ok(_permit) = self.lookups.try_acquire() else {
            return cached.unwrap_or_else(|| PeerName::address(ip));
        };
        let known = cached.as_ref().and_then(|p| p.fqdn.clone());
        let looked = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            tokio::task::spawn_blocking(move || resolve_blocking(ip, known, confirm)),
        )
        .await;
        let name = match looked {
            Ok(Ok(p)) => p,
            _ => return cached.unwrap_or_else(|| PeerName::address(ip)),
        };
        if let Ok(mut c) = self.cache.lock() {
            if c.len() > CACHE_SIZE {
                c.clear();
            }
            c.insert(ip, name.clone());
        }
        name
    }
}

/// The blocking part of [`Resolver::lookup`].
fn resolve_blocking(ip: IpAddr, known: Option<String>, confirm: bool) -> PeerName {
    let raw = known.or_else(|| dns_lookup::lookup_addr(&ip).ok().filter(|n| !n.is_empty()));
    let Some(raw) = raw else {
        return PeerName::address(ip);
    };
    let fqdn = printable_label(&raw);
    let short = fqdn.split('.').next().unwrap_or(&fqdn).to_string();
    let confirmed = confirm.then(|| {
        fqdn == raw
            && dns_lookup::lookup_host(&raw)
                .map(|mut addrs| addrs.any(|a| a.to_canonical() == ip.to_canonical()))
                .unwrap_or(false)
    });
    PeerName {
        short,
        fqdn: Some(fqdn),
        confirmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_names_follow_libwrap() {
        let mut p = PeerName::address("10.0.0.1".parse().unwrap());
        assert_eq!(p.checked(), HostName::Unknown);
        assert_eq!(p.full(), "10.0.0.1");
        p.fqdn = Some("h.example.com".into());
        assert_eq!(p.checked(), HostName::Paranoid);
        p.confirmed = Some(false);
        assert_eq!(p.checked(), HostName::Paranoid);
        p.confirmed = Some(true);
        assert_eq!(p.checked(), HostName::Known("h.example.com"));
        assert_eq!(p.full(), "h.example.com");
    }

    #[tokio::test]
    async fn loopback_resolves_and_confirms() {
        let r = Resolver::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let p = r.lookup(ip, true).await;
        // Whatever the machine calls 127.0.0.1, it maps back to it.
        if let Some(name) = &p.fqdn {
            assert_eq!(p.confirmed, Some(true), "{name}");
            assert_eq!(r.short_name(ip).await, p.short);
        }
    }
}
