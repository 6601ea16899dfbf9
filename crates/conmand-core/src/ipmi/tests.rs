//! Known-answer tests on the captured vectors of the IPMI SOL spec (§10.2–§10.5):
//! ipmitool/FreeIPMI ↔ ipmi_sim (suites 0, 2, 3) and ipmitool ↔ a SHA-256 BMC
//! (suite 17). Credentials everywhere: user `admin`, password `password`, no K_g.

use super::crypto::{AuthAlg, CipherSuite, RakpParams, SessionKeys};
use super::wire::{self, IpmiRequest, IpmiResponse, Packet, WireError, payload};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn h16(s: &str) -> [u8; 16] {
    hex(s).try_into().unwrap()
}

fn v20(d: &[u8]) -> wire::V20Packet<'_> {
    match wire::parse(d).unwrap() {
        Packet::V20(p) => p,
        other => panic!("not RMCP+: {other:?}"),
    }
}

const PW: &[u8] = b"password";

fn v1_params() -> RakpParams<'static> {
    RakpParams {
        sid_m: 0xA0A2_A3A4,
        sid_c: 0x82,
        rm: h16("10a19d9a9ce3d44dc8f1f2e110c3c3de"),
        rc: h16("ce437fc51d174d2719707ff4e6d97c68"),
        guid: h16("a123456789abcdefa123456789abcdef"),
        role: 0x14,
        username: b"admin",
    }
}

fn v1_keys() -> SessionKeys {
    SessionKeys::derive(CipherSuite::from_id(3).unwrap(), &v1_params(), PW, None)
}

#[test]
fn v1_suite3_rakp_codes_and_keys() {
    let p = v1_params();
    let a = AuthAlg::HmacSha1;
    assert_eq!(
        p.rakp2_code(a, PW),
        hex("663eec328114b6166e0786b5c89a6bcb7720f234")
    );
    let k = v1_keys();
    assert_eq!(k.sik, hex("d108dc7fe3e64ebf8334ce46e4f873f631d84429"));
    assert_eq!(k.k1, hex("2fe3ed11f8627a8eae98c0d6ed7c43fa64919812"));
    assert_eq!(k.k2, hex("28c4251c0ac9a61dede450c3ccabd3e1ebda56cb"));
    assert_eq!(
        p.rakp3_code(a, PW, 0x14),
        hex("9c634f52c6e542fc483a0df3302fe977f1d6c88e")
    );
    assert_eq!(p.rakp4_icv(a, &k.sik), hex("151f39f2d1d301bd1031e651"));
}

