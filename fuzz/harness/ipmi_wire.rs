//! `ipmi_wire`: the RMCP/RMCP+ packet codecs (`ipmi::wire`) with session keys
//! derived from fuzz input.
//!
//! Input: cipher suite, password, K_g, RAKP values (session IDs, nonces, GUID,
//! role, user name), a sequence number, an AES IV, a byte to tamper with, then a
//! datagram. The keys come from `SessionKeys::derive` as in a real handshake.
//!
//! Invariants: `parse` and `V20Packet::open` never panic on any datagram, with
//! these keys or with none; every message decoder's result re-encodes to bytes
//! that decode to the same message; a payload sealed with `encode_v20` parses to
//! the same header fields and opens to the same plaintext; under an integrity
//! suite, changing any byte after the RMCP header makes `parse` or `open` fail.

use conmand_core::ipmi::CipherSuite;
use conmand_core::ipmi::crypto::{IntegrityAlg, RakpParams, SessionKeys};
use conmand_core::ipmi::wire::{
    self, IpmiRequest, IpmiResponse, OpenSessionRequest, OpenSessionResponse, Packet, Rakp1, Rakp2,
    RakpCodeMsg, SolHeader,
};

use super::Input;

/// The cipher suites the client implements.
pub const SUITES: [u8; 12] = [0, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17];

/// Largest payload sealed: SOL and IPMI payloads are a few hundred bytes, and the
/// length field is 16 bits.
const MAX_SEALED: usize = 1024;

/// `decode(encode(decode(b))) == decode(b)` for every message type.
fn decoders_round_trip(b: &[u8]) {
    if let Ok(m) = IpmiRequest::decode(b) {
        assert_eq!(IpmiRequest::decode(&m.encode()), Ok(m));
    }
    for check in [true, false] {
        if let Ok(m) = IpmiResponse::decode(b, check) {
            assert_eq!(IpmiResponse::decode(&m.encode(), true), Ok(m));
        }
    }
    if let Ok(m) = OpenSessionRequest::decode(b) {
        assert_eq!(OpenSessionRequest::decode(&m.encode()), Ok(m));
    }
    if let Ok(m) = OpenSessionResponse::decode(b) {
        assert_eq!(OpenSessionResponse::decode(&m.encode()), Ok(m));
    }
    if let Ok(m) = Rakp1::decode(b) {
        assert_eq!(Rakp1::decode(&m.encode()), Ok(m));
    }
    if let Ok(m) = Rakp2::decode(b) {
        assert_eq!(Rakp2::decode(&m.encode()), Ok(m));
    }
    if let Ok(m) = RakpCodeMsg::decode(b) {
        assert_eq!(RakpCodeMsg::decode(&m.encode()), Ok(m));
    }
    if let Ok((h, data)) = SolHeader::decode(b) {
        let again = h.encode(data);
        assert_eq!(SolHeader::decode(&again), Ok((h, data)));
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let id = SUITES[usize::from(input.u8()) % SUITES.len()];
    let suite = CipherSuite::from_id(id).expect("listed suites exist");
    let password = input.bytes(20).to_vec();
    let k_g = input.bytes(20).to_vec();
    let use_kg = !k_g.is_empty();
    let sid_m = input.u32();
    let sid_c = input.u32();
    let rm = input.array::<16>();
    let rc = input.array::<16>();
    let guid = input.array::<16>();
    let role = input.u8();
    let username = input.bytes(16).to_vec();
    let seq = input.u32();
    let iv = input.array::<16>();
    let tamper = input.u16();
    // OEM payloads are refused by `parse` (never used for SOL): seal SOL instead.
    let ptype = match input.u8() & 0x3f {
        wire::payload::OEM => wire::payload::SOL,
        t => t,
    };
    let datagram = input.rest();

    let params = RakpParams {
        sid_m,
        sid_c,
        rm,
        rc,
        guid,
        role,
        username: &username,
    };
    let _ = params.rakp2_code(suite.auth, &password);
    let _ = params.rakp3_code(suite.auth, &password, role);
    let keys = SessionKeys::derive(suite, &params, &password, use_kg.then_some(&k_g[..]));
    let _ = params.rakp4_icv(suite.auth, &keys.sik);

    // Arbitrary datagrams.
    match wire::parse(datagram) {
        Ok(Packet::V20(p)) => {
            let _ = p.open(&keys);
            let _ = p.open(&SessionKeys::none());
            decoders_round_trip(p.payload);
        }
        Ok(Packet::V15 { msg, .. }) => decoders_round_trip(msg),
        Ok(Packet::Asf(_)) | Err(_) => {}
    }
    decoders_round_trip(datagram);
    let _ = keys.decrypt(datagram);

    // Our own packets open to what was sealed.
    let plain = &datagram[..datagram.len().min(MAX_SEALED)];
    let sealed = wire::encode_v20(ptype, sid_c, seq, plain, Some(&keys), iv);
    let Ok(Packet::V20(p)) = wire::parse(&sealed) else {
        panic!("sealed packet does not parse as RMCP+");
    };
    assert_eq!((p.payload_type, p.sid, p.seq), (ptype, sid_c, seq));
    assert_eq!(
        p.open(&keys).as_deref(),
        Ok(plain),
        "sealed payload does not open"
    );

    // Tampering is detected when the suite has integrity.
    if suite.integrity != IntegrityAlg::None {
        let mut bad = sealed.clone();
        let at = 4 + usize::from(tamper) % (bad.len() - 4);
        bad[at] ^= 1 << (tamper >> 13);
        if let Ok(Packet::V20(p)) = wire::parse(&bad) {
            assert!(p.open(&keys).is_err(), "changed byte {at} not detected");
        }
    }
}
