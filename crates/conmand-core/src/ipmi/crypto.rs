//! RMCP+ cryptography: cipher suites, RAKP key-exchange codes, session keys
//! (SIK, K1, K2), per-packet integrity codes and AES-CBC-128 confidentiality.
//!
//! Everything here is a thin, pure wrapper over the RustCrypto primitives, written
//! from the formulas in the IPMI v2.0 specification (§13.28–§13.32). Byte strings
//! (random numbers, GUIDs) go into the hashes exactly in wire order; integers
//! (session IDs) as their little-endian wire bytes. Keys never appear in `Debug`
//! output.

use std::fmt;

use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::wire::WireError;

/// RAKP authentication algorithm (Open Session authentication payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlg {
    /// RAKP-none (0x00): no key exchange codes, no session keys.
    None,
    /// RAKP-HMAC-SHA1 (0x01).
    HmacSha1,
    /// RAKP-HMAC-MD5 (0x02).
    HmacMd5,
    /// RAKP-HMAC-SHA256 (0x03).
    HmacSha256,
}

impl AuthAlg {
    /// The algorithm number on the wire.
    pub fn wire(self) -> u8 {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 1,
            AuthAlg::HmacMd5 => 2,
            AuthAlg::HmacSha256 => 3,
        }
    }

    /// Length of the RAKP 2 / RAKP 3 key exchange code (= the digest length).
    pub fn code_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 20,
            AuthAlg::HmacMd5 => 16,
            AuthAlg::HmacSha256 => 32,
        }
    }

    /// Length of the RAKP 4 integrity check value.
    pub fn icv_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 12,
            AuthAlg::HmacMd5 | AuthAlg::HmacSha256 => 16,
        }
    }
}

/// Session integrity algorithm (the AuthCode in the session trailer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityAlg {
    /// None (0x00): no session trailer.
    None,
    /// HMAC-SHA1-96 (0x01), keyed by K1.
    HmacSha1_96,
    /// HMAC-MD5-128 (0x02), keyed by K1.
    HmacMd5_128,
    /// MD5-128 (0x03): MD5(password ‖ data ‖ password).
    Md5_128,
    /// HMAC-SHA256-128 (0x04), keyed by K1.
    HmacSha256_128,
}

impl IntegrityAlg {
    /// The algorithm number on the wire.
    pub fn wire(self) -> u8 {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::HmacSha1_96 => 1,
            IntegrityAlg::HmacMd5_128 => 2,
            IntegrityAlg::Md5_128 => 3,
            IntegrityAlg::HmacSha256_128 => 4,
        }
    }

    /// AuthCode length in bytes.
    pub fn code_len(self) -> usize {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::HmacSha1_96 => 12,
            _ => 16,
        }
    }
}

/// Payload confidentiality algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfAlg {
    /// None (0x00).
    None,
    /// AES-CBC-128 (0x01), keyed by the first 16 bytes of K2.
    AesCbc128,
}

impl ConfAlg {
    /// The algorithm number on the wire.
    pub fn wire(self) -> u8 {
        match self {
            ConfAlg::None => 0,
            ConfAlg::AesCbc128 => 1,
        }
    }
}

/// One cipher suite: the three algorithms proposed in Open Session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherSuite {
    /// The suite ID (ConMan's `C:` value).
    pub id: u8,
    /// RAKP authentication algorithm.
    pub auth: AuthAlg,
    /// Integrity algorithm.
    pub integrity: IntegrityAlg,
    /// Confidentiality algorithm.
    pub conf: ConfAlg,
}

impl CipherSuite {
    /// The default suite, 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), as in FreeIPMI
    /// and ConMan.
    pub const DEFAULT_ID: u8 = 3;

    /// The suites FreeIPMI (and so ConMan) supports: 0–3, 6–8, 11, 12, 15–17.
    /// `None` for any other ID (4, 5, 9, 10, 13, 14, 18, 19 need xRC4).
    pub fn from_id(id: u8) -> Option<CipherSuite> {
        use AuthAlg as A;
        use ConfAlg as C;
        use IntegrityAlg as I;
        let (auth, integrity, conf) = match id {
            0 => (A::None, I::None, C::None),
            1 => (A::HmacSha1, I::None, C::None),
            2 => (A::HmacSha1, I::HmacSha1_96, C::None),
            3 => (A::HmacSha1, I::HmacSha1_96, C::AesCbc128),
            6 => (A::HmacMd5, I::None, C::None),
            7 => (A::HmacMd5, I::HmacMd5_128, C::None),
            8 => (A::HmacMd5, I::HmacMd5_128, C::AesCbc128),
            11 => (A::HmacMd5, I::Md5_128, C::None),
            12 => (A::HmacMd5, I::Md5_128, C::AesCbc128),
            15 => (A::HmacSha256, I::None, C::None),
            16 => (A::HmacSha256, I::HmacSha256_128, C::None),
            17 => (A::HmacSha256, I::HmacSha256_128, C::AesCbc128),
            _ => return None,
        };
        Some(CipherSuite {
            id,
            auth,
            integrity,
            conf,
        })
    }
}