#[test]
fn v1_suite3_handshake_datagrams() {
    // 1. Get Channel Auth Caps request, IPMI 1.5 framing.
    let req = IpmiRequest {
        netfn: 6,
        cmd: 0x38,
        rq_seq: 0,
        data: vec![0x8e, 0x04],
    };
    assert_eq!(
        wire::encode_v15(0, 0, &req.encode()),
        hex("0600ff07000000000000000000092018c88100388e04b5")
    );
    // 2. Its response.
    let d = hex("0600ff0700000000000000000010811c6320003800019706030000000007");
    let Packet::V15 { msg, .. } = wire::parse(&d).unwrap() else {
        panic!()
    };
    let r = IpmiResponse::decode(msg, true).unwrap();
    assert_eq!((r.netfn, r.cmd, r.completion), (6, 0x38, 0));
    assert_eq!(r.data, hex("01970603000000 00"));
    // 3. Open Session Request.
    let os = wire::OpenSessionRequest {
        tag: 0,
        max_priv: 0,
        sid_m: 0xA0A2_A3A4,
        auth: 1,
        integrity: 1,
        conf: 1,
    };
    assert_eq!(
        wire::encode_v20(
            payload::OPEN_SESSION_REQUEST,
            0,
            0,
            &os.encode(),
            None,
            [0; 16]
        ),
        hex(
            "0600ff0706100000000000000000200000000000a4a3a2a0000000080100000001000008010000000200000801000000"
        )
    );
    // 4. Open Session Response.
    let d = hex(
        "0600ff0706110000000000000000240000000000a4a3a2a082000000000000080100000001000008010000000200000801000000",
    );
    let r = wire::OpenSessionResponse::decode(v20(&d).payload).unwrap();
    assert_eq!((r.status, r.sid_m, r.sid_c), (0, 0xA0A2_A3A4, 0x82));
    assert_eq!((r.auth, r.integrity, r.conf), (1, 1, 1));
    // 5. RAKP 1.
    let p = v1_params();
    let r1 = wire::Rakp1 {
        tag: 0,
        sid_c: 0x82,
        rm: p.rm,
        role: 0x14,
        username: b"admin".to_vec(),
    };
    assert_eq!(
        wire::encode_v20(payload::RAKP1, 0, 0, &r1.encode(), None, [0; 16]),
        hex(
            "0600ff07061200000000000000002100000000008200000010a19d9a9ce3d44dc8f1f2e110c3c3de1400000561646d696e"
        )
    );
    assert_eq!(wire::Rakp1::decode(&r1.encode()).unwrap(), r1);
    // 6. RAKP 2 verifies.
    let d = hex(
        "0600ff07061300000000000000003c0000000000a4a3a2a0ce437fc51d174d2719707ff4e6d97c68a123456789abcdefa123456789abcdef663eec328114b6166e0786b5c89a6bcb7720f234",
    );
    let r2 = wire::Rakp2::decode(v20(&d).payload).unwrap();
    assert_eq!((r2.rc, r2.guid), (p.rc, p.guid));
    assert_eq!(r2.code, p.rakp2_code(AuthAlg::HmacSha1, PW));
    // 7. RAKP 3.
    let r3 = wire::RakpCodeMsg {
        tag: 0,
        status: 0,
        sid: 0x82,
        code: p.rakp3_code(AuthAlg::HmacSha1, PW, 0x14),
    };
    assert_eq!(
        wire::encode_v20(payload::RAKP3, 0, 0, &r3.encode(), None, [0; 16]),
        hex(
            "0600ff07061400000000000000001c0000000000820000009c634f52c6e542fc483a0df3302fe977f1d6c88e"
        )
    );
    // 8. RAKP 4.
    let d = hex("0600ff0706150000000000000000140000000000a4a3a2a0151f39f2d1d301bd1031e651");
    let r4 = wire::RakpCodeMsg::decode(v20(&d).payload).unwrap();
    assert_eq!(r4.sid, 0xA0A2_A3A4);
    assert_eq!(r4.code, p.rakp4_icv(AuthAlg::HmacSha1, &v1_keys().sik));
}

const V1_SETPRIV: &str = "0600ff0706c082000000030000002000b3149a980e8eb6a2a57ad6fb4f9e4f37cc356efb3ef8e9a04b9e656b2a839b1effff0207b1305339998847595e21439f";
const V1_SETPRIV_RSP: &str = "0600ff0706c0a4a3a2a0010000002000d7c92c7a554ae36c2f17eb1115a5d7c59a8bcb3af38fb930848a8c6b37d2a33fffff02072c2dd5073a51793d6750d238";

#[test]
fn v1_suite3_encrypted_set_privilege_round_trip() {
    let keys = v1_keys();
    let req = IpmiRequest {
        netfn: 6,
        cmd: 0x3b,
        rq_seq: 1,
        data: vec![4],
    };
    assert_eq!(req.encode(), hex("2018c881043b043c"));
    let iv = h16("b3149a980e8eb6a2a57ad6fb4f9e4f37");
    let d = wire::encode_v20(payload::IPMI, 0x82, 3, &req.encode(), Some(&keys), iv);
    assert_eq!(d, hex(V1_SETPRIV));
    // The BMC side decodes it back.
    let p = v20(&d);
    assert_eq!(
        (p.sid, p.seq, p.encrypted, p.authenticated),
        (0x82, 3, true, true)
    );
    assert_eq!(IpmiRequest::decode(&p.open(&keys).unwrap()).unwrap(), req);
    // The response.
    let d = hex(V1_SETPRIV_RSP);
    let p = v20(&d);
    assert_eq!((p.sid, p.seq), (0xA0A2_A3A4, 1));
    let plain = p.open(&keys).unwrap();
    assert_eq!(plain, hex("811c6320043b00049d"));
    let r = IpmiResponse::decode(&plain, true).unwrap();
    assert_eq!(
        (r.cmd, r.rq_seq, r.completion, r.data.clone()),
        (0x3b, 1, 0, vec![4])
    );
}

