//! `config`: `Config::parse_bytes` on arbitrary bytes with a fake file system,
//! then the printer round trip.
//!
//! Invariants: parsing never panics; every diagnostic formats; a parsed
//! configuration printed with `config::print` parses again, without errors, to
//! the same configuration (console line numbers aside) unless it holds one of
//! the values the printer documents as not representable (checked before
//! printing, or for a console that turns into a program, after); `Debug` output does
//! not depend on IPMI passwords and K_g.

use std::path::{Path, PathBuf};

use conmand_core::config::{
    Config, ConsoleChange, ConsoleDef, ConsoleSpec, FileKind, FsProbe, MemProbe, diff, print,
};

/// The file name used in messages.
const ORIGIN: &str = "fuzz.conf";

/// A fake file system: the paths the fixtures use, plus a deterministic
/// answer for every other path (from a hash of its bytes), so the validator's
/// "is it a tty / directory / program" branches are all reachable.
struct FakeProbe {
    known: MemProbe,
}

impl FakeProbe {
    fn new() -> Self {
        FakeProbe {
            known: MemProbe::new("/srv/conman")
                .char_device("/dev/ttyS0")
                .char_device("/dev/ttyS1")
                .char_device("/dev/ttyUSB0")
                .char_device_no_access("/dev/ttyS9")
                .dir("/var/log/conman")
                .dir("/var/lib/conman")
                .dir("/etc/conman/exec")
                .dir("/usr/share/conman/exec")
                .dir("/srv/conman")
                .executable("/usr/share/conman/exec/ipmitool.exp")
                .executable("/usr/share/conman/exec/ssh.exp")
                .executable("/bin/sh")
                .executable("/bin/cat")
                .file("/etc/passwd"),
        }
    }

    /// FNV-1a of the path's components (each followed by a 0 byte), so that
    /// spellings a real file system treats as one path (`/usr/share/` and
    /// `/usr/share`, `a//b`, `a/./b`) get the same answer, as `MemProbe`'s
    /// `PathBuf` keys do. Hashing the raw bytes made `/usr/share/` a directory
    /// and `/usr/share` a missing file, and `config::print` (which names a
    /// program's directory without the slash) looked wrong when it was not.
    fn hash(path: &Path) -> u64 {
        path.components()
            .flat_map(|c| {
                c.as_os_str()
                    .as_encoded_bytes()
                    .iter()
                    .copied()
                    .chain([0])
                    .collect::<Vec<u8>>()
            })
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    }
}

impl FsProbe for FakeProbe {
    fn file_kind(&self, path: &Path) -> FileKind {
        match self.known.file_kind(path) {
            FileKind::Missing => match Self::hash(path) % 8 {
                0 => FileKind::Regular,
                1 => FileKind::Directory,
                2 => FileKind::CharDevice,
                3 => FileKind::Socket,
                4 => FileKind::Other,
                _ => FileKind::Missing,
            },
            k => k,
        }
    }

    fn is_executable(&self, path: &Path) -> bool {
        self.known.is_executable(path) || Self::hash(path) % 8 <= 1
    }

    fn is_read_writable(&self, path: &Path) -> bool {
        self.known.is_read_writable(path) || Self::hash(path) % 8 != 5
    }

    fn cwd(&self) -> PathBuf {
        self.known.cwd()
    }
}