/// HMAC with the authentication algorithm's hash over the concatenation of `parts`.
/// Empty for [`AuthAlg::None`].
pub fn hmac_auth(alg: AuthAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // Invariant: HMAC accepts keys of any length (long keys are hashed).
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        AuthAlg::None => Vec::new(),
        AuthAlg::HmacSha1 => run::<Hmac<Sha1>>(key, parts),
        AuthAlg::HmacMd5 => run::<Hmac<Md5>>(key, parts),
        AuthAlg::HmacSha256 => run::<Hmac<Sha256>>(key, parts),
    }
}

/// Constant-time equality of two codes (false when the lengths differ).
pub fn codes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The values both sides hash during RAKP.
#[derive(Clone)]
pub struct RakpParams<'a> {
    /// Remote-console (our) session ID.
    pub sid_m: u32,
    /// Managed-system (BMC) session ID.
    pub sid_c: u32,
    /// Remote-console random number.
    pub rm: [u8; 16],
    /// Managed-system random number.
    pub rc: [u8; 16],
    /// Managed-system GUID.
    pub guid: [u8; 16],
    /// The whole RAKP 1 role byte (privilege plus the name-only lookup bit).
    pub role: u8,
    /// User name bytes as sent in RAKP 1.
    pub username: &'a [u8],
}

