//! Console alerts: kernel incidents (and an operator's own patterns) recognised in
//! console output as it scrolls by.
//!
//! - [`rules`]: the rule model, the rules file format and the built-in pack.
//! - [`RuleSet`]: every enabled rule compiled into one matcher: an Aho–Corasick
//!   prefilter over each rule's literal prefixes, then one [`regex::RegexSet`] pass
//!   for the lines the prefilter lets through (most lines are rejected by the
//!   prefilter alone, whatever the number of rules).
//! - [`Scanner`]: one per console. Bytes in (what a reader would see: the telnet or
//!   SOL framing is already gone), [`Incident`]s out. It cuts lines, drops terminal
//!   escape sequences and control bytes, keeps a little context, groups a
//!   multi-line incident (an oops and its Call Trace) into one incident per rule,
//!   holds repeats back for the rule's de-duplication window and mutes `resetmute`
//!   rules after an operator's reset.
//!
//! Nothing here reads a clock: callers pass monotonic milliseconds.

pub mod rules;
pub mod url;

use std::collections::VecDeque;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexSet};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

pub use rules::{Actions, Rule, RulesError, Severity};

/// Bytes of a line that are matched and kept; the rest of a longer line is ignored.
pub const MAX_LINE: usize = 512;
/// Bytes of context kept per console before a match (older lines are dropped first).
pub const RING_BYTES: usize = 2048;
/// With no output for this long, a partial line counts as complete and open
/// incidents are closed with the context they have (a panicked machine says
/// nothing more).
pub const SETTLE_MS: u64 = 2000;

/// A rule set that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A rule's regex (checked when its file was read, so only a size limit can fail here).
    #[error("rule \"{id}\": {message}")]
    Regex {
        /// The rule.
        id: String,
        /// Why.
        message: String,
    },
    /// The combined matcher could not be built.
    #[error("alert rules: {0}")]
    Combined(String),
}

/// Every enabled rule, compiled into one matcher.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    prefilter: Option<AhoCorasick>,
    /// Rules without a usable literal prefix: the set runs on every line if any.
    unfiltered: Vec<usize>,
    set: RegexSet,
    ends: Vec<Option<Regex>>,
    /// Per rule, its `unless` regex.
    unless: Vec<Option<Regex>>,
    /// The most `before` lines any rule wants.
    max_before: usize,
}

const SIZE_LIMIT: usize = 8 << 20;

impl RuleSet {
    /// Compiles the enabled rules of `rules`.
    pub fn compile(rules: &[Rule]) -> Result<RuleSet, CompileError> {
        let rules: Vec<Rule> = rules.iter().filter(|r| r.enabled).cloned().collect();
        let mut needles: Vec<Vec<u8>> = Vec::new();
        let mut unfiltered = Vec::new();
        let mut ends = Vec::new();
        let mut unless = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match literal_prefixes(&r.pattern) {
                Some(lits) => needles.extend(lits),
                None => unfiltered.push(i),
            }
            ends.push(side_regex(r, r.end.as_deref())?);
            unless.push(side_regex(r, r.unless.as_deref())?);
        }
        needles.sort();
        needles.dedup();
        let prefilter = if needles.is_empty() {
            None
        } else {
            Some(
                // Leftmost-first lets the crate use its SIMD (Teddy) searcher for
                // a few dozen literals; only "is there one" is asked anyway.
                AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                    .build(&needles)
                    .map_err(|e| CompileError::Combined(e.to_string()))?,
            )
        };
        let set = regex::RegexSetBuilder::new(rules.iter().map(|r| r.pattern.as_str()))
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| CompileError::Combined(e.to_string()))?;
        let max_before = rules.iter().map(|r| r.before).max().unwrap_or(0);
        Ok(RuleSet {
            rules,
            prefilter,
            unfiltered,
            set,
            ends,
            unless,
            max_before,
        })
    }

    /// The enabled rules, in the order [`Incident::rule`] indexes.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many rules run on every line because no literal prefix was found.
    pub fn unfiltered(&self) -> usize {
        self.unfiltered.len()
    }

    /// The rules `line` matches, in rule order.
    pub fn matches(&self, line: &str) -> Vec<usize> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let maybe = !self.unfiltered.is_empty()
            || self.prefilter.as_ref().is_some_and(|p| p.is_match(line));
        if !maybe {
            return Vec::new();
        }
        self.set
            .matches(line)
            .into_iter()
            .filter(|&r| !self.unless[r].as_ref().is_some_and(|re| re.is_match(line)))
            .collect()
    }

    fn ends(&self, rule: usize, line: &str) -> bool {
        self.ends[rule].as_ref().is_some_and(|re| re.is_match(line))
    }
}

