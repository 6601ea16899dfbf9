//! Wire codecs: RMCP and ASF headers, the IPMI v1.5 and v2.0 (RMCP+) session
//! headers and trailer, IPMI LAN messages with their checksums, the RMCP+
//! session-setup payloads (Open Session, RAKP 1–4) and the SOL payload header.
//!
//! Both directions are encoded and decoded, so the same code serves the client
//! and the test BMC. Decoders never panic on malformed input: every length is
//! checked and a [`WireError`] is returned instead.

use super::crypto::{ConfAlg, IntegrityAlg, SessionKeys};

/// The primary RMCP UDP port.
pub const RMCP_PORT: u16 = 623;

/// RMCP class: ASF.
pub const CLASS_ASF: u8 = 0x06;
/// RMCP class: IPMI.
pub const CLASS_IPMI: u8 = 0x07;

/// Auth type / format byte of an RMCP+ (IPMI v2.0) session header.
pub const AUTH_TYPE_RMCPPLUS: u8 = 0x06;

/// RMCP+ payload types (bits 5:0 of the payload type byte).
pub mod payload {
    /// IPMI message.
    pub const IPMI: u8 = 0x00;
    /// Serial over LAN.
    pub const SOL: u8 = 0x01;
    /// OEM explicit (carries extra header bytes; never used by SOL).
    pub const OEM: u8 = 0x02;
    /// RMCP+ Open Session Request.
    pub const OPEN_SESSION_REQUEST: u8 = 0x10;
    /// RMCP+ Open Session Response.
    pub const OPEN_SESSION_RESPONSE: u8 = 0x11;
    /// RAKP Message 1.
    pub const RAKP1: u8 = 0x12;
    /// RAKP Message 2.
    pub const RAKP2: u8 = 0x13;
    /// RAKP Message 3.
    pub const RAKP3: u8 = 0x14;
    /// RAKP Message 4.
    pub const RAKP4: u8 = 0x15;
}

/// Why a datagram could not be decoded or authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The datagram ends before a field it must contain.
    #[error("truncated packet")]
    Truncated,
    /// The RMCP header is not version 1.0.
    #[error("not an RMCP packet")]
    NotRmcp,
    /// An RMCP class other than ASF or IPMI.
    #[error("unsupported RMCP class {0:#04x}")]
    UnsupportedClass(u8),
    /// An IPMI v1.5 auth type other than none.
    #[error("unsupported IPMI 1.5 auth type {0:#04x}")]
    UnsupportedAuthType(u8),
    /// An OEM explicit payload (never used for SOL).
    #[error("OEM payload")]
    OemPayload,
    /// An IPMI message checksum is wrong.
    #[error("bad IPMI message checksum")]
    BadChecksum,
    /// The session trailer's pad or next-header byte is malformed.
    #[error("bad session trailer")]
    BadTrailer,
    /// The session trailer's AuthCode does not verify.
    #[error("bad AuthCode")]
    BadAuthCode,
    /// The confidentiality pad or ciphertext length is malformed.
    #[error("bad confidentiality pad")]
    BadConfidentialityPad,
    /// A packet is authenticated/encrypted when it must not be, or the other way.
    #[error("unexpected payload protection")]
    UnexpectedProtection,
}

/// Two's complement checksum: the covered bytes plus it sum to 0 mod 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
}

fn le32(b: &[u8], at: usize) -> Result<u32, WireError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(WireError::Truncated)
}

fn arr16(b: &[u8], at: usize) -> Result<[u8; 16], WireError> {
    let mut a = [0u8; 16];
    a.copy_from_slice(b.get(at..at + 16).ok_or(WireError::Truncated)?);
    Ok(a)
}

/// Address of the BMC (responder) in IPMI LAN messages.
pub const BMC_ADDR: u8 = 0x20;
/// Software ID of the remote console (requester).
pub const CONSOLE_ADDR: u8 = 0x81;

/// An IPMI LAN request message (console → BMC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiRequest {
    /// Network function (request, even).
    pub netfn: u8,
    /// Command.
    pub cmd: u8,
    /// Requester sequence number, 0–63.
    pub rq_seq: u8,
    /// Request data.
    pub data: Vec<u8>,
}

