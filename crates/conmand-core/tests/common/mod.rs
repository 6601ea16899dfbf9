//! Shared helpers for the configuration integration tests.

#![allow(dead_code)]

use conmand_core::config::MemProbe;

/// The pretend file system every fixture is checked against (cwd `/srv/conman`).
pub(crate) fn fixture_probe() -> MemProbe {
    MemProbe::new("/srv/conman")
        .char_device("/dev/ttyS0")
        .char_device("/dev/ttyS1")
        .char_device("/dev/ttyS2")
        .char_device("/dev/ttyS3")
        .char_device("/dev/ttyUSB0")
        .char_device_no_access("/dev/ttyS9")
        .dir("/var/log/conman")
        .dir("/var/lib/conman")
        .dir("/etc/conman/exec")
        .dir("/usr/share/conman/exec")
        .dir("/home/oob/conman")
        .dir("/srv/conman")
        .dir("/srv/conman/scripts")
        .executable("/usr/share/conman/exec/ipmitool.exp")
        .executable("/usr/share/conman/exec/ipmiconsole.exp")
        .executable("/usr/share/conman/exec/ssh.exp")
        .executable("/etc/conman/exec/ssh.exp")
        .executable("/srv/conman/scripts/proc-echo.py")
        .executable("/usr/bin/ipmitool-sol.sh")
        .executable("/bin/sh")
        .executable("/bin/cat")
        .file("/etc/passwd")
}
