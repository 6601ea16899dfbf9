use super::*;
use proptest::prelude::*;

/// The built-in pack, compiled once (a debug-build compile takes a good part of a
/// second, and the property tests want it hundreds of times).
fn pack() -> Arc<RuleSet> {
    static PACK: std::sync::LazyLock<Arc<RuleSet>> = std::sync::LazyLock::new(|| {
        Arc::new(RuleSet::compile(&rules::builtin()).expect("pack compiles"))
    });
    PACK.clone()
}

fn ids(set: &RuleSet, incs: &[Incident]) -> Vec<String> {
    incs.iter()
        .map(|i| set.rules()[i.rule].id.clone())
        .collect()
}

fn scan(set: &Arc<RuleSet>, text: &str) -> Vec<Incident> {
    let mut s = Scanner::new(set.clone());
    let mut out = Vec::new();
    s.feed(text.as_bytes(), 1000, &mut out);
    s.finish(1000, &mut out);
    out
}

const OOPS: &str = "\
[   12.000000] eth0: link up\r\n\
[   13.482915] BUG: unable to handle kernel NULL pointer dereference at 0000000000000008\r\n\
[   13.482920] IP: [<ffffffffa01b2c3d>] foo_bar+0x1d/0x60 [foo]\r\n\
[   13.482925] Oops: 0000 [#1] SMP\r\n\
[   13.482930] Call Trace:\r\n\
[   13.482931]  [<ffffffff81234567>] ? do_one_initcall+0x50/0x190\r\n\
[   13.482940] ---[ end trace 1a2b3c4d5e6f7a8b ]---\r\n\
[   13.482950] Kernel panic - not syncing: Fatal exception\r\n\
[   13.482960] ---[ end Kernel panic - not syncing: Fatal exception ]---\r\n";

#[test]
fn every_builtin_rule_has_a_literal_prefilter() {
    let set = pack();
    assert_eq!(
        set.unfiltered(),
        0,
        "a built-in rule would run on every line"
    );
    assert!(
        set.matches("[    0.000000] Command line: BOOT_IMAGE=/vmlinuz panic=10 softlockup_panic=1")
            .is_empty()
    );
}

#[test]
fn an_oops_then_a_panic_are_one_incident_each_with_context() {
    let set = pack();
    let incs = scan(&set, OOPS);
    assert_eq!(ids(&set, &incs), ["oops", "kernel-panic"]);
    let oops = &incs[0];
    assert!(
        oops.line
            .ends_with("BUG: unable to handle kernel NULL pointer dereference at 0000000000000008")
    );
    assert_eq!(oops.before, ["[   12.000000] eth0: link up"]);
    // The second oops line ("Oops: 0000 [#1]") folds into the first; the block ends
    // at the end-trace line, included.
    assert_eq!(oops.repeats, 1);
    assert_eq!(oops.after.len(), 5);
    assert!(oops.after[4].contains("---[ end trace"));
    assert_eq!(
        oops.offset,
        OOPS.find("[   13.482915]").expect("in text") as u64
    );
    let panic = &incs[1];
    assert!(panic.after[0].contains("---[ end Kernel panic"));
    assert!(panic.before.iter().any(|l| l.contains("Call Trace:")));
    // No control characters survive.
    assert!(
        incs.iter()
            .flat_map(|i| i.before.iter().chain(&i.after))
            .all(|l| !l.contains('\r'))
    );
}

#[test]
fn a_repeat_inside_the_dedup_window_is_counted_not_raised() {
    let set = pack();
    let mut s = Scanner::new(set.clone());
    let mut out = Vec::new();
    let line = b"INFO: task kworker/0:1:42 blocked for more than 120 seconds.\n";
    s.feed(line, 0, &mut out);
    s.expire(SETTLE_MS, &mut out);
    assert_eq!(out.len(), 1);
    s.feed(line, 60_000, &mut out);
    s.feed(line, 120_000, &mut out);
    s.expire(120_000 + SETTLE_MS, &mut out);
    assert_eq!(out.len(), 1, "inside the 10 minute window");
    s.feed(line, 601_000, &mut out);
    s.expire(601_000 + SETTLE_MS, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].suppressed, 2);
}

#[test]
fn an_operator_reset_mutes_boot_for_a_while() {
    let set = pack();
    let banner = b"[    0.000000] Linux version 6.1.0-13-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP\n";
    let mut s = Scanner::new(set.clone());
    let mut out = Vec::new();
    s.reset_started(1_000);
    s.feed(banner, 5_000, &mut out);
    s.finish(5_000, &mut out);
    assert!(out.is_empty(), "muted after &R");
    s.feed(banner, 1_000 + 600_001, &mut out);
    s.finish(1_000 + 600_001, &mut out);
    assert_eq!(ids(&set, &out), ["boot"]);
    // Without a reset, a boot is an incident.
    assert_eq!(
        ids(
            &set,
            &scan(&set, std::str::from_utf8(banner).expect("utf8"))
        ),
        ["boot"]
    );
}