impl IpmiRequest {
    /// Encode with both checksums (LUNs 0).
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(7 + self.data.len());
        m.extend_from_slice(&[BMC_ADDR, self.netfn << 2]);
        m.push(checksum(&m[0..2]));
        m.extend_from_slice(&[CONSOLE_ADDR, (self.rq_seq & 0x3f) << 2, self.cmd]);
        m.extend_from_slice(&self.data);
        m.push(checksum(&m[3..]));
        m
    }

    /// Decode (BMC side), verifying both checksums.
    pub fn decode(b: &[u8]) -> Result<IpmiRequest, WireError> {
        if b.len() < 7 {
            return Err(WireError::Truncated);
        }
        if checksum(&b[0..2]) != b[2] || checksum(&b[3..b.len() - 1]) != b[b.len() - 1] {
            return Err(WireError::BadChecksum);
        }
        Ok(IpmiRequest {
            netfn: b[1] >> 2,
            cmd: b[5],
            rq_seq: b[4] >> 2,
            data: b[6..b.len() - 1].to_vec(),
        })
    }
}

/// An IPMI LAN response message (BMC → console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiResponse {
    /// Network function of the *request* (the response carries `netfn | 1`).
    pub netfn: u8,
    /// Command.
    pub cmd: u8,
    /// Requester sequence number echoed back.
    pub rq_seq: u8,
    /// Completion code.
    pub completion: u8,
    /// Response data after the completion code.
    pub data: Vec<u8>,
}

impl IpmiResponse {
    /// Encode (BMC side) with both checksums.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + self.data.len());
        m.extend_from_slice(&[CONSOLE_ADDR, (self.netfn | 1) << 2]);
        m.push(checksum(&m[0..2]));
        m.extend_from_slice(&[
            BMC_ADDR,
            (self.rq_seq & 0x3f) << 2,
            self.cmd,
            self.completion,
        ]);
        m.extend_from_slice(&self.data);
        m.push(checksum(&m[3..]));
        m
    }

    /// Decode; checksums are verified unless `check_checksums` is false
    /// (workaround `nochecksumcheck`).
    pub fn decode(b: &[u8], check_checksums: bool) -> Result<IpmiResponse, WireError> {
        if b.len() < 8 {
            return Err(WireError::Truncated);
        }
        if check_checksums
            && (checksum(&b[0..2]) != b[2] || checksum(&b[3..b.len() - 1]) != b[b.len() - 1])
        {
            return Err(WireError::BadChecksum);
        }
        Ok(IpmiResponse {
            netfn: (b[1] >> 2) & !1,
            cmd: b[5],
            rq_seq: b[4] >> 2,
            completion: b[6],
            data: b[7..b.len() - 1].to_vec(),
        })
    }
}

/// The 4-byte RMCP header for `class` (sequence 0xFF: no RMCP ACK).
pub fn rmcp_header(class: u8) -> [u8; 4] {
    [0x06, 0x00, 0xff, class]
}

/// Encode an IPMI v1.5 packet with auth type none (used pre-session for Get
/// Channel Authentication Capabilities, and by the test BMC for its answer).
pub fn encode_v15(seq: u32, sid: u32, msg: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(14 + msg.len());
    p.extend_from_slice(&rmcp_header(CLASS_IPMI));
    p.push(0x00);
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&sid.to_le_bytes());
    // Messages are far below 256 bytes (checked by the callers' fixed formats).
    p.push(msg.len() as u8);
    p.extend_from_slice(msg);
    p
}

/// Build an ASF presence ping with `tag`.
pub fn encode_asf_ping(tag: u8) -> Vec<u8> {
    let mut p = rmcp_header(CLASS_ASF).to_vec();
    p.extend_from_slice(&[0x00, 0x00, 0x11, 0xbe, 0x80, tag, 0x00, 0x00]);
    p
}

/// A parsed ASF presence pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsfPong {
    /// Message tag echoed from the ping.
    pub tag: u8,
    /// Supported-entities bit 7: IPMI is supported.
    pub ipmi_supported: bool,
}

