//! The SOL payload engine: one stop-and-wait transmitter and a receiver that
//! deduplicates BMC retransmissions, as in IPMI v2.0 §15 and FreeIPMI's
//! libipmiconsole.
//!
//! It works on plaintext SOL payloads (4-byte header plus characters); the
//! session wraps them in RMCP+ packets. Transmit rules:
//!
//! - at most one data or break packet in flight; sequence numbers 1..=15, never 0;
//! - a retransmission repeats the frozen bytes and sequence number (without the
//!   piggybacked ack), a partial acceptance sends the rest under a new number;
//! - a NACK holds new data until a NACK-free packet arrives or one retransmission
//!   interval passes;
//! - a break goes out after exactly the bytes queued before it.
//!
//! Receive rules: a repeated sequence number delivers only the bytes past those
//! already delivered; every data packet is acked with everything accepted.

use std::collections::VecDeque;
use std::time::Instant;

use super::Timing;
use super::wire::{SolHeader, WireError, sol_op, sol_status};

/// Default bound on input queued toward the BMC (bytes not yet acked).
pub const DEFAULT_INPUT_LIMIT: usize = 2048;

/// What one BMC SOL packet meant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SolRx {
    /// New console output to deliver (empty if none).
    pub data: Vec<u8>,
    /// The BMC set "SOL deactivating".
    pub deactivating: bool,
    /// The BMC reports characters lost on its serial side.
    pub overrun: bool,
    /// The BMC reports character transfer unavailable.
    pub transfer_unavailable: bool,
    /// The BMC saw a break on the host serial line.
    pub break_detected: bool,
}

/// The transmit side gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("excess SOL retransmissions")]
pub struct ExcessRetransmissions;

/// A data or break packet waiting for its ack.
#[derive(Debug, Clone)]
struct InFlight {
    /// SOL sequence number.
    seq: u8,
    /// Characters carried (a prefix of `pending`).
    chars: usize,
    /// Carries the break bit.
    brk: bool,
    /// Payload for retransmission (ack fields cleared).
    retx: Vec<u8>,
    /// Retransmissions so far.
    retransmits: u32,
    /// When to retransmit.
    deadline: Instant,
    /// The deadline passed: resend on the next poll.
    resend: bool,
}

/// SOL state for one activated payload instance.
#[derive(Debug)]
pub struct SolEngine {
    /// Characters per packet toward the BMC (1..=255).
    max_chars: usize,
    /// Input not yet acked by the BMC; the in-flight characters are its prefix.
    pending: VecDeque<u8>,
    /// Bound on `pending`.
    input_limit: usize,
    /// Queued breaks, each as the number of `pending` bytes that go before it.
    breaks: VecDeque<usize>,
    /// Last sequence number used (0 before the first packet).
    tx_seq: u8,
    /// The unacked packet, if any.
    in_flight: Option<InFlight>,
    /// Sequence number and length of the last BMC data packet.
    last_rx: Option<(u8, usize)>,
    /// An ack we owe the BMC: (sequence, accepted count).
    ack_due: Option<(u8, u8)>,
    /// New data is held (NACK) until this time or a NACK-free packet.
    hold_until: Option<Instant>,
    /// Timers.
    timing: Timing,
    /// Workaround `solpacketseq`: after max retransmissions, move the stuck
    /// packet to a new sequence number once and try again.
    bump_seq_once: bool,
}

impl SolEngine {
    /// A fresh engine sending at most `max_chars` characters per packet.
    pub fn new(max_chars: usize, timing: Timing) -> SolEngine {
        SolEngine {
            max_chars: max_chars.clamp(1, 255),
            pending: VecDeque::new(),
            input_limit: DEFAULT_INPUT_LIMIT,
            breaks: VecDeque::new(),
            tx_seq: 0,
            in_flight: None,
            last_rx: None,
            ack_due: None,
            hold_until: None,
            timing,
            bump_seq_once: false,
        }
    }

    /// Enable the `solpacketseq` workaround (Intel/Quanta/Wiwynn Windmill).
    pub fn set_bump_seq_once(&mut self, on: bool) {
        self.bump_seq_once = on;
    }

    /// Characters per packet.
    pub fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// Room left for input.
    pub fn input_space(&self) -> usize {
        self.input_limit.saturating_sub(self.pending.len())
    }

