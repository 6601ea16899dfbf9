//! Session set-up handlers: Get Channel Authentication Capabilities, Open
//! Session, RAKP 1–4, privilege, SOL activation (with the "already active"
//! steal loop and port moves) and the ownership-probe calibration. Split out of
//! `session.rs` to keep each file to one concern; these are methods of
//! [`Session`] and use its private state.

use std::time::Instant;

use super::*;

impl Session {
    pub(super) fn send_auth_caps(&mut self, now: Instant, retransmits: u32) {
        let rq_seq = self.next_rq_seq();
        let req = IpmiRequest {
            netfn: NETFN_APP,
            cmd: cmd::GET_CHANNEL_AUTH_CAPS,
            rq_seq,
            data: vec![0x8e, self.opts.privilege],
        };
        self.push(wire::encode_v15(0, 0, &req.encode()));
        self.arm(now, Some(req), retransmits);
    }

    pub(super) fn send_open_session(&mut self, now: Instant, restarts: u32) {
        let mut sid = [0u8; 4];
        while u32::from_le_bytes(sid) == 0 {
            (self.rng)(&mut sid);
        }
        self.hs.sid_m = u32::from_le_bytes(sid);
        (self.rng)(&mut self.hs.rm);
        self.hs.tag = self.hs.tag.wrapping_add(1);
        self.keys = None;
        let w = self.opts.workarounds;
        let max_priv = if w.has(Workarounds::OPENSESSPRIV)
            || w.has(Workarounds::SUN20)
            || w.has(Workarounds::INTEL20)
        {
            self.opts.privilege
        } else {
            0
        };
        let s = self.opts.suite;
        let req = OpenSessionRequest {
            tag: self.hs.tag,
            max_priv,
            sid_m: self.hs.sid_m,
            auth: s.auth.wire(),
            integrity: s.integrity.wire(),
            conf: s.conf.wire(),
        };
        self.send_setup(
            now,
            payload::OPEN_SESSION_REQUEST,
            &req.encode(),
            State::OpenSession,
            restarts,
        );
    }

    /// Sends one set-up message that travels outside any session (Open Session,
    /// RAKP 1, RAKP 3), moves to `next`, the state that waits for its answer, and arms
    /// the retransmit timer. A set-up that has restarted `restarts` times waits as
    /// long as that many retransmissions (capped at the configured maximum).
    fn send_setup(&mut self, now: Instant, ptype: u8, body: &[u8], next: State, restarts: u32) {
        self.push(wire::encode_v20(ptype, 0, 0, body, None, [0; 16]));
        self.state = next;
        self.arm(now, None, restarts.min(self.opts.timing.max_retransmits));
    }