/// One decoded datagram, before authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// An ASF message; `Some` if it is a presence pong.
    Asf(Option<AsfPong>),
    /// An IPMI v1.5 packet with auth type none.
    V15 {
        /// Session sequence number.
        seq: u32,
        /// Session ID.
        sid: u32,
        /// The IPMI message.
        msg: &'a [u8],
    },
    /// An RMCP+ packet.
    V20(V20Packet<'a>),
}

/// An RMCP+ packet whose trailer and encryption are not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V20Packet<'a> {
    /// Payload type (bits 5:0).
    pub payload_type: u8,
    /// Payload-encrypted bit.
    pub encrypted: bool,
    /// Payload-authenticated bit.
    pub authenticated: bool,
    /// Session ID from the header.
    pub sid: u32,
    /// Session sequence number.
    pub seq: u32,
    /// The (possibly encrypted) payload.
    pub payload: &'a [u8],
    /// Auth type byte through the end of the packet minus the AuthCode is
    /// computed in [`V20Packet::open`]; this is auth type byte .. end of datagram.
    pub session_part: &'a [u8],
}

/// Decode the headers of one datagram.
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, WireError> {
    if buf.len() < 4 {
        return Err(WireError::Truncated);
    }
    if buf[0] != 0x06 {
        return Err(WireError::NotRmcp);
    }
    match buf[3] & 0x1f {
        CLASS_ASF => {
            let b = &buf[4..];
            if b.len() >= 8 + 16 && b[0..4] == [0, 0, 0x11, 0xbe] && b[4] == 0x40 {
                Ok(Packet::Asf(Some(AsfPong {
                    tag: b[5],
                    ipmi_supported: b[8 + 8] & 0x80 != 0,
                })))
            } else {
                Ok(Packet::Asf(None))
            }
        }
        CLASS_IPMI => {
            let s = &buf[4..];
            let auth_type = *s.first().ok_or(WireError::Truncated)?;
            if auth_type == AUTH_TYPE_RMCPPLUS {
                parse_v20(s).map(Packet::V20)
            } else if auth_type == 0 {
                if s.len() < 10 {
                    return Err(WireError::Truncated);
                }
                let seq = le32(s, 1)?;
                let sid = le32(s, 5)?;
                let len = usize::from(s[9]);
                let msg = s.get(10..10 + len).ok_or(WireError::Truncated)?;
                Ok(Packet::V15 { seq, sid, msg })
            } else {
                Err(WireError::UnsupportedAuthType(auth_type))
            }
        }
        c => Err(WireError::UnsupportedClass(c)),
    }
}

fn parse_v20(s: &[u8]) -> Result<V20Packet<'_>, WireError> {
    if s.len() < 12 {
        return Err(WireError::Truncated);
    }
    let pt = s[1];
    if pt & 0x3f == payload::OEM {
        return Err(WireError::OemPayload);
    }
    let sid = le32(s, 2)?;
    let seq = le32(s, 6)?;
    let len = usize::from(u16::from_le_bytes([s[10], s[11]]));
    let payload = s.get(12..12 + len).ok_or(WireError::Truncated)?;
    Ok(V20Packet {
        payload_type: pt & 0x3f,
        encrypted: pt & 0x80 != 0,
        authenticated: pt & 0x40 != 0,
        sid,
        seq,
        payload,
        session_part: s,
    })
}

impl V20Packet<'_> {
    /// Verify the trailer (if the authenticated bit is set) and decrypt (if the
    /// encrypted bit is set) with `keys`. The protection bits must match the
    /// negotiated algorithms exactly.
    pub fn open(&self, keys: &SessionKeys) -> Result<Vec<u8>, WireError> {
        let want_auth = keys.suite.integrity != IntegrityAlg::None;
        let want_enc = keys.suite.conf != ConfAlg::None;
        if self.authenticated != want_auth || self.encrypted != want_enc {
            return Err(WireError::UnexpectedProtection);
        }
        if want_auth {
            let code_len = keys.suite.integrity.code_len();
            let s = self.session_part;
            let trailer_start = 12 + self.payload.len();
            let tlen = s.len() - trailer_start;
            if tlen < code_len + 2 {
                return Err(WireError::BadTrailer);
            }
            let nh_at = s.len() - code_len - 1;
            let pad_len = usize::from(s[nh_at - 1]);
            if s[nh_at] != 0x07 || pad_len > 3 || tlen != pad_len + 2 + code_len {
                return Err(WireError::BadTrailer);
            }
            if !s[trailer_start..trailer_start + pad_len]
                .iter()
                .all(|b| *b == 0xff)
            {
                return Err(WireError::BadTrailer);
            }
            let expect = keys.auth_code(&s[..=nh_at]);
            if !super::crypto::codes_equal(&expect, &s[nh_at + 1..]) {
                return Err(WireError::BadAuthCode);
            }
        }
        keys.decrypt(self.payload)
    }
}

