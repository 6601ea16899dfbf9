//! The daemon binary run in the foreground (`-F`), its stderr (the daemon log)
//! collected as it comes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::WAIT;

/// The daemon binary in the foreground, its stderr (the daemon log) collected.
pub struct Daemon {
    pub child: tokio::process::Child,
    err: Arc<Mutex<String>>,
    pub port: u16,
}

impl Daemon {
    pub async fn spawn(mut cmd: tokio::process::Command) -> Daemon {
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let err = Arc::new(Mutex::new(String::new()));
        let sink = err.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut d = Daemon {
            child,
            err,
            port: 0,
        };
        d.wait_for("Listening on TCP port").await;
        d.port = d
            .text()
            .split("Listening on TCP port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.trim_end_matches('.').parse().ok())
            .unwrap();
        d
    }

    pub fn text(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    pub async fn wait_for(&mut self, what: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.text().contains(what) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "conmand exited ({status}) before {what:?}:\n{}",
                    self.text()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what:?} in the daemon log:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        format!("127.0.0.1:{}", self.port).parse().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// SIGTERM, and the daemon must exit cleanly.
    pub async fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("conmand did not exit on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}:\n{}", self.text());
    }
}
