//! The SSH front end's keys: the host key (`server sshhostkey=`, made if
//! missing), user keys (`server sshusers=DIR`, one `authorized_keys` file per
//! user) and user certificates (`server sshca=FILE`).
//!
//! The user files and the CA file are read at each authentication, so adding or
//! removing a key takes effect at once, without a reload.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::time::SystemTime;

use russh::keys::ssh_key::authorized_keys::AuthorizedKeys;
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{HashAlg, LineEnding};
use russh::keys::{Certificate, PrivateKey, PublicKey};

use crate::access::AuthMethod;

/// Loads the host key at `path`, or makes an ed25519 one there (mode 0600, with
/// `path.pub` beside it) when there is none.
///
/// # Errors
/// A one-line reason naming the file: unreadable, not a private key, readable by
/// others, or not writable when it has to be made.
pub fn host_key(path: &Path) -> Result<PrivateKey, String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            if meta.file_type().is_symlink() {
                return Err(format!("SSH host key \"{shown}\" is a symbolic link"));
            }
            if meta.mode() & 0o077 != 0 {
                return Err(format!(
                    "SSH host key \"{shown}\" is accessible by others (mode {:04o}); chmod 600 it",
                    meta.mode() & 0o7777
                ));
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "SSH host key \"{shown}\": {}",
                    conmand_core::oserror::strerror(&e)
                )
            })?;
            PrivateKey::from_openssh(text.as_bytes())
                .map_err(|e| format!("SSH host key \"{shown}\" is not an OpenSSH private key: {e}"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => make_host_key(path),
        Err(e) => Err(format!(
            "SSH host key \"{shown}\": {}",
            conmand_core::oserror::strerror(&e)
        )),
    }
}

fn make_host_key(path: &Path) -> Result<PrivateKey, String> {
    let shown = path.display();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for the SSH host key: {e}"))?;
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("SSH host key: {e}"))?;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(dir);
    }
    let write = |p: &Path, mode: u32, data: &[u8]| {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(p)
            .and_then(|mut f| f.write_all(data))
            .map_err(|e| {
                format!(
                    "Unable to create SSH host key \"{}\": {}",
                    p.display(),
                    conmand_core::oserror::strerror(&e)
                )
            })
    };
    write(path, 0o600, text.as_bytes())?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| format!("SSH host key: {e}"))?;
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    // The public half is a convenience for operators (known_hosts); failing to
    // write it does not stop the daemon.
    if let Err(e) = write(
        Path::new(&pub_path),
        0o644,
        format!("{public}\n").as_bytes(),
    ) {
        tracing::warn!("{e}");
    }
    tracing::info!(
        "Created SSH host key \"{shown}\" ({})",
        key.public_key().fingerprint(HashAlg::Sha256)
    );
    Ok(key)
}

/// `SHA256:…` of a key.
pub fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Whether `name` can be a user (a file in `sshusers`, a principal).
pub fn valid_user(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// The user whose file in `dir` lists `key`. A key listed for several users
/// belongs to none of them (logged). Lines with `authorized_keys` options are
/// skipped (logged): the daemon does not implement them, and ignoring a `from=`
/// would open more than the operator meant.
pub fn key_owner(dir: &Path, key: &PublicKey) -> Option<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(
                "SSH users directory \"{}\": {}",
                dir.display(),
                conmand_core::oserror::strerror(&e)
            );
            return None;
        }
    };
    let mut owners = Vec::new();
    for entry in entries.flatten() {
        let Some(user) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !valid_user(&user) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for (n, line) in AuthorizedKeys::new(&text).enumerate() {
            match line {
                Ok(e) if e.public_key().key_data() == key.key_data() => {
                    if e.config_opts().is_empty() {
                        owners.push(user.clone());
                    } else {
                        tracing::warn!(
                            "{}: a key with options is not accepted (options are not supported)",
                            entry.path().display()
                        );
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("{}:{}: {e}", entry.path().display(), n + 1),
            }
        }
    }
    owners.sort();
    owners.dedup();
    match owners.len() {
        1 => owners.pop(),
        0 => None,
        _ => {
            tracing::error!(
                "SSH key {} is listed for several users ({}): refused",
                fingerprint(key.key_data()),
                owners.join(", ")
            );
            None
        }
    }
}

/// Reads the CA keys of `server sshca=` (OpenSSH public keys, one per line; an
/// `authorized_keys`-style `cert-authority` marker is allowed).
pub fn ca_keys(path: &Path) -> Vec<KeyData> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(
                "SSH CA file \"{}\": {}",
                path.display(),
                conmand_core::oserror::strerror(&e)
            );
            return Vec::new();
        }
    };
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("cert-authority ").unwrap_or(line);
        match PublicKey::from_openssh(line) {
            Ok(k) => keys.push(k.key_data().clone()),
            Err(e) => tracing::error!("{}:{}: not a public key: {e}", path.display(), n + 1),
        }
    }
    keys
}

