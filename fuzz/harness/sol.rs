//! `sol`: the SOL payload engine (`ipmi::sol::SolEngine`) fed arbitrary BMC
//! packets, acks, console input, breaks and time steps, draining its output
//! after every step as the session does.
//!
//! Input: characters per packet, a `solpacketseq` flag, then operations.
//!
//! Invariants, checked against a model of what the BMC has acknowledged: every
//! new data packet carries the input right after the acknowledged bytes (no loss,
//! no duplicate, no reordering), at most the packet size and never past a queued
//! break; a break goes out exactly after the bytes queued before it; a
//! retransmission repeats the bytes in flight; sequence numbers stay in 1..=15;
//! an owed ack names the last BMC packet; after `on_timeout(now)` the next
//! timeout is in the future (no busy loop); `poll_transmit` runs dry.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use conmand_core::ipmi::Timing;
use conmand_core::ipmi::sol::SolEngine;
use conmand_core::ipmi::wire::{SolHeader, sol_op, sol_status};

use super::Input;

/// Most packets one drain may yield (one retransmission or new packet, plus an
/// ack, is the real bound).
const MAX_DRAIN: usize = 8;

/// The harness's model of the transmit side.
#[derive(Default)]
struct Model {
    /// Every byte the engine took, in order.
    taken: Vec<u8>,
    /// How many of them the BMC has acknowledged.
    acked: usize,
    /// Breaks not yet acknowledged, as positions in `taken`.
    breaks: VecDeque<usize>,
    /// The packet in flight: sequence number, characters, break bit.
    flight: Option<(u8, Vec<u8>, bool)>,
    /// The last BMC data packet: sequence number and character count.
    last_rx: Option<(u8, usize)>,
}

impl Model {
    /// A BMC packet the engine accepted.
    fn on_rx(&mut self, h: &SolHeader, data_len: usize) {
        let nack = h.flags & sol_status::NACK != 0;
        if h.ack_seq != 0
            && let Some((_, chars, brk)) = self.flight.take_if(|f| f.0 == h.ack_seq)
        {
            self.acked += usize::from(h.accepted).min(chars.len());
            if brk && !nack {
                self.breaks.pop_front();
            }
        }
        if h.seq != 0 {
            self.last_rx = Some((h.seq, data_len));
        }
    }

    /// A packet the engine sent.
    fn on_tx(&mut self, p: &[u8], max_chars: usize) {
        let (h, data) = SolHeader::decode(p).expect("engine sends decodable SOL packets");
        if h.ack_seq != 0 {
            let (seq, len) = self.last_rx.expect("ack without a BMC packet");
            assert_eq!(h.ack_seq, seq, "ack names another packet");
            assert_eq!(usize::from(h.accepted), len.min(255), "ack count");
        }
        if h.seq == 0 {
            assert!(
                data.is_empty() && h.flags == 0,
                "ack-only packet carries data"
            );
            assert!(h.ack_seq != 0, "empty packet");
            return;
        }
        assert!((1..=15).contains(&h.seq), "sequence {}", h.seq);
        let brk = h.flags & sol_op::BREAK != 0;
        if let Some((seq, chars, fbrk)) = &mut self.flight {
            assert_eq!((&chars[..], *fbrk), (data, brk), "retransmission differs");
            assert_eq!(h.ack_seq, 0, "retransmission carries an ack");
            *seq = h.seq;
            return;
        }
        assert!(data.len() <= max_chars, "packet larger than max_chars");
        let at = self.acked;
        assert_eq!(
            data,
            &self.taken[at..at + data.len()],
            "new packet is not the input after the acknowledged bytes"
        );
        match self.breaks.front() {
            Some(&b) if brk => {
                assert!(data.is_empty() && b == at, "break out of order")
            }
            Some(&b) => assert!(at + data.len() <= b, "data sent past a queued break"),
            None => assert!(!brk, "break that was never queued"),
        }
        assert!(brk || !data.is_empty(), "empty data packet");
        self.flight = Some((h.seq, data.to_vec(), brk));
    }
}

fn drain(e: &mut SolEngine, m: &mut Model, now: Instant) {
    for _ in 0..MAX_DRAIN {
        match e.poll_transmit(now) {
            Some(p) => m.on_tx(&p, e.max_chars()),
            None => return,
        }
    }
    panic!("poll_transmit does not run dry");
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let max_chars = usize::from(input.u8());
    let bump = input.bool();
    let timing = Timing::default();
    let mut e = SolEngine::new(max_chars, timing);
    e.set_bump_seq_once(bump);
    assert!((1..=255).contains(&e.max_chars()));
    let mut m = Model::default();
    let mut now = Instant::now();

    while !input.is_empty() {
        match input.u8() % 6 {
            0 => {
                let bytes = input.bytes(64);
                let space = e.input_space();
                let n = e.queue_input(bytes);
                assert_eq!(n, bytes.len().min(space));
                m.taken.extend_from_slice(&bytes[..n]);
            }
            1 => {
                if m.breaks.len() < 16 {
                    m.breaks.push_back(m.taken.len());
                }
                e.queue_break();
            }
            2 => {
                let p = input.bytes(255);
                if let Ok(rx) = e.on_packet(now, p) {
                    let (h, d) = SolHeader::decode(p).expect("engine accepted it");
                    assert!(rx.data.len() <= d.len());
                    m.on_rx(&h, d.len());
                }
            }
            3 => {
                let pick = input.u8();
                let flight_seq = m.flight.as_ref().map_or(0, |f| f.0);
                let h = SolHeader {
                    seq: input.u8() % 16,
                    ack_seq: if pick & 1 != 0 { flight_seq } else { pick >> 4 },
                    accepted: input.u8(),
                    flags: input.u8(),
                };
                let d = input.bytes(255);
                let rx = e.on_packet(now, &h.encode(d)).expect("well-formed packet");
                assert!(rx.data.len() <= d.len());
                assert_eq!(rx.deactivating, h.flags & sol_status::DEACTIVATING != 0);
                m.on_rx(&h, d.len());
            }
            4 => {
                now += Duration::from_millis(u64::from(input.u16()));
                if e.on_timeout(now).is_err() {
                    return;
                }
            }
            _ => {
                if let Some(t) = e.poll_timeout() {
                    now = now.max(t);
                    if e.on_timeout(now).is_err() {
                        return;
                    }
                }
            }
        }
        drain(&mut e, &mut m, now);
        assert!(m.acked <= m.taken.len());
        // Time only moves together with `on_timeout`: a deadline already due
        // would make the caller's timer spin.
        assert!(
            e.poll_timeout().is_none_or(|t| t > now),
            "a due timer with nothing to do"
        );
    }
}
