//! Any-node attach: a client of this node asking for a console another node owns
//! is passed to the owner.
//!
//! This node answers the client's greeting itself, then opens a connection to the
//! owner's console port (its `advertise` address), greets it with the client's user
//! and tty, sends the client's request and splices the two connections: the
//! owner's answer, the session, the escapes and the closing all pass through
//! untouched, so the stock client sees what a direct connection shows. Plain TCP:
//! the nodes' link is not encrypted yet (docs/cluster.md).

use std::time::Duration;

use bytes::BytesMut;
use conmand_core::protocol::{Greeting, Request, take_line};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What the front end needs from the cluster to route a request.
pub trait Remote: Send + Sync {
    /// Every console name in the cluster's configuration.
    fn all_names(&self) -> Vec<String>;
    /// Where to reach the owner of `console`, when another node owns it.
    fn remote_owner(&self, console: &str) -> Option<String>;
}

/// How long connecting to and greeting the owner may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Splice `client` (whose greeting was answered; `pending` holds bytes it sent
/// after its request) to the owner at `addr`.
pub async fn splice<S>(
    mut client: S,
    pending: BytesMut,
    addr: &str,
    user: &str,
    tty: Option<&str>,
    req: &Request,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut owner = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{addr}: {}", conmand_core::oserror::strerror(&e)))?;
        let _ = s.set_nodelay(true);
        s.write_all(&Greeting::new(user.to_string(), tty.map(str::to_string)).to_bytes())
            .await
            .map_err(|e| e.to_string())?;
        // The owner's answer to the greeting is ours to take (the client had ours).
        let mut buf = BytesMut::with_capacity(256);
        loop {
            if let Some(line) = take_line(&mut buf) {
                if !line.starts_with(b"OK") {
                    return Err(format!(
                        "{addr} refused the greeting: {}",
                        String::from_utf8_lossy(&line).trim_end()
                    ));
                }
                break;
            }
            if s.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                return Err(format!("{addr} closed during the greeting"));
            }
        }
        s.write_all(&req.to_bytes())
            .await
            .map_err(|e| e.to_string())?;
        if !buf.is_empty() {
            // Anything the owner sent past its OK belongs to the client.
            client.write_all(&buf).await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(s)
    })
    .await
    .map_err(|_| format!("{addr}: timed out"))??;
    if !pending.is_empty() {
        owner.write_all(&pending).await.map_err(|e| e.to_string())?;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut owner).await;
    Ok(())
}