/// Checks a user certificate (whose signature and validity window russh has
/// verified) against the trusted CAs and the peer: user type, a trusted signer,
/// valid now, at least one principal, and only critical options the daemon
/// enforces (`source-address`). Returns the identity (the first principal) and
/// how it was proven.
///
/// # Errors
/// Why the certificate is refused.
pub fn check_certificate(
    cert: &Certificate,
    cas: &[KeyData],
    peer: IpAddr,
    now: SystemTime,
) -> Result<(String, AuthMethod), String> {
    if cert.cert_type() != CertType::User {
        return Err("not a user certificate".into());
    }
    let signer = cert.signature_key();
    if !cas.iter().any(|k| k == signer) {
        return Err(format!(
            "signed by {}, not a trusted CA",
            fingerprint(signer)
        ));
    }
    if cert.verify_signature().is_err() {
        return Err("bad signature".into());
    }
    if cert.valid_after_time().is_some_and(|t| now < t)
        || cert.valid_before_time().is_some_and(|t| now >= t)
    {
        return Err("expired or not yet valid".into());
    }
    for (name, value) in cert.critical_options().iter() {
        match name.as_str() {
            "source-address" => {
                if !source_allowed(value, peer) {
                    return Err(format!("source-address {value} does not allow {peer}"));
                }
            }
            other => return Err(format!("unsupported critical option \"{other}\"")),
        }
    }
    let Some(user) = cert.valid_principals().first() else {
        return Err("no principals".into());
    };
    if !valid_user(user) {
        return Err(format!("invalid principal \"{}\"", user.escape_debug()));
    }
    Ok((
        user.clone(),
        AuthMethod::Certificate {
            serial: cert.serial(),
            key_id: cert.key_id().to_string(),
            ca: fingerprint(signer),
        },
    ))
}

/// Whether `ip` is in a `source-address` list (`ADDR[/BITS]`, comma-separated).
pub fn source_allowed(list: &str, ip: IpAddr) -> bool {
    list.split(',').any(|item| {
        let (addr, bits) = match item.trim().split_once('/') {
            Some((a, b)) => (a, b.parse::<u32>().ok()),
            None => (item.trim(), None),
        };
        let Ok(net) = addr.parse::<IpAddr>() else {
            return false;
        };
        let ip = match (net, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let b = bits.unwrap_or(32).min(32);
                let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let b = bits.unwrap_or(128).min(128);
                let mask = if b == 0 { 0 } else { u128::MAX << (128 - b) };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_address_lists() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(source_allowed("127.0.0.0/8", ip("127.1.2.3")));
        assert!(source_allowed("10.0.0.1,127.0.0.1", ip("127.0.0.1")));
        assert!(!source_allowed("10.0.0.0/8", ip("127.0.0.1")));
        assert!(source_allowed("127.0.0.1/32", ip("::ffff:127.0.0.1")));
        assert!(source_allowed("::1", ip("::1")));
        assert!(!source_allowed("junk", ip("::1")));
        assert!(source_allowed("0.0.0.0/0", ip("192.0.2.1")));
    }

    #[test]
    fn a_host_key_is_made_once_with_mode_0600_and_refused_when_others_can_read_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/hostkey");
        let made = host_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = host_key(&path).unwrap();
        assert_eq!(
            made.public_key(),
            again.public_key(),
            "read back, not remade"
        );
        let public = std::fs::read_to_string(dir.path().join("etc/hostkey.pub")).unwrap();
        assert!(public.starts_with("ssh-ed25519 "), "{public}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = host_key(&path).unwrap_err();
        assert!(e.contains("accessible by others (mode 0644)"), "{e}");
    }

    #[test]
    fn user_names_are_file_names_without_path_tricks() {
        assert!(valid_user("alice"));
        assert!(valid_user("svc.backup-2"));
        assert!(!valid_user(".hidden"));
        assert!(!valid_user("a/b"));
        assert!(!valid_user(""));
    }
}