#[test]
fn escapes_and_control_bytes_are_not_seen_by_rules() {
    let set = pack();
    let text = "\x1b[1;31mKernel \x1b]0;title\x07panic\x1b[0m - not\x00 syncing: VFS\r\n";
    let incs = scan(&set, text);
    assert_eq!(ids(&set, &incs), ["kernel-panic"]);
    assert_eq!(incs[0].line, "Kernel panic - not syncing: VFS");
}

#[test]
fn a_silent_machine_still_gets_its_incident() {
    let set = pack();
    let mut s = Scanner::new(set.clone());
    let mut out = Vec::new();
    // The last line has no newline and nothing follows it.
    s.feed(
        b"ok\nKernel panic - not syncing: Attempted to kill init!",
        10,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(s.deadline(), Some(10 + SETTLE_MS));
    s.expire(10 + SETTLE_MS - 1, &mut out);
    assert!(out.is_empty(), "not before the deadline");
    s.expire(10 + SETTLE_MS, &mut out);
    assert_eq!(ids(&set, &out), ["kernel-panic"]);
    assert_eq!(out[0].before, ["ok"]);
    assert_eq!(out[0].offset, 3);
    assert_eq!(s.deadline(), None);
}

#[test]
fn long_lines_are_cut_and_context_is_bounded() {
    let set = pack();
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!("noise {i} {}\n", "x".repeat(2000)));
    }
    text.push_str("Kernel panic - not syncing: x\n");
    let incs = scan(&set, &text);
    let before = &incs[0].before;
    assert!(before.iter().all(|l| l.len() <= MAX_LINE));
    assert!(before.iter().map(|l| l.len() + 1).sum::<usize>() <= RING_BYTES);
    assert!(before.last().expect("context").starts_with("noise 199 "));
}

#[test]
fn healthy_look_alikes_do_not_alert() {
    let set = pack();
    for line in [
        "[    0.000000] Kernel command line: BOOT_IMAGE=/vmlinuz root=/dev/sda1 panic=10 nmi_watchdog=1",
        "[    1.234567] EDAC MC: Ver: 3.0.0",
        "[    2.345678] EDAC sbridge: Seeking for: PCI ID 8086:6fa0",
        "[    2.400000] mce: CPU supports 22 MCE banks",
        "[    3.000000] RAS: Correctable Errors collector initialized.",
        "[    4.000000] EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)",
        "[    4.100000] XFS (sdb1): Mounting V5 Filesystem",
        "[    5.000000] nvidia: loading out-of-tree module taints kernel.",
        "[    6.000000] Lustre: Lustre: Build Version: 2.12.9",
        "[    7.000000] ACPI Error: No handler for Region [SYSI] (ffff8800) [IPMI] (20090903/evregion-319)",
        "kernel.hung_task_timeout_secs = 120",
        "[  OK  ] Started Journal Service.",
        // Found on 96 MB of real healthy captures (docs/alerts.md, "Accuracy").
        "<6>[    3.1] As EXT4-fs error, printing data in hex",
        "[   12.4] BTRFS error (device sda2): could not find root 8",
        "[ 9000.1] reboot: Restarting Linux version 5.10.0 (root@x) (gcc 10) #1 SMP",
        "Kernel: Linux version 4.4.21-perf (build@host) (gcc 4.9) #1 SMP PREEMPT",
        "+[    0.000000] Linux version 5.4.0 (b@h) (gcc 9) #1 SMP",
        "< [    0.000000] Linux version 3.16.0-4-amd64 (d@l) (gcc 4.8.4) #1 SMP",
    ] {
        assert!(set.matches(line).is_empty(), "false alert on {line:?}");
    }
}

#[test]
fn new_incident_forms_from_the_healthy_corpus_alert() {
    let set = pack();
    for (line, want) in [
        (
            "<5>Linux version 3.4.11-rt19 (v@localhost) (gcc 4.6.2) #3 SMP",
            "boot",
        ),
        (
            "[    0.000000] (0)[0:swapper]Linux version 4.14.141 (nobody@android) (clang) #1",
            "boot",
        ),
        (
            "[  55.1] WARNING: drivers/gpu/drm/drm_bridge.c:584 at drm_bridge_attach+0x2c/0x1a0, CPU#7: kworker/7:1/123",
            "call-trace",
        ),
        (
            "[  56.2] WARNING: at ffffff9ea20c9bd0 [verbose debug info unavailable]",
            "call-trace",
        ),
        (
            "[  16.691748] WARNING: at /home/x/kernel/fs/sysfs/dir.c:31",
            "call-trace",
        ),
        (
            "[  57.3] BUG: failure at kernel/sched/core.c:460/wake_up_q()!",
            "kernel-bug",
        ),
        (
            "[  58.4] EXT4-fs error (device sda1): ext4_lookup:1785: inode #2: comm ls: deleted inode referenced: 12",
            "fs-error",
        ),
        (
            "[  59.5] BTRFS error (device sdb): bdev /dev/sdb errs: wr 0, rd 0, flush 0, corrupt 1, gen 0",
            "fs-error",
        ),
    ] {
        let got: Vec<&str> = set
            .matches(line)
            .into_iter()
            .map(|r| set.rules()[r].id.as_str())
            .collect();
        assert_eq!(got, [want], "{line:?}");
    }
}

