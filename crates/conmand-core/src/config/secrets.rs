//! What of a process console's command line may be shown (`conmand -t --json`, and
//! any message that quotes `dev=`): arguments that can be passwords are replaced by
//! [`MASK`].
//!
//! The rule, applied to every argument after the program:
//! 1. **Password options**: the argument after [`SECRET_FLAGS`] (`-P secret`,
//!    `--password secret`), the value of `--flag=secret`, and the tail of an
//!    attached short option (`-Psecret` → `-P***`). `-p` is also ssh's port option:
//!    showing `-p ***` for a port is the price of never showing `sshpass -p secret`.
//! 2. **Secret-looking environment assignments** (for `env NAME=value …`): a
//!    `NAME=value` whose name contains `PASS`, `PSWD`, `PWD`, `SECRET`, `TOKEN` or
//!    `KEY` (any case) shows as `NAME=***`.
//! 3. **Expect scripts**: ConMan's `*.exp` scripts take `HOST USER PASSWORD [K_G]`
//!    (or `HOST PORT USER PASSWORD`), so every argument from the third one after a
//!    `*.exp` program is masked, unless the `dev=` text of that argument contains a
//!    `%` conversion (it is then derived from the console name, not a secret).
//!
//! Over-masking (a user name, a port) is accepted; a secret shown is not.

use super::devstr::split_dev;
use super::model::{ConsoleDef, ConsoleSpec};

/// What a masked value shows as.
pub const MASK: &str = "***";

/// Options whose value is a password or key (ipmitool `-P`/`-k`/`-y`, ipmiconsole
/// `-p`/`-k`, sshpass `-p`, the common long forms).
pub const SECRET_FLAGS: [&str; 10] = [
    "-P",
    "-p",
    "-k",
    "-y",
    "--password",
    "--passwd",
    "--pass",
    "--k-g",
    "--kg",
    "--secret",
];

/// Name fragments that make an environment assignment secret.
const SECRET_NAMES: [&str; 6] = ["PASS", "PSWD", "PWD", "SECRET", "TOKEN", "KEY"];

/// `argv` with every argument that can be a secret replaced (see the module rules).
/// `template` is the same arguments as written in `dev=` (with `%` conversions
/// unexpanded), index for index; without it no argument counts as derived.
pub fn mask_argv(argv: &[String], template: Option<&[String]>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(argv.len());
    let mut mask_next = false;
    let mut exp_from: Option<usize> = None;
    for (i, arg) in argv.iter().enumerate() {
        let derived = template
            .and_then(|t| t.get(i))
            .is_some_and(|t| t.contains('%'));
        let shown = if i == 0 {
            arg.clone()
        } else if mask_next {
            mask_next = false;
            MASK.to_string()
        } else if exp_from.is_some_and(|first| i >= first) && !derived {
            MASK.to_string()
        } else {
            mask_one(arg, &mut mask_next)
        };
        if exp_from.is_none() && is_expect_script(arg) {
            exp_from = Some(i + 3);
        }
        out.push(shown);
    }
    out
}

/// The masked form of one argument that is not masked by position; sets
/// `mask_next` when it is a password option expecting its value next.
fn mask_one(arg: &str, mask_next: &mut bool) -> String {
    if SECRET_FLAGS.contains(&arg) {
        *mask_next = true;
        return arg.to_string();
    }
    if let Some((flag, _)) = arg.split_once('=') {
        if flag.starts_with("--") && SECRET_FLAGS.contains(&flag) {
            return format!("{flag}={MASK}");
        }
        let is_name = !flag.is_empty()
            && !flag.starts_with(|c: char| c.is_ascii_digit())
            && flag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let upper = flag.to_ascii_uppercase();
        if is_name && SECRET_NAMES.iter().any(|n| upper.contains(n)) {
            return format!("{flag}={MASK}");
        }
    }
    if let Some(flag) = SECRET_FLAGS
        .iter()
        .filter(|f| f.len() == 2)
        .find(|f| arg.len() > 2 && arg.starts_with(*f))
    {
        return format!("{flag}{MASK}");
    }
    arg.to_string()
}

fn is_expect_script(arg: &str) -> bool {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    base.len() > 4 && base.to_ascii_lowercase().ends_with(".exp")
}

/// A process console's argv as it may be shown; `None` for other kinds.
pub fn masked_argv(def: &ConsoleDef) -> Option<Vec<String>> {
    let ConsoleSpec::Process(p) = &def.spec else {
        return None;
    };
    let template = split_dev(&def.dev, "%N").ok();
    Some(mask_argv(&p.argv, template.as_deref()))
}