    /// Queue input; returns how many bytes were taken (bounded by
    /// [`SolEngine::input_space`]).
    pub fn queue_input(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.input_space());
        self.pending.extend(&data[..n]);
        n
    }

    /// Queue a break after all input queued so far.
    pub fn queue_break(&mut self) {
        if self.breaks.len() < 16 {
            self.breaks.push_back(self.pending.len());
        }
    }

    /// Whether nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.breaks.is_empty() && self.in_flight.is_none()
    }

    /// The earliest time [`SolEngine::on_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self
            .in_flight
            .as_ref()
            .filter(|f| !f.resend)
            .map(|f| f.deadline);
        match (a, self.hold_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advance timers: mark an overdue packet for retransmission, or give up.
    pub fn on_timeout(&mut self, now: Instant) -> Result<(), ExcessRetransmissions> {
        if self.hold_until.is_some_and(|t| t <= now) {
            self.hold_until = None;
        }
        if let Some(f) = &mut self.in_flight
            && !f.resend
            && f.deadline <= now
        {
            if f.retransmits >= self.timing.max_retransmits {
                if !self.bump_seq_once {
                    return Err(ExcessRetransmissions);
                }
                self.bump_seq_once = false;
                self.tx_seq = if self.tx_seq >= 15 {
                    1
                } else {
                    self.tx_seq + 1
                };
                f.seq = self.tx_seq;
                f.retx[0] = self.tx_seq;
                f.retransmits = 0;
            }
            f.resend = true;
        }
        Ok(())
    }

    /// Process one SOL payload from the BMC.
    pub fn on_packet(&mut self, now: Instant, payload: &[u8]) -> Result<SolRx, WireError> {
        let (h, data) = SolHeader::decode(payload)?;
        let nack = h.flags & sol_status::NACK != 0;
        if h.ack_seq != 0
            && let Some(f) = self.in_flight.take_if(|f| f.seq == h.ack_seq)
        {
            let acc = usize::from(h.accepted).min(f.chars);
            self.pending.drain(..acc);
            for b in self.breaks.iter_mut() {
                *b = b.saturating_sub(acc);
            }
            if f.brk && !nack {
                self.breaks.pop_front();
            }
            if nack {
                self.hold_until = Some(now + self.timing.retransmit_delay(0));
            }
        }
        if !nack {
            self.hold_until = None;
        }
        let mut rx = SolRx {
            deactivating: h.flags & sol_status::DEACTIVATING != 0,
            overrun: h.flags & sol_status::OVERRUN != 0,
            transfer_unavailable: h.flags & sol_status::TRANSFER_UNAVAILABLE != 0,
            break_detected: h.flags & sol_status::BREAK_DETECTED != 0,
            data: Vec::new(),
        };
        if h.seq != 0 {
            let skip = match self.last_rx {
                Some((s, len)) if s == h.seq => len.min(data.len()),
                _ => 0,
            };
            rx.data = data[skip..].to_vec();
            self.last_rx = Some((h.seq, data.len()));
            // We accept everything; the daemon buffers. At most 255 per packet is
            // what the one-byte count can say.
            self.ack_due = Some((h.seq, data.len().min(255) as u8));
        }
        Ok(rx)
    }

    fn next_seq(&mut self) -> u8 {
        self.tx_seq = if self.tx_seq >= 15 {
            1
        } else {
            self.tx_seq + 1
        };
        self.tx_seq
    }

    /// The next SOL payload to send, if any: a due retransmission, a new data or
    /// break packet (carrying any owed ack), or an ack-only packet.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(f) = &mut self.in_flight
            && f.resend
        {
            f.resend = false;
            f.retransmits += 1;
            f.deadline = now + self.timing.retransmit_delay(f.retransmits);
            return Some(f.retx.clone());
        }
        let held = self.hold_until.is_some_and(|t| now < t);
        if self.in_flight.is_none() && !held {
            let limit = self.breaks.front().copied().unwrap_or(usize::MAX);
            let (chars, brk) = if limit == 0 {
                (0, true)
            } else {
                (self.max_chars.min(self.pending.len()).min(limit), false)
            };
            if chars > 0 || brk {
                let seq = self.next_seq();
                let (ack_seq, accepted) = self.ack_due.take().unwrap_or((0, 0));
                let data: Vec<u8> = self.pending.iter().take(chars).copied().collect();
                let flags = if brk { sol_op::BREAK } else { 0 };
                let h = SolHeader {
                    seq,
                    ack_seq,
                    accepted,
                    flags,
                };
                let first = h.encode(&data);
                let retx = SolHeader {
                    ack_seq: 0,
                    accepted: 0,
                    ..h
                }
                .encode(&data);
                self.in_flight = Some(InFlight {
                    seq,
                    chars,
                    brk,
                    retx,
                    retransmits: 0,
                    deadline: now + self.timing.retransmit_delay(0),
                    resend: false,
                });
                return Some(first);
            }
        }
        self.ack_due.take().map(|(s, a)| {
            SolHeader {
                seq: 0,
                ack_seq: s,
                accepted: a,
                flags: 0,
            }
            .encode(&[])
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn eng(max: usize) -> (SolEngine, Instant) {
        (SolEngine::new(max, Timing::default()), Instant::now())
    }

    fn hdr(p: &[u8]) -> (SolHeader, Vec<u8>) {
        let (h, d) = SolHeader::decode(p).unwrap();
        (h, d.to_vec())
    }

    fn ack(seq: u8, acc: u8, flags: u8) -> Vec<u8> {
        SolHeader {
            seq: 0,
            ack_seq: seq,
            accepted: acc,
            flags,
        }
        .encode(&[])
    }

    #[test]
    fn data_is_split_acked_and_sequence_wraps_15_to_1() {
        let (mut e, t) = eng(4);
        e.queue_input(&[b'x'; 64]);
        let mut seqs = vec![];
        for _ in 0..16 {
            let (h, d) = hdr(&e.poll_transmit(t).unwrap());
            assert_eq!(d.len(), 4);
            seqs.push(h.seq);
            assert!(e.poll_transmit(t).is_none(), "stop-and-wait");
            e.on_packet(t, &ack(h.seq, 4, 0)).unwrap();
        }
        assert_eq!(seqs[..15], (1..=15).collect::<Vec<u8>>()[..]);
        assert_eq!(seqs[15], 1);
        assert!(e.is_idle());
    }

    #[test]
    fn partial_ack_sends_rest_under_new_seq() {
        let (mut e, t) = eng(10);
        e.queue_input(b"0123456789ab");
        let (h, d) = hdr(&e.poll_transmit(t).unwrap());
        assert_eq!(d, b"0123456789");
        e.on_packet(t, &ack(h.seq, 7, 0)).unwrap();
        let (h2, d2) = hdr(&e.poll_transmit(t).unwrap());
        assert_eq!(h2.seq, h.seq + 1);
        assert_eq!(d2, b"789ab");
    }

    #[test]
    fn retransmission_is_byte_identical_without_ack_and_gives_up() {
        let (mut e, t) = eng(8);
        // Owe an ack so the first packet piggybacks it.
        let bmc = SolHeader {
            seq: 3,
            ack_seq: 0,
            accepted: 0,
            flags: 0,
        }
        .encode(b"hi");
        assert_eq!(e.on_packet(t, &bmc).unwrap().data, b"hi");
        e.queue_input(b"abc");
        let (h, d) = hdr(&e.poll_transmit(t).unwrap());
        assert_eq!((h.ack_seq, h.accepted), (3, 2));
        e.queue_input(b"more");
        for i in 0..Timing::default().max_retransmits {
            let now = e.poll_timeout().unwrap();
            e.on_timeout(now).unwrap();
            let (h2, d2) = hdr(&e.poll_transmit(now).unwrap());
            assert_eq!((h2.seq, h2.ack_seq, h2.accepted), (h.seq, 0, 0), "retx {i}");
            assert_eq!(d2, d);
        }
        let now = e.poll_timeout().unwrap();
        assert_eq!(e.on_timeout(now), Err(ExcessRetransmissions));
    }

    #[test]
    fn solpacketseq_moves_a_stuck_packet_to_a_new_seq_once() {
        let (mut e, t) = eng(8);
        e.set_bump_seq_once(true);
        e.queue_input(b"abc");
        let (h, d) = hdr(&e.poll_transmit(t).unwrap());
        let max = Timing::default().max_retransmits;
        for _ in 0..max {
            let now = e.poll_timeout().unwrap();
            e.on_timeout(now).unwrap();
            assert_eq!(hdr(&e.poll_transmit(now).unwrap()).0.seq, h.seq);
        }
        let now = e.poll_timeout().unwrap();
        e.on_timeout(now).unwrap();
        let (h2, d2) = hdr(&e.poll_transmit(now).unwrap());
        assert_eq!((h2.seq, d2), (h.seq + 1, d));
        for _ in 1..max {
            let now = e.poll_timeout().unwrap();
            e.on_timeout(now).unwrap();
            e.poll_transmit(now).unwrap();
        }
        let now = e.poll_timeout().unwrap();
        assert_eq!(e.on_timeout(now), Err(ExcessRetransmissions), "only once");
    }

    #[test]
    fn nack_holds_new_data_until_cleared() {
        let (mut e, t) = eng(4);
        e.queue_input(b"abcdefgh");
        let (h, _) = hdr(&e.poll_transmit(t).unwrap());
        e.on_packet(t, &ack(h.seq, 2, sol_status::NACK)).unwrap();
        assert!(e.poll_transmit(t).is_none(), "held by NACK");
        e.on_packet(t, &ack(h.seq, 2, 0)).unwrap();
        let (h2, d2) = hdr(&e.poll_transmit(t).unwrap());
        assert_eq!(d2, b"cdef");
        assert_ne!(h2.seq, h.seq);
        // NACK without a follow-up: released after one interval.
        e.on_packet(t, &ack(h2.seq, 0, sol_status::NACK)).unwrap();
        assert!(e.poll_transmit(t).is_none());
        let later = t + Duration::from_secs(1);
        e.on_timeout(later).unwrap();
        assert_eq!(hdr(&e.poll_transmit(later).unwrap()).1, b"cdef");
    }

    #[test]
    fn duplicate_bmc_packet_delivers_only_new_tail_and_is_reacked() {
        let (mut e, t) = eng(4);
        let p = |d: &[u8]| {
            SolHeader {
                seq: 5,
                ..Default::default()
            }
            .encode(d)
        };
        assert_eq!(e.on_packet(t, &p(b"abc")).unwrap().data, b"abc");
        assert_eq!(hdr(&e.poll_transmit(t).unwrap()).0.ack_seq, 5);
        assert_eq!(e.on_packet(t, &p(b"abc")).unwrap().data, b"");
        assert_eq!(hdr(&e.poll_transmit(t).unwrap()).0.accepted, 3);
        assert_eq!(e.on_packet(t, &p(b"abcde")).unwrap().data, b"de");
        let (h, _) = hdr(&e.poll_transmit(t).unwrap());
        assert_eq!((h.seq, h.ack_seq, h.accepted), (0, 5, 5));
    }

    #[test]
    fn break_goes_after_queued_bytes_and_before_later_ones() {
        let (mut e, t) = eng(3);
        e.queue_input(b"abcd");
        e.queue_break();
        e.queue_input(b"XY");
        let mut order = vec![];
        while let Some(p) = e.poll_transmit(t) {
            let (h, d) = hdr(&p);
            order.push((h.flags & sol_op::BREAK != 0, d.clone()));
            e.on_packet(t, &ack(h.seq, d.len() as u8, 0)).unwrap();
        }
        assert_eq!(
            order,
            vec![
                (false, b"abc".to_vec()),
                (false, b"d".to_vec()),
                (true, vec![]),
                (false, b"XY".to_vec())
            ]
        );
    }

    #[test]
    fn stale_and_garbage_acks_are_ignored() {
        let (mut e, t) = eng(4);
        e.queue_input(b"abcd");
        let (h, _) = hdr(&e.poll_transmit(t).unwrap());
        e.on_packet(t, &ack(h.seq + 1, 4, 0)).unwrap();
        assert!(!e.is_idle());
        assert!(e.on_packet(t, &[1, 2]).is_err());
        // Claiming more than sent is clamped.
        e.on_packet(t, &ack(h.seq, 200, 0)).unwrap();
        assert!(e.is_idle());
    }

    #[test]
    fn deactivating_bit_is_reported() {
        let (mut e, t) = eng(4);
        let rx = e
            .on_packet(t, &ack(0, 0, sol_status::DEACTIVATING))
            .unwrap();
        assert!(rx.deactivating);
    }

    #[test]
    fn input_is_bounded() {
        let (mut e, _) = eng(4);
        assert_eq!(
            e.queue_input(&vec![0; DEFAULT_INPUT_LIMIT + 10]),
            DEFAULT_INPUT_LIMIT
        );
        assert_eq!(e.queue_input(b"x"), 0);
    }
}