#[test]
fn v1_negative_cases_are_errors_not_panics() {
    let keys = v1_keys();
    let good = hex(V1_SETPRIV_RSP);
    // Flipped MAC byte.
    let mut d = good.clone();
    *d.last_mut().unwrap() ^= 1;
    assert_eq!(v20(&d).open(&keys), Err(WireError::BadAuthCode));
    // Wrong next header.
    let mut d = good.clone();
    let nh = d.len() - 13;
    d[nh] = 0x08;
    assert_eq!(v20(&d).open(&keys), Err(WireError::BadTrailer));
    // Pad length 4.
    let mut d = good.clone();
    d[nh - 1] = 4;
    assert_eq!(v20(&d).open(&keys), Err(WireError::BadTrailer));
    // Flipped ciphertext byte: the MAC catches it first.
    let mut d = good.clone();
    d[30] ^= 1;
    assert_eq!(v20(&d).open(&keys), Err(WireError::BadAuthCode));
    // Bad AES pad (decrypt directly, skipping the MAC).
    let mut payload = v20(&good).payload.to_vec();
    let last = payload.len() - 1;
    payload[last] ^= 0x55;
    assert_eq!(
        keys.decrypt(&payload),
        Err(WireError::BadConfidentialityPad)
    );
    assert_eq!(
        keys.decrypt(&payload[..20]),
        Err(WireError::BadConfidentialityPad)
    );
    // Every truncation of a valid datagram is an error, never a panic.
    for n in 0..good.len() {
        if let Ok(Packet::V20(p)) = wire::parse(&good[..n]) {
            assert!(p.open(&keys).is_err(), "truncated at {n}");
        }
    }
    // Open Session error with only 2 bytes is accepted as an error status.
    let r = wire::OpenSessionResponse::decode(&[7, 0x11]).unwrap();
    assert_eq!((r.tag, r.status), (7, 0x11));
    assert!(wire::OpenSessionResponse::decode(&[7]).is_err());
    assert!(wire::OpenSessionResponse::decode(&[7, 0, 0, 0, 1, 2, 3, 4]).is_err());
    // Garbage.
    for g in [
        &[][..],
        &[6],
        &[6, 0, 0xff, 7, 6],
        &[1, 2, 3, 4, 5],
        &[6, 0, 0xff, 9, 0],
    ] {
        assert!(wire::parse(g).is_err(), "{g:?}");
    }
}

#[test]
fn v2_suite17_sha256() {
    let p = RakpParams {
        sid_m: 0xA0A2_A3A4,
        sid_c: 0x1122_3344,
        rm: h16("1a3046eccff83e0ae520486cbaa7eba3"),
        rc: h16("329d0c3cd694db6ecdc725dac4d44f21"),
        guid: h16("00112233445566778899aabbccddeeff"),
        role: 0x14,
        username: b"admin",
    };
    let a = AuthAlg::HmacSha256;
    assert_eq!(
        p.rakp2_code(a, PW),
        hex("c552ce9ab739227dfe7e083758b0c380eb0d8c8dd44769ce672205c1ed8b1a3b")
    );
    let k = SessionKeys::derive(CipherSuite::from_id(17).unwrap(), &p, PW, None);
    assert_eq!(
        k.sik,
        hex("c398795d204d59ed360e0256405338b37abd19f06f632b7868493a5303d2ffa6")
    );
    assert_eq!(
        k.k1,
        hex("29102ead635c3520cff4257fcfff2df7c0db4eb81cf74d9433a7b0172d25e3e3")
    );
    assert_eq!(
        k.k2,
        hex("92ca287536a0082f283524c6eec574ee9d695f696791137d07c17243d28ec586")
    );
    assert_eq!(
        p.rakp3_code(a, PW, 0x14),
        hex("461f8680f1d0314825c32d3dae4c2dccbf3a14f4957cb8939e99a3e18575afae")
    );
    assert_eq!(
        p.rakp4_icv(a, &k.sik),
        hex("8c867f67577a3980f8142b95a8ccfc32")
    );
    let want = hex(
        "0600ff0706c0443322110300000020009a9fec3bc1fca5a5b354e05f73955a31d4801016f6d723f353f8b315d13be5ceffff02070879d561a4ada4bd2922be2c8fa2f512",
    );
    let iv = h16("9a9fec3bc1fca5a5b354e05f73955a31");
    let d = wire::encode_v20(
        payload::IPMI,
        0x1122_3344,
        3,
        &hex("2018c881043b043c"),
        Some(&k),
        iv,
    );
    assert_eq!(d, want);
    assert_eq!(v20(&want).open(&k).unwrap(), hex("2018c881043b043c"));
}