/// `dev=` as it may be shown: for a process console the arguments, masked and
/// joined by single spaces; other kinds unchanged.
pub fn masked_dev(def: &ConsoleDef) -> String {
    if !matches!(def.spec, ConsoleSpec::Process(_)) {
        return def.dev.clone();
    }
    match split_dev(&def.dev, "%N") {
        Ok(args) => mask_argv(&args, Some(&args)).join(" "),
        Err(_) => MASK.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(args: &[&str]) -> Vec<String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        mask_argv(&v, Some(&v))
    }

    #[test]
    fn password_options_are_masked() {
        assert_eq!(
            m(&[
                "/usr/bin/ipmitool",
                "-I",
                "lanplus",
                "-H",
                "bmc",
                "-U",
                "admin",
                "-P",
                "s3cret",
                "sol",
                "activate"
            ]),
            [
                "/usr/bin/ipmitool",
                "-I",
                "lanplus",
                "-H",
                "bmc",
                "-U",
                "admin",
                "-P",
                "***",
                "sol",
                "activate"
            ]
        );
        assert_eq!(
            m(&["x", "-Ps3cret", "-k", "kg", "-y", "0102"]),
            ["x", "-P***", "-k", "***", "-y", "***"]
        );
        assert_eq!(
            m(&["x", "--password=s3cret", "--user=bob"]),
            ["x", "--password=***", "--user=bob"]
        );
        assert_eq!(
            m(&["sshpass", "-p", "s3cret", "ssh", "h"]),
            ["sshpass", "-p", "***", "ssh", "h"]
        );
        // The program itself is never masked, even if it looks like an option.
        assert_eq!(m(&["-P", "a"]), ["-P", "a"]);
    }

    #[test]
    fn secret_environment_assignments_are_masked() {
        assert_eq!(
            m(&[
                "/usr/bin/env",
                "IPMI_PASSWORD=s3cret",
                "CONMAN_PSWD=/etc/site.pswd",
                "TERM=vt100",
                "prog"
            ]),
            [
                "/usr/bin/env",
                "IPMI_PASSWORD=***",
                "CONMAN_PSWD=***",
                "TERM=vt100",
                "prog"
            ]
        );
    }

    #[test]
    fn expect_script_arguments_from_the_third_are_masked_unless_derived() {
        let argv: Vec<String> = [
            "/usr/share/conman/exec/ipmitool.exp",
            "node1-bmc",
            "admin",
            "s3cret",
            "kg",
        ]
        .map(String::from)
        .to_vec();
        let tmpl: Vec<String> = [
            "/usr/share/conman/exec/ipmitool.exp",
            "%N-bmc",
            "admin",
            "s3cret",
            "kg",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            mask_argv(&argv, Some(&tmpl)),
            [
                "/usr/share/conman/exec/ipmitool.exp",
                "node1-bmc",
                "admin",
                "***",
                "***"
            ]
        );
        // Behind env, with a %N-derived third argument kept.
        assert_eq!(
            m(&[
                "/usr/bin/env",
                "A=1",
                "/x/ssh.exp",
                "%N",
                "22",
                "%N-user",
                "pw"
            ]),
            [
                "/usr/bin/env",
                "A=1",
                "/x/ssh.exp",
                "%N",
                "22",
                "%N-user",
                "***"
            ]
        );
        assert_eq!(
            m(&["/x/ssh.EXP", "h", "22", "root"]),
            ["/x/ssh.EXP", "h", "22", "***"]
        );
        assert_eq!(
            m(&["/x/script.sh", "h", "u", "p"]),
            ["/x/script.sh", "h", "u", "p"]
        );
    }

    #[test]
    fn dev_text_is_masked_through_the_same_rule() {
        use crate::config::{LogOpts, ProcessSpec};
        let def = ConsoleDef {
            name: "n1".into(),
            dev: "/usr/share/conman/exec/ipmitool.exp %N-bmc admin 'pa ss' kg".into(),
            spec: ConsoleSpec::Process(ProcessSpec {
                argv: [
                    "/usr/share/conman/exec/ipmitool.exp",
                    "n1-bmc",
                    "admin",
                    "pa ss",
                    "kg",
                ]
                .map(String::from)
                .to_vec(),
            }),
            log: None,
            logopts: LogOpts::default(),
            line: 1,
        };
        assert_eq!(
            masked_dev(&def),
            "/usr/share/conman/exec/ipmitool.exp %N-bmc admin *** ***"
        );
        assert_eq!(
            masked_argv(&def).unwrap(),
            [
                "/usr/share/conman/exec/ipmitool.exp",
                "n1-bmc",
                "admin",
                "***",
                "***"
            ]
        );
    }
}