/// A rule's `end` or `unless` regex, compiled.
fn side_regex(r: &Rule, pattern: Option<&str>) -> Result<Option<Regex>, CompileError> {
    pattern
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| CompileError::Regex {
                    id: r.id.clone(),
                    message: e.to_string(),
                })
        })
        .transpose()
}

/// The literals every match of `pattern` starts with, or `None` when there is no
/// finite, non-empty set (the rule then runs on every line).
fn literal_prefixes(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    seq.optimize_for_prefix_by_preference();
    let lits = seq.literals()?;
    if lits.is_empty() || lits.iter().any(|l| l.as_bytes().len() < 3) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// One incident on one console: a rule's matching line with its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Index into [`RuleSet::rules`].
    pub rule: usize,
    /// The matching line (at most [`MAX_LINE`] bytes, control characters removed).
    pub line: String,
    /// Lines before it, oldest first.
    pub before: Vec<String>,
    /// Lines after it, up to the rule's `after` or its `end` line.
    pub after: Vec<String>,
    /// Offset of the matching line in the console's output stream (bytes fed to
    /// this scanner before the line's first byte).
    pub offset: u64,
    /// When the line was seen (the caller's monotonic milliseconds).
    pub at_ms: u64,
    /// Further lines of the same rule folded into this incident.
    pub repeats: u32,
    /// Matches held back by the de-duplication window since the rule's last incident.
    pub suppressed: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// After ESC.
    Start,
    /// In a CSI sequence (`ESC [` … final byte).
    Csi,
    /// In an OSC or other string sequence (to BEL or ESC \).
    Str,
}

#[derive(Debug)]
struct Open {
    inc: Incident,
}

#[derive(Debug, Clone, Copy)]
struct Fired {
    rule: usize,
    at_ms: u64,
    suppressed: u32,
}

/// One console's alert scanner.
#[derive(Debug)]
pub struct Scanner {
    rules: Arc<RuleSet>,
    line: Vec<u8>,
    esc: Esc,
    /// Stream offset of the current line's first byte.
    line_start: u64,
    /// Bytes fed so far.
    offset: u64,
    /// Recent lines, each followed by `\n`, at most [`RING_BYTES`].
    ring: VecDeque<u8>,
    ring_lines: usize,
    open: Vec<Open>,
    fired: Vec<Fired>,
    reset_at: Option<u64>,
    last_ms: u64,
    /// Tests turn the fast path off to compare it with the line-by-line one.
    #[cfg(test)]
    no_skim: bool,
}

impl Scanner {
    /// A scanner for one console.
    pub fn new(rules: Arc<RuleSet>) -> Scanner {
        Scanner {
            rules,
            line: Vec::new(),
            esc: Esc::None,
            line_start: 0,
            offset: 0,
            ring: VecDeque::new(),
            ring_lines: 0,
            open: Vec::new(),
            fired: Vec::new(),
            reset_at: None,
            last_ms: 0,
            #[cfg(test)]
            no_skim: false,
        }
    }

    /// The rules this scanner matches.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Console output. Finished incidents are appended to `out`.
    pub fn feed(&mut self, data: &[u8], now_ms: u64, out: &mut Vec<Incident>) {
        self.last_ms = now_ms;
        #[cfg(test)]
        let skim = !self.no_skim;
        #[cfg(not(test))]
        let skim = true;
        if skim && self.skim(data) {
            self.offset += data.len() as u64;
            return;
        }
        let mut i = 0;
        while i < data.len() {
            if self.esc == Esc::None {
                // The common case: a run of printable bytes.
                let run = data[i..]
                    .iter()
                    .position(|&b| b < 0x20 || b == 0x7f)
                    .unwrap_or(data.len() - i);
                if run > 0 {
                    let room = MAX_LINE.saturating_sub(self.line.len());
                    self.line.extend_from_slice(&data[i..i + run.min(room)]);
                    i += run;
                    continue;
                }
            }
            let b = data[i];
            i += 1;
            match self.esc {
                Esc::None => match b {
                    b'\n' => {
                        self.end_line(now_ms, out);
                        // `offset` counts the bytes before this chunk until the end.
                        self.line_start = self.offset + i as u64;
                    }
                    b'\t' if self.line.len() < MAX_LINE => self.line.push(b' '),
                    0x1b => self.esc = Esc::Start,
                    _ => {}
                },
                Esc::Start => {
                    self.esc = match b {
                        b'[' => Esc::Csi,
                        b']' | b'P' | b'X' | b'^' | b'_' => Esc::Str,
                        _ => Esc::None,
                    }
                }
                Esc::Csi => {
                    if (0x40..=0x7e).contains(&b) {
                        self.esc = Esc::None;
                    } else if b == b'\n' {
                        // A broken sequence must not swallow the line end.
                        self.esc = Esc::None;
                        i -= 1;
                    }
                }
                Esc::Str => match b {
                    0x07 => self.esc = Esc::None,
                    0x1b => self.esc = Esc::Start,
                    b'\n' => {
                        self.esc = Esc::None;
                        i -= 1;
                    }
                    _ => {}
                },
            }
        }
        self.offset += data.len() as u64;
    }