/// Encode an RMCP+ packet. With `protect`, the payload is encrypted and a
/// trailer added as `keys` require (and `iv` is the AES IV); without it (session
/// setup payloads, or before keys exist) the payload goes out in clear.
pub fn encode_v20(
    payload_type: u8,
    sid: u32,
    seq: u32,
    plain: &[u8],
    keys: Option<&SessionKeys>,
    iv: [u8; 16],
) -> Vec<u8> {
    let (enc, auth) = match keys {
        Some(k) => (
            k.suite.conf != ConfAlg::None,
            k.suite.integrity != IntegrityAlg::None,
        ),
        None => (false, false),
    };
    let body = match keys {
        Some(k) if enc => k.encrypt(plain, iv),
        _ => plain.to_vec(),
    };
    let mut p = Vec::with_capacity(4 + 12 + body.len() + 24);
    p.extend_from_slice(&rmcp_header(CLASS_IPMI));
    p.push(AUTH_TYPE_RMCPPLUS);
    p.push(payload_type | if enc { 0x80 } else { 0 } | if auth { 0x40 } else { 0 });
    p.extend_from_slice(&sid.to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    // SOL and IPMI payloads are at most a few hundred bytes.
    p.extend_from_slice(&(body.len() as u16).to_le_bytes());
    p.extend_from_slice(&body);
    if let (Some(k), true) = (keys, auth) {
        let pad = (4 - (12 + body.len() + 2) % 4) % 4;
        p.extend(std::iter::repeat_n(0xff, pad));
        p.push(pad as u8);
        p.push(0x07);
        let code = k.auth_code(&p[4..]);
        p.extend_from_slice(&code);
    }
    p
}

fn alg_record(kind: u8, alg: u8) -> [u8; 8] {
    [kind, 0, 0, 8, alg & 0x3f, 0, 0, 0]
}

fn parse_alg_record(b: &[u8], at: usize) -> Result<u8, WireError> {
    let r = b.get(at..at + 8).ok_or(WireError::Truncated)?;
    Ok(r[4] & 0x3f)
}

/// RMCP+ Open Session Request (payload 0x10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionRequest {
    /// Message tag.
    pub tag: u8,
    /// Requested maximum privilege (0 = highest matching the algorithms).
    pub max_priv: u8,
    /// Remote-console session ID.
    pub sid_m: u32,
    /// Authentication algorithm number.
    pub auth: u8,
    /// Integrity algorithm number.
    pub integrity: u8,
    /// Confidentiality algorithm number.
    pub conf: u8,
}

impl OpenSessionRequest {
    /// Encode the 32-byte payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![self.tag, self.max_priv & 0x0f, 0, 0];
        p.extend_from_slice(&self.sid_m.to_le_bytes());
        p.extend_from_slice(&alg_record(0, self.auth));
        p.extend_from_slice(&alg_record(1, self.integrity));
        p.extend_from_slice(&alg_record(2, self.conf));
        p
    }

    /// Decode (BMC side).
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < 32 {
            return Err(WireError::Truncated);
        }
        Ok(OpenSessionRequest {
            tag: b[0],
            max_priv: b[1] & 0x0f,
            sid_m: le32(b, 4)?,
            auth: parse_alg_record(b, 8)?,
            integrity: parse_alg_record(b, 16)?,
            conf: parse_alg_record(b, 24)?,
        })
    }
}