impl fmt::Debug for RakpParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RakpParams")
            .field("sid_m", &format_args!("{:#010x}", self.sid_m))
            .field("sid_c", &format_args!("{:#010x}", self.sid_c))
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl RakpParams<'_> {
    fn ulen(&self) -> [u8; 1] {
        // User names are at most 16 bytes (checked when credentials are built).
        [self.username.len() as u8]
    }

    /// RAKP 2 key exchange code: HMAC(K_uid, SIDm ‖ SIDc ‖ Rm ‖ Rc ‖ GUIDc ‖ Role ‖ ULen ‖ UName).
    pub fn rakp2_code(&self, alg: AuthAlg, kuid: &[u8]) -> Vec<u8> {
        hmac_auth(
            alg,
            kuid,
            &[
                &self.sid_m.to_le_bytes(),
                &self.sid_c.to_le_bytes(),
                &self.rm,
                &self.rc,
                &self.guid,
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// RAKP 3 key exchange code: HMAC(K_uid, Rc ‖ SIDm ‖ Role ‖ ULen ‖ UName).
    /// `role` is passed separately because `intel20` hashes it without the lookup bit.
    pub fn rakp3_code(&self, alg: AuthAlg, kuid: &[u8], role: u8) -> Vec<u8> {
        hmac_auth(
            alg,
            kuid,
            &[
                &self.rc,
                &self.sid_m.to_le_bytes(),
                &[role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// Session integrity key: HMAC(K_g or K_uid, Rm ‖ Rc ‖ Role ‖ ULen ‖ UName).
    pub fn sik(&self, alg: AuthAlg, key: &[u8]) -> Vec<u8> {
        hmac_auth(
            alg,
            key,
            &[
                &self.rm,
                &self.rc,
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// RAKP 4 integrity check value: the first `icv_len` bytes of
    /// HMAC(SIK, Rm ‖ SIDc ‖ GUIDc).
    pub fn rakp4_icv(&self, alg: AuthAlg, sik: &[u8]) -> Vec<u8> {
        let mut v = hmac_auth(alg, sik, &[&self.rm, &self.sid_c.to_le_bytes(), &self.guid]);
        v.truncate(alg.icv_len());
        v
    }
}

/// Derive K1 (`constant` = 1) or K2 (`constant` = 2): HMAC(SIK, constant × 20).
/// The constant is 20 bytes for every hash.
pub fn derive_k(alg: AuthAlg, sik: &[u8], constant: u8) -> Vec<u8> {
    hmac_auth(alg, sik, &[&[constant; 20]])
}

/// The keys of an established session, used to protect every packet.
#[derive(Clone)]
pub struct SessionKeys {
    /// Negotiated algorithms.
    pub suite: CipherSuite,
    /// Session integrity key (empty for RAKP-none).
    pub sik: Vec<u8>,
    /// K1: integrity key.
    pub k1: Vec<u8>,
    /// K2: confidentiality key source (first 16 bytes are the AES key).
    pub k2: Vec<u8>,
    /// The password zero-padded to 20 bytes, for MD5-128 integrity only.
    pub password20: [u8; 20],
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("suite", &self.suite.id)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl SessionKeys {
    /// Derive SIK, K1 and K2 after RAKP 2. `kg` is used for the SIK when set,
    /// otherwise the password is.
    pub fn derive(
        suite: CipherSuite,
        params: &RakpParams<'_>,
        password: &[u8],
        kg: Option<&[u8]>,
    ) -> SessionKeys {
        let mut password20 = [0u8; 20];
        let n = password.len().min(20);
        password20[..n].copy_from_slice(&password[..n]);
        if suite.auth == AuthAlg::None {
            return SessionKeys {
                suite,
                sik: Vec::new(),
                k1: Vec::new(),
                k2: Vec::new(),
                password20,
            };
        }
        let sik = params.sik(suite.auth, kg.unwrap_or(password));
        let k1 = derive_k(suite.auth, &sik, 1);
        let k2 = derive_k(suite.auth, &sik, 2);
        SessionKeys {
            suite,
            sik,
            k1,
            k2,
            password20,
        }
    }

    /// Keys for a session that protects nothing (before the handshake, suite 0).
    pub fn none() -> SessionKeys {
        SessionKeys {
            suite: CipherSuite {
                id: 0,
                auth: AuthAlg::None,
                integrity: IntegrityAlg::None,
                conf: ConfAlg::None,
            },
            sik: Vec::new(),
            k1: Vec::new(),
            k2: Vec::new(),
            password20: [0; 20],
        }
    }

    /// The session trailer AuthCode over `covered` (auth type byte through the
    /// next-header byte).
    pub fn auth_code(&self, covered: &[u8]) -> Vec<u8> {
        let mut code = match self.suite.integrity {
            IntegrityAlg::None => return Vec::new(),
            IntegrityAlg::HmacSha1_96 => hmac_auth(AuthAlg::HmacSha1, &self.k1, &[covered]),
            IntegrityAlg::HmacMd5_128 => hmac_auth(AuthAlg::HmacMd5, &self.k1, &[covered]),
            IntegrityAlg::HmacSha256_128 => hmac_auth(AuthAlg::HmacSha256, &self.k1, &[covered]),
            IntegrityAlg::Md5_128 => {
                let mut h = Md5::new();
                h.update(self.password20);
                h.update(covered);
                h.update(self.password20);
                h.finalize().to_vec()
            }
        };
        code.truncate(self.suite.integrity.code_len());
        code
    }

    /// Encrypt `plain` with AES-CBC-128 and the IPMI pad, prefixing the IV.
    /// Returns `plain` unchanged when confidentiality is off.
    pub fn encrypt(&self, plain: &[u8], iv: [u8; 16]) -> Vec<u8> {
        if self.suite.conf == ConfAlg::None {
            return plain.to_vec();
        }
        let n = (16 - (plain.len() + 1) % 16) % 16;
        let total = plain.len() + n + 1;
        let mut buf = Vec::with_capacity(16 + total);
        buf.extend_from_slice(&iv);
        buf.extend_from_slice(plain);
        buf.extend((1..=n).map(|i| i as u8));
        buf.push(n as u8);
        let enc = cbc::Encryptor::<aes::Aes128>::new_from_slices(&self.k2[..16], &iv)
            .expect("AES-128 key and IV are 16 bytes");
        // Invariant: the buffer after the IV is block aligned by construction.
        enc.encrypt_padded::<NoPadding>(&mut buf[16..], total)
            .expect("block-aligned buffer");
        buf
    }

    /// Check the IV and pad of an encrypted payload and return the plaintext.
    /// Returns the payload unchanged when confidentiality is off.
    pub fn decrypt(&self, payload: &[u8]) -> Result<Vec<u8>, WireError> {
        if self.suite.conf == ConfAlg::None {
            return Ok(payload.to_vec());
        }
        if payload.len() < 32 || !(payload.len() - 16).is_multiple_of(16) {
            return Err(WireError::BadConfidentialityPad);
        }
        let (iv, body) = payload.split_at(16);
        let mut buf = body.to_vec();
        let dec = cbc::Decryptor::<aes::Aes128>::new_from_slices(&self.k2[..16], iv)
            .expect("AES-128 key and IV are 16 bytes");
        dec.decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| WireError::BadConfidentialityPad)?;
        let n = usize::from(*buf.last().ok_or(WireError::BadConfidentialityPad)?);
        if n > 15 || n + 1 > buf.len() {
            return Err(WireError::BadConfidentialityPad);
        }
        let pad_start = buf.len() - 1 - n;
        if !buf[pad_start..buf.len() - 1]
            .iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i + 1)
        {
            return Err(WireError::BadConfidentialityPad);
        }
        buf.truncate(pad_start);
        Ok(buf)
    }
}