    /// The fast path, taken when it gives exactly what the line-by-line path would:
    /// nothing is open, every rule has a literal prefix, `data` is plain text
    /// (printable bytes and line ends; a `\r` only before `\n`), so each cleaned
    /// line is a prefix of its raw bytes, and the prefilter finds no literal in
    /// the raw bytes (with the unfinished line before them): then no line can
    /// match and only the line state and the context ring change. False when
    /// `data` must go line by line (nothing was changed then).
    fn skim(&mut self, data: &[u8]) -> bool {
        let rules = &self.rules;
        if self.esc != Esc::None || !self.open.is_empty() || !rules.unfiltered.is_empty() {
            return false;
        }
        let Some(pre) = rules.prefilter.as_ref() else {
            return false;
        };
        if !plain(data) {
            return false;
        }
        let first_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
        if !self.line.is_empty() {
            let mut joined = Vec::with_capacity(self.line.len() + first_end);
            joined.extend_from_slice(&self.line);
            joined.extend_from_slice(&data[..first_end]);
            if pre.is_match(&joined[..]) {
                return false;
            }
        }
        if pre.is_match(data) {
            return false;
        }
        match memchr::memrchr(b'\n', data) {
            None => self.extend_line(data),
            Some(last) => {
                self.remember_lines(&data[..last]);
                self.line.clear();
                self.extend_line(&data[last + 1..]);
                self.line_start = self.offset + last as u64 + 1;
            }
        }
        true
    }