/// Values the printer cannot write so that they read back the same (see the
/// `config::print` module docs): a string holding both quote characters, an
/// IPMI user name with a comma, a program directory with a `:` (it cannot be
/// put in an `execpath`), or a log name with a `&` outside `logdir`.
fn representable(c: &Config) -> bool {
    let plain = |s: &str| !(s.contains('"') && s.contains('\''));
    let path = |p: &Option<PathBuf>| p.as_ref().is_none_or(|p| plain(&p.to_string_lossy()));
    let s = &c.server;
    path(&s.coredumpdir)
        && path(&s.logdir)
        && path(&s.pidfile)
        && s.resetcmd.as_deref().is_none_or(plain)
        && s.logfile.as_ref().is_none_or(|l| plain(&l.name))
        && plain(
            &s.execpath
                .iter()
                .map(|p| p.to_string_lossy())
                .collect::<Vec<_>>()
                .join(":"),
        )
        && c.consoles.iter().all(|d| {
            plain(&d.name)
                && plain(&d.dev)
                && d.log.as_deref().is_none_or(|l| {
                    // Printed relative to logdir when under it; '&' is refused
                    // in a written log name.
                    let written = s
                        .logdir
                        .as_ref()
                        .and_then(|ld| l.strip_prefix(&*ld.to_string_lossy()))
                        .and_then(|r| r.strip_prefix('/'))
                        .unwrap_or(l);
                    plain(l) && !written.contains('&')
                })
                && match &d.spec {
                    ConsoleSpec::Ipmi(ip) => {
                        ip.opts.username.as_deref().is_none_or(|u| !u.contains(','))
                    }
                    ConsoleSpec::Process(p) => p.argv.first().is_none_or(|a0| {
                        Path::new(a0).parent().is_none_or(|d| {
                            plain(&d.to_string_lossy()) && !d.to_string_lossy().contains(':')
                        })
                    }),
                    _ => true,
                }
        })
}

fn without_lines(mut c: Config) -> Config {
    for d in &mut c.consoles {
        d.line = 0;
    }
    c
}

/// The target body.
pub fn run(data: &[u8]) {
    let probe = FakeProbe::new();
    let parsed = Config::parse_bytes(data, ORIGIN, &probe);
    for d in parsed.errors.iter().chain(&parsed.warnings) {
        let _ = d.to_string();
        let _ = d.conman_format();
    }
    for d in &parsed.config.consoles {
        if let ConsoleSpec::Ipmi(ip) = &d.spec {
            // `Debug` must not depend on the secrets' values.
            let mut other = ip.opts.clone();
            other.password = other.password.map(|p| vec![b'x'; p.len() + 1]);
            other.k_g = other.k_g.map(|k| vec![b'y'; k.len() + 1]);
            assert_eq!(
                format!("{:?}", ip.opts),
                format!("{other:?}"),
                "IpmiOpts Debug shows a secret"
            );
        }
    }
    if !representable(&parsed.config) {
        return;
    }
    let text = print(&parsed.config);
    let again = Config::parse_str(&text, ORIGIN, &probe);
    let became_program = |d: &ConsoleDef| {
        !matches!(d.spec, ConsoleSpec::Process(_))
            && again
                .config
                .consoles
                .iter()
                .any(|a| a.name == d.name && matches!(a.spec, ConsoleSpec::Process(_)))
    };
    if again
        .warnings
        .iter()
        .any(|w| w.message.starts_with("string cut to"))
    {
        // Documented limit of the printer: a value longer than a string may hold
        // once written (a relative log name joined to a logdir changed later).
        return;
    }
    if parsed.config.consoles.iter().any(became_program) {
        // Documented limit of the printer: a device string that an execpath set
        // later in the file turns into a program.
        return;
    }
    if parsed.config.consoles.is_empty() {
        // "no consoles defined" is the one error an empty configuration has.
        assert!(again.config.consoles.is_empty(), "printed:\n{text}");
    } else {
        assert!(
            again.errors.is_empty(),
            "printed configuration has errors {:?}:\n{text}",
            again.errors
        );
    }
    let changes = diff(&parsed.config, &again.config);
    if !changes.is_empty() {
        let show = |c: &Config| {
            let changed: Vec<_> = c
                .consoles
                .iter()
                .filter(|d| {
                    changes
                        .iter()
                        .any(|ch| matches!(ch, ConsoleChange::Changed(n) if *n == d.name))
                })
                .collect();
            format!("{:#?}\n{changed:#?}", c.server)
        };
        panic!(
            "reload diff of a round trip is {changes:?}:\n{text}\nbefore: {}\nafter: {}",
            show(&parsed.config),
            show(&again.config)
        );
    }
    assert_eq!(
        without_lines(again.config),
        without_lines(parsed.config),
        "printed:\n{text}"
    );
}
