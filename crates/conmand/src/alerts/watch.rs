//! The part of alerting a console actor owns: its scanner over the current rules,
//! the timer that closes an incident when the console falls silent, and the
//! hand-over of incidents to the [`AlertHub`].

use std::pin::Pin;
use std::sync::Arc;

use conmand_core::alerts::{Incident, RuleSet, Scanner};
use tokio::time::Sleep;

use super::{AlertHub, instant_of, now_ms};
use crate::logfile::LogHandle;

/// One console's alert matching.
pub struct Watch {
    hub: Arc<AlertHub>,
    set: Arc<RuleSet>,
    generation: u64,
    scanner: Scanner,
    /// Bytes fed to the scanner (its stream offsets count from here).
    fed: u64,
    /// Armed while the scanner has a partial line or an open incident.
    timer: Option<Pin<Box<Sleep>>>,
    out: Vec<Incident>,
}

impl Watch {
    /// A watch over the hub's current rules.
    pub fn new(hub: Arc<AlertHub>) -> Box<Watch> {
        let (set, generation) = hub.rules();
        Box::new(Watch {
            scanner: Scanner::new(set.clone()),
            hub,
            set,
            generation,
            fed: 0,
            timer: None,
            out: Vec::new(),
        })
    }

    /// Console output (after it was queued to the log, so `log` can place it).
    pub fn output(&mut self, console: &Arc<str>, bytes: &[u8], log: Option<&LogHandle>) {
        if self.hub.generation() != self.generation {
            self.reload();
        }
        if self.set.is_empty() {
            return;
        }
        let now = now_ms();
        self.scanner.feed(bytes, now, &mut self.out);
        self.fed += bytes.len() as u64;
        self.hand_over(console, log, now);
        if self.timer.is_none() {
            self.arm();
        }
    }

    /// The settle timer, while armed (the actor waits on it beside its other events).
    pub fn timer(&mut self) -> Option<&mut Pin<Box<Sleep>>> {
        self.timer.as_mut()
    }

    /// The settle timer fired.
    pub fn expired(&mut self, console: &Arc<str>, log: Option<&LogHandle>) {
        self.timer = None;
        let now = now_ms();
        self.scanner.expire(now, &mut self.out);
        self.hand_over(console, log, now);
        // Output since the timer was armed moved the deadline: wait again.
        self.arm();
    }

    /// An operator reset the machine (`&R`).
    pub fn reset_started(&mut self) {
        self.scanner.reset_started(now_ms());
    }

    /// The console is stopping: what is open is handed over.
    pub fn finish(&mut self, console: &Arc<str>, log: Option<&LogHandle>) {
        let now = now_ms();
        self.scanner.finish(now, &mut self.out);
        self.hand_over(console, log, now);
        self.timer = None;
    }

    fn arm(&mut self) {
        self.timer = self
            .scanner
            .deadline()
            .map(|ms| Box::pin(tokio::time::sleep_until(instant_of(ms).into())));
    }

    fn reload(&mut self) {
        let (set, generation) = self.hub.rules();
        // What was open under the old rules is dropped with them.
        self.scanner = Scanner::new(set.clone());
        self.set = set;
        self.generation = generation;
        self.fed = 0;
        self.timer = None;
    }

    fn hand_over(&mut self, console: &Arc<str>, log: Option<&LogHandle>, now: u64) {
        for inc in self.out.drain(..) {
            let back = self.fed.saturating_sub(inc.offset);
            let pos = log.map(|l| l.position(back));
            self.hub.submit(console, &self.set, inc, now, pos);
        }
    }
}