    /// Plain bytes onto the current line, as the line-by-line path keeps them.
    fn extend_line(&mut self, plain: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&plain[..plain.len().min(room)]);
    }

    /// `complete`: plain whole lines (the first continuing the current line), the
    /// last one without its `\n`. The context ring gets the ones it keeps.
    fn remember_lines(&mut self, complete: &[u8]) {
        let keep = self.rules.max_before;
        if keep == 0 {
            return;
        }
        // The last `keep` lines, oldest first.
        let mut ends = Vec::with_capacity(keep);
        let mut end = complete.len();
        let mut reached_first = false;
        while ends.len() < keep {
            match memchr::memrchr(b'\n', &complete[..end]) {
                Some(nl) => {
                    ends.push((nl + 1, end));
                    end = nl;
                }
                None => {
                    ends.push((0, end));
                    reached_first = true;
                    break;
                }
            }
        }
        if !reached_first {
            // `keep` new lines: everything older would be dropped for them.
            self.ring.clear();
            self.ring_lines = 0;
        }
        for &(start, end) in ends.iter().rev() {
            let raw = &complete[start..end];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let mut line = Vec::new();
            if start == 0 && reached_first {
                line.extend_from_slice(&self.line);
            }
            let room = MAX_LINE.saturating_sub(line.len());
            line.extend_from_slice(&raw[..raw.len().min(room)]);
            self.remember(&String::from_utf8_lossy(&line));
        }
    }

    /// When [`Scanner::expire`] has something to do, if ever.
    pub fn deadline(&self) -> Option<u64> {
        (!self.open.is_empty() || !self.line.is_empty()).then_some(self.last_ms + SETTLE_MS)
    }

    /// After [`SETTLE_MS`] without output: a partial line is taken as complete and
    /// open incidents are closed.
    pub fn expire(&mut self, now_ms: u64, out: &mut Vec<Incident>) {
        if now_ms < self.last_ms + SETTLE_MS {
            return;
        }
        if !self.line.is_empty() {
            self.end_line(now_ms, out);
            self.line_start = self.offset;
        }
        self.close_all(out);
    }

    /// The console is going away: close what is open.
    pub fn finish(&mut self, now_ms: u64, out: &mut Vec<Incident>) {
        if !self.line.is_empty() {
            self.end_line(now_ms, out);
        }
        self.close_all(out);
    }

    /// An operator reset the machine: rules with `resetmute` stay quiet a while.
    pub fn reset_started(&mut self, now_ms: u64) {
        self.reset_at = Some(now_ms);
    }

    fn close_all(&mut self, out: &mut Vec<Incident>) {
        out.extend(self.open.drain(..).map(|o| o.inc));
    }

    fn end_line(&mut self, now_ms: u64, out: &mut Vec<Incident>) {
        let raw = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&raw).into_owned();
        self.line = raw;
        self.line.clear();
        let rules = self.rules.clone();
        // The line continues every open incident first.
        let mut k = 0;
        while k < self.open.len() {
            let o = &mut self.open[k];
            let rule = &rules.rules[o.inc.rule];
            o.inc.after.push(text.clone());
            let done = rules.ends(o.inc.rule, &text) || o.inc.after.len() >= rule.after;
            if done {
                out.push(self.open.swap_remove(k).inc);
            } else {
                k += 1;
            }
        }
        for r in rules.matches(&text) {
            self.matched(r, &text, now_ms, out);
        }
        self.remember(&text);
    }

    fn matched(&mut self, r: usize, text: &str, now_ms: u64, out: &mut Vec<Incident>) {
        let rules = self.rules.clone();
        let rule = &rules.rules[r];
        if let Some(o) = self.open.iter_mut().find(|o| o.inc.rule == r) {
            o.inc.repeats += 1;
            return;
        }
        if self
            .reset_at
            .is_some_and(|t| now_ms < t.saturating_add(rule.reset_mute.as_millis() as u64))
        {
            return;
        }
        let dedup = rule.dedup.as_millis() as u64;
        let mut suppressed = 0;
        if let Some(f) = self.fired.iter_mut().find(|f| f.rule == r) {
            if now_ms < f.at_ms.saturating_add(dedup) {
                f.suppressed = f.suppressed.saturating_add(1);
                return;
            }
            suppressed = f.suppressed;
            f.at_ms = now_ms;
            f.suppressed = 0;
        } else {
            self.fired.push(Fired {
                rule: r,
                at_ms: now_ms,
                suppressed: 0,
            });
        }
        let inc = Incident {
            rule: r,
            line: text.to_string(),
            before: self.recent(rule.before),
            after: Vec::new(),
            offset: self.line_start,
            at_ms: now_ms,
            repeats: 0,
            suppressed,
        };
        if rule.after == 0 {
            out.push(inc);
        } else {
            self.open.push(Open { inc });
        }
    }

    /// The last `n` lines, oldest first.
    fn recent(&self, n: usize) -> Vec<String> {
        if n == 0 || self.ring.is_empty() {
            return Vec::new();
        }
        let bytes: Vec<u8> = self.ring.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn remember(&mut self, text: &str) {
        let max_lines = self.rules.max_before;
        if max_lines == 0 {
            return;
        }
        let bytes = text.as_bytes();
        let bytes = &bytes[..bytes.len().min(RING_BYTES - 1)];
        self.ring.extend(bytes.iter().copied());
        self.ring.push_back(b'\n');
        self.ring_lines += 1;
        while self.ring.len() > RING_BYTES || self.ring_lines > max_lines {
            // Drop the oldest line.
            let (a, b) = self.ring.as_slices();
            let cut = memchr::memchr(b'\n', a)
                .map(|p| p + 1)
                .or_else(|| memchr::memchr(b'\n', b).map(|p| a.len() + p + 1))
                .unwrap_or(self.ring.len());
            self.ring.drain(..cut);
            self.ring_lines -= 1;
        }
    }
}

/// Printable bytes and line ends only, a `\r` only right before a `\n`: text
/// the line-by-line path keeps as it is (bar the `\r`).
fn plain(data: &[u8]) -> bool {
    // One pass the compiler can vectorise, then the few line-end bytes checked.
    let controls: usize = data
        .chunks(255)
        .map(|c| {
            // A u8 sum per 255 bytes cannot overflow and vectorises well.
            c.iter()
                .map(|&b| u8::from(b < 0x20) | u8::from(b == 0x7f))
                .fold(0u8, u8::wrapping_add) as usize
        })
        .sum();
    let mut line_ends = 0;
    for nl in memchr::memchr_iter(b'\n', data) {
        line_ends += 1;
        if nl > 0 && data[nl - 1] == b'\r' {
            line_ends += 1;
        }
    }
    controls == line_ends
}

#[cfg(test)]
mod tests;