#[test]
fn v3_suite0_no_trailer() {
    let k = SessionKeys::none();
    let d = wire::encode_v20(
        payload::IPMI,
        0x282,
        3,
        &hex("2018c881043b043c"),
        Some(&k),
        [0; 16],
    );
    assert_eq!(d, hex("0600ff070600820200000300000008002018c881043b043c"));
    let rsp = hex("0600ff070600a4a3a2a0010000000900811c6320043b00049d");
    assert_eq!(v20(&rsp).open(&k).unwrap(), hex("811c6320043b00049d"));
    // An authenticated packet is refused when the suite has no integrity.
    let mut bad = rsp.clone();
    bad[5] |= 0x40;
    assert_eq!(v20(&bad).open(&k), Err(WireError::UnexpectedProtection));
}

fn keys_with(suite: u8, k1: &str, k2: &str) -> SessionKeys {
    SessionKeys {
        suite: CipherSuite::from_id(suite).unwrap(),
        sik: vec![],
        k1: hex(k1),
        k2: hex(k2),
        password20: [0; 20],
    }
}

#[test]
fn v4_suite2_integrity_pads_2_and_1() {
    let k = keys_with(2, "df730868fbf2e1ca6e6e8ebff727e6e172019d2e", "");
    let d = wire::encode_v20(
        payload::IPMI,
        0x382,
        3,
        &hex("2018c881043b043c"),
        Some(&k),
        [0; 16],
    );
    assert_eq!(
        d,
        hex("0600ff070640820300000300000008002018c881043b043cffff02074214ed78e93ae9930b732933")
    );
    let rsp =
        hex("0600ff070640a4a3a2a0010000000900811c6320043b00049dff01073d60d109a2a3003b99bb821f");
    assert_eq!(v20(&rsp).open(&k).unwrap(), hex("811c6320043b00049d"));
    // SIK → K1 for the same vector.
    let k1 = crypto::derive_k(
        AuthAlg::HmacSha1,
        &hex("f9a745c12f7a246da1f55a62d845eb92b2bd190f"),
        1,
    );
    assert_eq!(k1, k.k1);
}

#[test]
fn v5_suite3_sol_activate_data_and_ack() {
    let k = keys_with(
        3,
        "8dbe8facc742d877039419987e0c18058ca9f5d3",
        "f042593fc37ee5493e60a90515516972004eade9",
    );
    let act = hex(
        "0600ff0706c0b3e5ab31030000003000f13f138e8286d17b11829791efd627347a89c76bed1e34779cf725343295bfe53589e6f1ab6bcca69c33e63a133c521fffff02070468cb18f62db8cdb91174ab",
    );
    let plain = v20(&act).open(&k).unwrap();
    assert_eq!(plain, hex("811c632008480000000000200000409725ffff76"));
    let r = IpmiResponse::decode(&plain, true).unwrap();
    assert_eq!(r.data[4..10], [0x20, 0x00, 0x00, 0x40, 0x97, 0x25]);
    let data = hex(
        "0600ff0706c1b3e5ab310400000030006bfd367edb073e2e1d846f330f1d80f8660059a807944198a6591fb8973465286822aa9dddb8b491909d60e501d17974ffff0207304e6e767385c40c6b46032c",
    );
    let p = v20(&data);
    assert_eq!(p.payload_type, payload::SOL);
    let plain = p.open(&k).unwrap();
    let (h, chars) = wire::SolHeader::decode(&plain).unwrap();
    assert_eq!((h.seq, h.ack_seq, h.accepted, h.flags), (1, 0, 0, 0));
    assert_eq!(chars, b"host-tick 6\r\n");
    // Our ack-only packet, with the captured IV.
    let want = hex(
        "0600ff0706c182000000040000002000b303e1244126d367f4343f650f8be6265e32b0288422de81c509cc770ade0622ffff0207a12972f0ec31db5d5d625d11",
    );
    let ack = wire::SolHeader {
        seq: 0,
        ack_seq: 1,
        accepted: 13,
        flags: 0,
    }
    .encode(&[]);
    let iv = h16("b303e1244126d367f4343f650f8be626");
    assert_eq!(
        wire::encode_v20(payload::SOL, 0x82, 4, &ack, Some(&k), iv),
        want
    );
}