#[test]
fn unless_keeps_a_look_alike_out_of_a_rule() {
    let rules = rules::apply(
        Vec::new(),
        "site.rules",
        "[rule disk]\nmatch = disk failure\nunless = ^#|simulated\n",
    )
    .unwrap();
    let set = RuleSet::compile(&rules).unwrap();
    assert_eq!(set.matches("md0: disk failure on sdb").len(), 1);
    assert!(set.matches("# disk failure drill").is_empty());
    assert!(set.matches("simulated disk failure").is_empty());
    let e = rules::apply(
        Vec::new(),
        "site.rules",
        "[rule d]\nmatch = x\nunless = (\n",
    )
    .unwrap_err();
    assert!(e[0].to_string().starts_with("site.rules:3: "), "{}", e[0]);
}

/// Text the skimming property is built from: plain lines, incidents, line ends
/// of every kind, escapes, tabs, DEL, bytes that are not UTF-8, over-long lines.
const PIECES: &[&str] = &[
    "c0001 seq 00000001 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
    "[   12.345678] eth0: link up, 1000 Mbps, full duplex\r\n",
    "login: ",
    "\n",
    "\r\n",
    "\r",
    "[  101.2] Kernel panic - not syncing: Fatal exception\r\n",
    "[  55.1] BUG: kernel NULL pointer dereference, address: 0000000000000008\r\n",
    "---[ end trace 0000000000000000 ]---\r\n",
    "Kernel pan",
    "ic - not syncing: split across reads\n",
    "\x1b[1;31mKernel panic\x1b[0m - not syncing: coloured\r\n",
    "Kernel\tpanic - not syncing: tab\r\n",
    "Kernel\rpanic - not syncing: bare CR\r\n",
    "a\x7fb\x00c\x07\n",
    "\u{e9}t\u{e9} caf\u{e9} \u{2014} ok\r\n",
    "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)\r\n",
    "INFO: task kworker/3:1:123 blocked for more than 120 seconds.\r\n",
    concat!(
        "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
        "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
        "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
        "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
        "yyyyyyyyyyyyyyyyyyyy Kernel panic - not syncing: past the line limit\r\n"
    ),
];

proptest! {
    /// However the output is cut into reads, the same incidents come out.
    #[test]
    fn chunking_does_not_matter(cuts in proptest::collection::vec(0usize..OOPS.len(), 0..12)) {
        let set = pack();
        let whole = scan(&set, OOPS);
        let mut cuts = cuts;
        cuts.push(0);
        cuts.push(OOPS.len());
        cuts.sort();
        let mut s = Scanner::new(set.clone());
        let mut out = Vec::new();
        for w in cuts.windows(2) {
            s.feed(&OOPS.as_bytes()[w[0]..w[1]], 1000, &mut out);
        }
        s.finish(1000, &mut out);
        prop_assert_eq!(out, whole);
    }

    /// The fast path (whole plain reads with no literal in them) leaves the
    /// scanner exactly as the line-by-line path does: same incidents, same
    /// unfinished line, offsets and context, whatever the text and the cuts.
    #[test]
    fn skimming_changes_nothing(
        pieces in proptest::collection::vec(0usize..PIECES.len(), 0..120),
        cuts in proptest::collection::vec(0usize..8192, 0..30),
        quiet in proptest::collection::vec(any::<bool>(), 30),
    ) {
        let text: Vec<u8> = pieces.iter().flat_map(|&p| PIECES[p].bytes()).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
        cuts.push(0);
        cuts.push(text.len());
        cuts.sort();
        let set = pack();
        let mut fast = Scanner::new(set.clone());
        let mut slow = Scanner::new(set);
        slow.no_skim = true;
        let (mut fo, mut so) = (Vec::new(), Vec::new());
        let mut now = 1_000;
        for (k, w) in cuts.windows(2).enumerate() {
            let chunk = &text[w[0]..w[1]];
            fast.feed(chunk, now, &mut fo);
            slow.feed(chunk, now, &mut so);
            if quiet[k % quiet.len()] {
                now += SETTLE_MS;
                fast.expire(now, &mut fo);
                slow.expire(now, &mut so);
            }
            now += 1;
            prop_assert_eq!(&fast.line, &slow.line);
            prop_assert_eq!(fast.line_start, slow.line_start);
            prop_assert_eq!(fast.offset, slow.offset);
            prop_assert_eq!(&fast.ring, &slow.ring);
            prop_assert_eq!(fast.ring_lines, slow.ring_lines);
            prop_assert_eq!(&fo, &so);
        }
        fast.finish(now, &mut fo);
        slow.finish(now, &mut so);
        prop_assert_eq!(fo, so);
    }

    /// Arbitrary bytes never panic and never produce a line over the limit.
    #[test]
    fn arbitrary_bytes_are_safe(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let set = pack();
        let mut s = Scanner::new(set);
        let mut out = Vec::new();
        s.feed(&data, 0, &mut out);
        s.finish(0, &mut out);
        for i in &out {
            prop_assert!(i.line.len() <= MAX_LINE * 3);
        }
    }
}