/// RMCP+ Open Session Response (payload 0x11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code (0 = OK).
    pub status: u8,
    /// Maximum privilege granted.
    pub max_priv: u8,
    /// Remote-console session ID.
    pub sid_m: u32,
    /// Managed-system session ID.
    pub sid_c: u32,
    /// Authentication algorithm number.
    pub auth: u8,
    /// Integrity algorithm number.
    pub integrity: u8,
    /// Confidentiality algorithm number.
    pub conf: u8,
}

impl OpenSessionResponse {
    /// Encode (BMC side). An error status gives the short 8-byte form.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![self.tag, self.status, self.max_priv, 0];
        p.extend_from_slice(&self.sid_m.to_le_bytes());
        if self.status != 0 {
            return p;
        }
        p.extend_from_slice(&self.sid_c.to_le_bytes());
        p.extend_from_slice(&alg_record(0, self.auth));
        p.extend_from_slice(&alg_record(1, self.integrity));
        p.extend_from_slice(&alg_record(2, self.conf));
        p
    }

    /// Decode. A non-zero status is accepted with only the first 2 bytes present.
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < 2 {
            return Err(WireError::Truncated);
        }
        if b[1] != 0 {
            return Ok(OpenSessionResponse {
                tag: b[0],
                status: b[1],
                max_priv: b.get(2).copied().unwrap_or(0),
                sid_m: le32(b, 4).unwrap_or(0),
                sid_c: 0,
                auth: 0,
                integrity: 0,
                conf: 0,
            });
        }
        if b.len() < 36 {
            return Err(WireError::Truncated);
        }
        Ok(OpenSessionResponse {
            tag: b[0],
            status: 0,
            max_priv: b[2] & 0x0f,
            sid_m: le32(b, 4)?,
            sid_c: le32(b, 8)?,
            auth: parse_alg_record(b, 12)?,
            integrity: parse_alg_record(b, 20)?,
            conf: parse_alg_record(b, 28)?,
        })
    }
}

/// RAKP Message 1 (payload 0x12).
#[derive(Clone, PartialEq, Eq)]
pub struct Rakp1 {
    /// Message tag.
    pub tag: u8,
    /// Managed-system session ID.
    pub sid_c: u32,
    /// Remote-console random number.
    pub rm: [u8; 16],
    /// Role byte (privilege and lookup bit).
    pub role: u8,
    /// User name bytes (≤ 16).
    pub username: Vec<u8>,
}

impl std::fmt::Debug for Rakp1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rakp1")
            .field("tag", &self.tag)
            .field("sid_c", &self.sid_c)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Rakp1 {
    /// Encode `28 + ulen` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![self.tag, 0, 0, 0];
        p.extend_from_slice(&self.sid_c.to_le_bytes());
        p.extend_from_slice(&self.rm);
        p.extend_from_slice(&[self.role, 0, 0, self.username.len() as u8]);
        p.extend_from_slice(&self.username);
        p
    }

    /// Decode (BMC side).
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < 28 {
            return Err(WireError::Truncated);
        }
        let ulen = usize::from(b[27]);
        let username = b.get(28..28 + ulen).ok_or(WireError::Truncated)?.to_vec();
        Ok(Rakp1 {
            tag: b[0],
            sid_c: le32(b, 4)?,
            rm: arr16(b, 8)?,
            role: b[24],
            username,
        })
    }
}

/// RAKP Message 2 (payload 0x13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp2 {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// Remote-console session ID.
    pub sid_m: u32,
    /// Managed-system random number.
    pub rc: [u8; 16],
    /// Managed-system GUID.
    pub guid: [u8; 16],
    /// Key exchange authentication code (all bytes after the GUID).
    pub code: Vec<u8>,
}

impl Rakp2 {
    /// Encode (BMC side). An error status gives the short 8-byte form.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![self.tag, self.status, 0, 0];
        p.extend_from_slice(&self.sid_m.to_le_bytes());
        if self.status != 0 {
            return p;
        }
        p.extend_from_slice(&self.rc);
        p.extend_from_slice(&self.guid);
        p.extend_from_slice(&self.code);
        p
    }

    /// Decode. A non-zero status is accepted with only the first 2 bytes.
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < 2 {
            return Err(WireError::Truncated);
        }
        if b[1] != 0 {
            return Ok(Rakp2 {
                tag: b[0],
                status: b[1],
                sid_m: le32(b, 4).unwrap_or(0),
                rc: [0; 16],
                guid: [0; 16],
                code: Vec::new(),
            });
        }
        if b.len() < 40 {
            return Err(WireError::Truncated);
        }
        Ok(Rakp2 {
            tag: b[0],
            status: 0,
            sid_m: le32(b, 4)?,
            rc: arr16(b, 8)?,
            guid: arr16(b, 24)?,
            code: b[40..].to_vec(),
        })
    }
}