    /// The values both sides' RAKP codes are computed over.
    fn rakp_params<'a>(&self, username: &'a [u8]) -> RakpParams<'a> {
        RakpParams {
            sid_m: self.hs.sid_m,
            sid_c: self.hs.sid_c,
            rm: self.hs.rm,
            rc: self.hs.rc,
            guid: self.hs.guid,
            role: self.role(),
            username,
        }
    }

    pub(super) fn username_bytes(&self) -> Vec<u8> {
        let mut u = self.creds.username.as_bytes().to_vec();
        if self.opts.workarounds.has(Workarounds::INTEL20) {
            u.resize(16, 0);
        }
        u
    }

    pub(super) fn kuid(&self) -> Vec<u8> {
        let mut k = self.creds.password.clone();
        if self.opts.workarounds.has(Workarounds::INTEL20)
            && self.opts.suite.auth == AuthAlg::HmacMd5
        {
            k.truncate(16);
        }
        k
    }

    pub(super) fn role(&self) -> u8 {
        (self.opts.privilege & 0x0f) | 0x10
    }

    pub(super) fn on_auth_caps(&mut self, now: Instant, msg: &[u8]) -> bool {
        let Some(rsp) = self.match_response(msg) else {
            return false;
        };
        if rsp.completion != 0 || rsp.data.len() < 4 {
            self.fail(SessionError::Ipmi20Unavailable);
            return true;
        }
        if rsp.data[1] & 0x80 == 0 || rsp.data[3] & 0x02 == 0 {
            self.fail(SessionError::Ipmi20Unavailable);
            return true;
        }
        let status = rsp.data[2];
        let kg_set = status & 0x20 != 0;
        if kg_set != self.creds.k_g().is_some() && !self.opts.workarounds.has(Workarounds::AUTHCAP)
        {
            self.events.push_back(Event::Notice(format!(
                "BMC reports K_g {}, but K_g is {}configured",
                if kg_set { "set" } else { "unset" },
                if self.creds.k_g().is_some() {
                    ""
                } else {
                    "not "
                }
            )));
        }
        self.send_open_session(now, 0);
        true
    }

    pub(super) fn on_setup_payload(&mut self, now: Instant, ptype: u8, p: &[u8]) -> bool {
        match (self.state, ptype) {
            (State::OpenSession, payload::OPEN_SESSION_RESPONSE) => self.on_open_session(now, p),
            (State::Rakp1, payload::RAKP2) => self.on_rakp2(now, p),
            (State::Rakp3, payload::RAKP4) => self.on_rakp4(now, p),
            _ => false,
        }
    }

    pub(super) fn on_open_session(&mut self, now: Instant, p: &[u8]) -> bool {
        let Ok(r) = OpenSessionResponse::decode(p) else {
            return false;
        };
        if r.tag != self.hs.tag {
            return false;
        }
        if r.status != 0 {
            self.fail(rmcpplus_status_error(r.status, self.opts.suite.id));
            return true;
        }
        if r.sid_m != self.hs.sid_m {
            return false;
        }
        let s = self.opts.suite;
        if (r.auth, r.integrity, r.conf) != (s.auth.wire(), s.integrity.wire(), s.conf.wire()) {
            self.fail(SessionError::CipherSuiteUnsupported(s.id));
            return true;
        }
        if r.max_priv != 0 && r.max_priv < self.opts.privilege {
            self.events.push_back(Event::Notice(format!(
                "BMC offers maximum privilege {} (wanted {})",
                r.max_priv, self.opts.privilege
            )));
        }
        self.hs.sid_c = r.sid_c;
        let rakp1 = Rakp1 {
            tag: self.hs.tag,
            sid_c: r.sid_c,
            rm: self.hs.rm,
            role: self.role(),
            username: self.username_bytes(),
        };
        let restarts = self.hs.restarts;
        self.send_setup(now, payload::RAKP1, &rakp1.encode(), State::Rakp1, restarts);
        true
    }

    pub(super) fn on_rakp2(&mut self, now: Instant, p: &[u8]) -> bool {
        let Ok(r) = Rakp2::decode(p) else {
            return false;
        };
        if r.tag != self.hs.tag {
            return false;
        }
        if r.status != 0 {
            self.fail(rmcpplus_status_error(r.status, self.opts.suite.id));
            return true;
        }
        if r.sid_m != self.hs.sid_m {
            return false;
        }
        self.hs.rc = r.rc;
        self.hs.guid = r.guid;
        let alg = self.opts.suite.auth;
        let w = self.opts.workarounds;
        let mut code = r.code;
        let want = alg.code_len();
        if code.len() == want + 1
            && (w.has(Workarounds::SUPERMICRO20)
                || (w.has(Workarounds::SUN20) && alg == AuthAlg::HmacSha1))
        {
            code.pop();
        }
        let username = self.username_bytes();
        let kuid = self.kuid();
        let params = self.rakp_params(&username);
        if code.len() != want || !codes_equal(&params.rakp2_code(alg, &kuid), &code) {
            self.fail(SessionError::AuthenticationFailed);
            return true;
        }
        let rakp3_role = if w.has(Workarounds::INTEL20) {
            params.role & !0x10
        } else {
            params.role
        };
        let rakp3 = RakpCodeMsg {
            tag: self.hs.tag,
            status: 0,
            sid: self.hs.sid_c,
            code: params.rakp3_code(alg, &kuid, rakp3_role),
        };
        self.keys = Some(SessionKeys::derive(
            self.opts.suite,
            &params,
            &self.creds.password,
            self.creds.k_g(),
        ));
        let restarts = self.hs.restarts;
        self.send_setup(now, payload::RAKP3, &rakp3.encode(), State::Rakp3, restarts);
        true
    }

    pub(super) fn on_rakp4(&mut self, now: Instant, p: &[u8]) -> bool {
        let Ok(r) = RakpCodeMsg::decode(p) else {
            return false;
        };
        if r.tag != self.hs.tag {
            return false;
        }
        if r.status != 0 {
            let err = match r.status {
                // The BMC rejected our RAKP 3 code: the password is wrong for it.
                0x0f => SessionError::AuthenticationFailed,
                s => rmcpplus_status_error(s, self.opts.suite.id),
            };
            self.fail(err);
            return true;
        }
        if r.sid != self.hs.sid_m {
            return false;
        }
        let alg = self.opts.suite.auth;
        let Some(keys) = &self.keys else {
            return false;
        };
        let ok = if alg == AuthAlg::None {
            r.code.is_empty() || self.opts.workarounds.has(Workarounds::INTEGRITYCHECKVALUE)
        } else {
            let username = self.username_bytes();
            let icv = self.rakp_params(&username).rakp4_icv(alg, &keys.sik);
            codes_equal(&icv, &r.code)
        };
        if !ok {
            self.fail(SessionError::KgInvalid);
            return true;
        }
        self.outstanding = None;
        self.state = State::SetPrivilege;
        let p = self.opts.privilege;
        self.send_request(now, cmd::SET_SESSION_PRIVILEGE, vec![p]);
        true
    }

    pub(super) fn on_instance_info(&mut self, now: Instant, rsp: &IpmiResponse) {
        let owner = match rsp.data.get(0..4) {
            Some(b) if rsp.completion == 0 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            _ => {
                self.probe = Probe::Disabled;
                return;
            }
        };
        match self.probe {
            Probe::Unknown if owner == self.hs.sid_c => self.probe = Probe::Enabled,
            Probe::Unknown => {
                self.probe = Probe::Disabled;
                self.events.push_back(Event::Notice(
                    "BMC's payload instance info does not name our session; ownership probe off"
                        .into(),
                ));
            }
            Probe::Enabled if owner != self.hs.sid_c => {
                // Stolen without a "deactivating" packet: leave without
                // deactivating (that would kill the new owner).
                self.fail_quietly(now, SessionError::SolDeactivated);
            }
            _ => {}
        }
    }

    pub(super) fn query_activation(&mut self, now: Instant) {
        self.steal_rounds += 1;
        if self.steal_rounds > MAX_STEAL_ROUNDS {
            self.fail(SessionError::SolInUse);
            return;
        }
        if self.opts.workarounds.has(Workarounds::SOLSTATUS) {
            if self.steal_rounds == 1 {
                self.send_activate(now);
            } else {
                self.send_deactivate(now);
            }
            return;
        }
        self.state = State::ActivationStatus;
        self.send_request(now, cmd::GET_PAYLOAD_ACTIVATION_STATUS, vec![payload::SOL]);
    }

    pub(super) fn on_activation_status(&mut self, now: Instant, rsp: &IpmiResponse) {
        if rsp.completion != 0 || rsp.data.len() < 3 {
            // Some BMCs lack the command: just try to activate.
            self.send_activate(now);
            return;
        }
        let capacity = rsp.data[0] & 0x0f;
        let bitmap = u16::from_le_bytes([rsp.data[1], rsp.data[2]]);
        let inst = self.opts.sol_instance.clamp(1, 16);
        if capacity > 16 {
            self.fail(SessionError::BmcImplementation("bad SOL instance capacity"));
            return;
        }
        if bitmap & (1 << (inst - 1)) != 0 {
            self.events.push_back(Event::Notice(
                "SOL payload already active on another session; deactivating it".into(),
            ));
            self.send_deactivate(now);
        } else {
            self.send_activate(now);
        }
    }

    pub(super) fn send_deactivate(&mut self, now: Instant) {
        self.state = State::Deactivate;
        let d = self.deactivate_data();
        self.send_request(now, cmd::DEACTIVATE_PAYLOAD, d);
    }

    pub(super) fn send_activate(&mut self, now: Instant) {
        let s = self.opts.suite;
        let w = self.opts.workarounds;
        let mut aux = 0u8;
        if s.conf != ConfAlg::None {
            aux |= 0x80;
        }
        if s.integrity != IntegrityAlg::None {
            aux |= 0x40;
        }
        if w.has(Workarounds::SERIALALERTSDEFERRED) {
            aux |= 0x04;
        }
        if !w.has(Workarounds::INTEL20) {
            aux |= 0x02;
        }
        self.state = State::Activate;
        self.sol_maybe_ours = true;
        let inst = self.opts.sol_instance;
        self.send_request(
            now,
            cmd::ACTIVATE_PAYLOAD,
            vec![payload::SOL, inst, aux, 0, 0, 0],
        );
    }

    pub(super) fn on_activate(&mut self, now: Instant, rsp: &IpmiResponse) {
        match rsp.completion {
            0 => {}
            0x80 => {
                self.sol_maybe_ours = false;
                self.query_activation(now);
                return;
            }
            c => {
                self.sol_maybe_ours = false;
                self.fail(match c {
                    0x81 => SessionError::SolUnavailable,
                    0x82 => SessionError::BmcBusy,
                    0x83 => SessionError::SolRequiresNoEncryption,
                    0x84 => SessionError::SolRequiresEncryption,
                    c => {
                        SessionError::BmcError(format!("Activate Payload completion code {c:#04x}"))
                    }
                });
                return;
            }
        }
        let d = &rsp.data;
        let le16 = |i: usize| d.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let w = self.opts.workarounds;
        let max_chars = match le16(4) {
            Some(inb) if (5..=259).contains(&inb) && !w.has(Workarounds::SOLPAYLOADSIZE) => {
                usize::from(inb - 4)
            }
            _ => 32,
        };
        if let Some(port) = le16(8) {
            let swapped = port.swap_bytes() == self.port;
            if port != self.port && !swapped && !w.has(Workarounds::SOLPORT) && port != 0 {
                if self.port == wire::RMCP_PORT {
                    self.begin_close(now, Some(SessionError::PortMoved(port)));
                } else {
                    self.begin_close(
                        now,
                        Some(SessionError::BmcImplementation(
                            "SOL payload on another port",
                        )),
                    );
                }
                return;
            }
        }
        self.max_chars = max_chars;
        if self.probe == Probe::Unknown {
            self.state = State::Calibrate;
            let inst = self.opts.sol_instance;
            self.send_request(
                now,
                cmd::GET_PAYLOAD_INSTANCE_INFO,
                vec![payload::SOL, inst],
            );
        } else {
            self.become_established(now);
        }
    }

    pub(super) fn become_established(&mut self, now: Instant) {
        self.state = State::Established;
        let mut sol = SolEngine::new(self.max_chars, self.opts.timing);
        sol.set_bump_seq_once(self.opts.workarounds.has(Workarounds::SOLPACKETSEQ));
        self.sol = Some(sol);
        self.next_keepalive = Some(now + self.opts.timing.keepalive_interval);
        self.events.push_back(Event::Established {
            max_chars: self.max_chars,
        });
    }
}
