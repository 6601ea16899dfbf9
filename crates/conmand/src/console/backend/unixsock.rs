//! Unix-domain socket consoles (`dev="unix:/path"`): conmand connects as a client.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use conmand_core::oserror::strerror;
use tokio::io::AsyncWrite;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;

use super::{Backend, Backoff, BoxFuture, Connection, ConsoleWriter, OpenError};

/// A console reached through a unix stream socket.
pub struct UnixBackend {
    name: String,
    path: PathBuf,
    watch: Option<super::dirwatch::DirWatch>,
}

impl UnixBackend {
    /// A backend for console `name` at socket `path`.
    pub fn new(name: &str, path: PathBuf) -> Self {
        UnixBackend {
            name: name.to_string(),
            path,
            watch: None,
        }
    }

    /// Try again as soon as the socket appears (inotify on its directory).
    pub fn with_watch(mut self, watch: super::dirwatch::DirWatch) -> Self {
        self.watch = Some(watch);
        self
    }

    async fn connect(&self) -> Result<Connection, OpenError> {
        let p = self.path.display();
        let n = &self.name;
        let meta = std::fs::metadata(&self.path).map_err(|e| {
            OpenError::Retry(format!(
                "Console [{n}] cannot stat device \"{p}\": {}",
                strerror(&e)
            ))
        })?;
        if !meta.file_type().is_socket() {
            return Err(OpenError::Retry(format!(
                "Console [{n}] device \"{p}\" is not a socket"
            )));
        }
        let stream = UnixStream::connect(&self.path).await.map_err(|e| {
            OpenError::Retry(format!(
                "Console [{n}] cannot connect to device \"{p}\": {}",
                strerror(&e)
            ))
        })?;
        let (r, w) = stream.into_split();
        Ok(Connection {
            reader: Box::new(r),
            writer: Box::new(UnixWriter(w)),
            connected_target: Some(self.describe()),
            report_uptime: false,
            guard: None,
        })
    }
}

impl Backend for UnixBackend {
    fn describe(&self) -> String {
        format!("\"{}\"", self.path.display())
    }

    fn open(&self) -> BoxFuture<'_, Result<Connection, OpenError>> {
        Box::pin(self.connect())
    }

    fn ready_hint(&self) -> Option<BoxFuture<'static, ()>> {
        self.watch.as_ref()?.appeared(&self.path)
    }

    fn backoff(&self) -> Backoff {
        // ConMan HEAD: 1 s doubling to 60 s, reset after 60 s up (reference §2.2).
        Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(60),
        }
    }
}

struct UnixWriter(OwnedWriteHalf);

impl AsyncWrite for UnixWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl ConsoleWriter for UnixWriter {
    fn send_break(&mut self) -> BoxFuture<'_, io::Result<()>> {
        // ConMan: break is not supported on unix sockets; it does nothing.
        Box::pin(async { Ok(()) })
    }
}