/// RAKP Message 3 (payload 0x14) and RAKP Message 4 (payload 0x15) share a shape:
/// tag, status, 2 reserved, a session ID, then a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RakpCodeMsg {
    /// Message tag.
    pub tag: u8,
    /// RMCP+ status code.
    pub status: u8,
    /// SIDc in RAKP 3, SIDm in RAKP 4.
    pub sid: u32,
    /// Key exchange code (RAKP 3) or integrity check value (RAKP 4).
    pub code: Vec<u8>,
}

impl RakpCodeMsg {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![self.tag, self.status, 0, 0];
        p.extend_from_slice(&self.sid.to_le_bytes());
        p.extend_from_slice(&self.code);
        p
    }

    /// Decode. A non-zero status is accepted with only the first 2 bytes.
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < 2 {
            return Err(WireError::Truncated);
        }
        if b[1] == 0 && b.len() < 8 {
            return Err(WireError::Truncated);
        }
        Ok(RakpCodeMsg {
            tag: b[0],
            status: b[1],
            sid: le32(b, 4).unwrap_or(0),
            code: b.get(8..).unwrap_or_default().to_vec(),
        })
    }
}

/// SOL operation bits, console → BMC (byte 3).
pub mod sol_op {
    /// NACK: the console could not accept the acked packet.
    pub const NACK: u8 = 0x40;
    /// Assert ring indicator.
    pub const RING: u8 = 0x20;
    /// Generate a serial break.
    pub const BREAK: u8 = 0x10;
    /// Deassert CTS to the host.
    pub const CTS_PAUSE: u8 = 0x08;
    /// Drop DCD/DSR.
    pub const DROP_DCD_DSR: u8 = 0x04;
    /// Flush inbound.
    pub const FLUSH_INBOUND: u8 = 0x02;
    /// Flush outbound.
    pub const FLUSH_OUTBOUND: u8 = 0x01;
}

/// SOL status bits, BMC → console (byte 3).
pub mod sol_status {
    /// NACK / pause: the BMC could not accept all of our packet.
    pub const NACK: u8 = 0x40;
    /// Character transfer unavailable.
    pub const TRANSFER_UNAVAILABLE: u8 = 0x20;
    /// SOL deactivating.
    pub const DEACTIVATING: u8 = 0x10;
    /// Transmit overrun: characters lost on the BMC's serial side.
    pub const OVERRUN: u8 = 0x08;
    /// Break detected on the host serial line.
    pub const BREAK_DETECTED: u8 = 0x04;
}

/// The 4-byte SOL payload header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SolHeader {
    /// Packet sequence number 1–15; 0 = ack/status only.
    pub seq: u8,
    /// Sequence number being acked or nacked; 0 = none.
    pub ack_seq: u8,
    /// Characters of the acked packet accepted.
    pub accepted: u8,
    /// Operation (to the BMC) or status (from the BMC) bits.
    pub flags: u8,
}

impl SolHeader {
    /// Encode header plus `data`.
    pub fn encode(&self, data: &[u8]) -> Vec<u8> {
        let mut p = Vec::with_capacity(4 + data.len());
        p.extend_from_slice(&[
            self.seq & 0x0f,
            self.ack_seq & 0x0f,
            self.accepted,
            self.flags,
        ]);
        p.extend_from_slice(data);
        p
    }

    /// Decode a SOL payload into its header and character data.
    pub fn decode(b: &[u8]) -> Result<(SolHeader, &[u8]), WireError> {
        if b.len() < 4 {
            return Err(WireError::Truncated);
        }
        Ok((
            SolHeader {
                seq: b[0] & 0x0f,
                ack_seq: b[1] & 0x0f,
                accepted: b[2],
                flags: b[3],
            },
            &b[4..],
        ))
    }
}
