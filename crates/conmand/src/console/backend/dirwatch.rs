//! Early wake-ups for `unix:` consoles: one inotify instance for the whole daemon
//! watches the parent directory of every socket that is not there yet, and wakes the
//! console the moment its file is created or moved in (ConMan does the same).
//!
//! Without it a console whose socket appears late waits for its retry timer (up to
//! 60 s); with it, a program that creates its socket at start (a VM's serial port,
//! say) is connected before its first output is lost. If inotify is unavailable
//! (limits, unsupported file system) the timer alone is used.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use inotify::{Inotify, WatchMask, Watches};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::BoxFuture;

/// The daemon-wide directory watcher. Cheap to clone; started on first use. Its
/// reader task runs on the tracker it was given and ends when `stop` fires.
#[derive(Clone, Default)]
pub struct DirWatch {
    inner: Arc<Mutex<Option<State>>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

struct State {
    watches: Watches,
    /// watch descriptor id → (directory, file name → waiter)
    dirs: HashMap<i32, HashMap<OsString, Arc<Notify>>>,
}

impl DirWatch {
    /// A watcher whose reader task runs on `tasks` until `stop` fires.
    pub fn new(tasks: TaskTracker, stop: CancellationToken) -> Self {
        DirWatch {
            inner: Arc::default(),
            tasks,
            stop,
        }
    }

    /// A future that resolves when `path` is next created or moved into place, or
    /// `None` when the path cannot be watched. (A path that exists but refuses
    /// connections must not wake anyone: that would be a busy loop. A file created
    /// between the failed try and this call is caught by the retry timer.)
    pub fn appeared(&self, path: &Path) -> Option<BoxFuture<'static, ()>> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())?
            .to_path_buf();
        let name = path.file_name()?.to_os_string();
        let notify = self.register(&dir, name)?;
        Some(Box::pin(async move { notify.notified().await }))
    }

    fn register(&self, dir: &PathBuf, name: OsString) -> Option<Arc<Notify>> {
        let mut guard = self.inner.lock().ok()?;
        if guard.is_none() {
            *guard = Some(self.start()?);
        }
        let state = guard.as_mut()?;
        let wd = state
            .watches
            .add(dir, WatchMask::CREATE | WatchMask::MOVED_TO)
            .ok()?
            .get_watch_descriptor_id();
        let names = state.dirs.entry(wd).or_default();
        Some(
            names
                .entry(name)
                .or_insert_with(|| Arc::new(Notify::new()))
                .clone(),
        )
    }

    fn start(&self) -> Option<State> {
        let inotify = Inotify::init().ok()?;
        let mut stream = inotify.into_event_stream(vec![0u8; 4096]).ok()?;
        let watches = stream.watches();
        let inner = Arc::downgrade(&self.inner);
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            loop {
                let ev = tokio::select! {
                    _ = stop.cancelled() => return,
                    ev = stream.next() => ev,
                };
                let Some(Ok(ev)) = ev else { return };
                let Some(inner) = inner.upgrade() else { return };
                let Ok(guard) = inner.lock() else { return };
                let waiter = guard.as_ref().and_then(|s| {
                    let names = s.dirs.get(&ev.wd.get_watch_descriptor_id())?;
                    names.get(ev.name.as_ref()?)
                });
                if let Some(n) = waiter {
                    // notify_one keeps a permit if the console is not waiting yet.
                    n.notify_one();
                }
            }
        });
        Some(State {
            watches,
            dirs: HashMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_when_the_file_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.sock");
        let w = DirWatch::default();
        let fut = w.appeared(&path).expect("inotify available");
        let waiter = tokio::spawn(fut);
        // Created after the watch: the future resolves (no timer involved).
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("no wake-up")
            .unwrap();
        // Already there and not re-created: no wake-up (that would spin a console
        // whose socket refuses connections).
        let again = w.appeared(&path).unwrap();
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), again)
                .await
                .is_err()
        );
    }
}