#[test]
fn checksums_and_debug_redaction() {
    assert_eq!(wire::checksum(&[0x20, 0x18]), 0xc8);
    assert_eq!(wire::checksum(&[0x81, 0x04, 0x3b, 0x04]), 0x3c);
    let mut bad = hex("811c6320043b00049d");
    bad[8] ^= 1;
    assert_eq!(
        IpmiResponse::decode(&bad, true),
        Err(WireError::BadChecksum)
    );
    assert!(IpmiResponse::decode(&bad, false).is_ok());
    let c = IpmiCredentials {
        username: "admin".into(),
        password: b"hunter2secret".to_vec(),
        k_g: Some(b"kgkgkgsecret".to_vec()),
    };
    let s = format!("{c:?} {:?}", v1_keys());
    assert!(
        !s.contains("hunter2") && !s.contains("kgkg") && !s.contains("d108dc"),
        "{s}"
    );
    assert!(s.contains("admin"));
}

#[test]
fn md5_suites_derive_and_protect() {
    // No captured vectors exist for MD5 (ipmi_sim deviates); check internal
    // consistency and lengths instead: 16-byte codes, keys and AuthCodes.
    let p = v1_params();
    for id in [6u8, 7, 8, 11, 12] {
        let suite = CipherSuite::from_id(id).unwrap();
        let k = SessionKeys::derive(suite, &p, PW, None);
        assert_eq!(p.rakp2_code(suite.auth, PW).len(), 16);
        assert_eq!(k.k1.len(), 16);
        let msg = hex("2018c881043b043c");
        let d = wire::encode_v20(payload::IPMI, 1, 1, &msg, Some(&k), [7; 16]);
        assert_eq!(v20(&d).open(&k).unwrap(), msg, "suite {id}");
    }
    for bad in [4u8, 5, 9, 10, 13, 14, 18, 19, 20] {
        assert!(CipherSuite::from_id(bad).is_none());
    }
}

#[test]
fn options_from_ipmiopts() {
    use crate::config::{IpmiOpts, PrivilegeLevel};
    let d = SessionOptions::from_ipmi_opts(&IpmiOpts::default()).unwrap();
    assert_eq!(
        (d.suite.id, d.privilege, d.workarounds),
        (3, 4, Workarounds(0))
    );
    let o = IpmiOpts {
        cipher_suite: Some(17),
        privilege: Some(PrivilegeLevel::Operator),
        workarounds: Some(Workarounds::SOLPAYLOADSIZE | Workarounds::OPENSESSPRIV),
        ..IpmiOpts::default()
    };
    let s = SessionOptions::from_ipmi_opts(&o).unwrap();
    assert_eq!((s.suite.id, s.privilege), (17, 3));
    assert!(s.workarounds.has(Workarounds::OPENSESSPRIV));
    assert!(!s.workarounds.has(Workarounds::INTEL20));
    let dflt = IpmiOpts {
        workarounds: Some(Workarounds::DEFAULT),
        ..IpmiOpts::default()
    };
    assert_eq!(
        SessionOptions::from_ipmi_opts(&dflt).unwrap().workarounds,
        Workarounds(0)
    );
    let bad = IpmiOpts {
        cipher_suite: Some(4),
        ..IpmiOpts::default()
    };
    assert_eq!(
        SessionOptions::from_ipmi_opts(&bad),
        Err(OptionsError::CipherSuite(4))
    );
    let long = IpmiCredentials {
        username: "u".repeat(17),
        ..IpmiCredentials::default()
    };
    assert_eq!(long.validate(), Err(OptionsError::UsernameTooLong));
    let kg = IpmiCredentials {
        k_g: Some(vec![]),
        ..IpmiCredentials::default()
    };
    assert_eq!(kg.k_g(), None, "empty K_g means none");
}

#[test]
fn asf_presence_ping_and_pong() {
    assert_eq!(wire::encode_asf_ping(0x42), hex("0600ff06000011be80420000"));
    // ipmi_sim's pong: entities 0x81 (IPMI supported, ASF 1.0), interactions 0.
    let pong = hex("0600ff06000011be40420010 000011be 00000000 81 00 000000000000");
    assert_eq!(
        wire::parse(&pong).unwrap(),
        Packet::Asf(Some(wire::AsfPong {
            tag: 0x42,
            ipmi_supported: true
        }))
    );
    assert_eq!(
        wire::parse(&hex("0600ff06000011be")).unwrap(),
        Packet::Asf(None)
    );
}
