//! One task per client connection: ConMan's handshake, console selection and the
//! error replies, then the session.
//!
//! Errors stop here: a malformed or hostile client is answered (or dropped) and logged,
//! never propagated to the accept loop. A handshake that does not complete within
//! [`HANDSHAKE_TIMEOUT`] is dropped (ConMan waits forever, one thread per client).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use conmand_core::notice::printable_label;
use conmand_core::protocol::{
    BusyWriter, Command as ReqCommand, Greeting, LineTooLong, MAX_WIRE_LINE, Request, RequestError,
    Response, encode_match_list, take_line, take_line_within,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use conmand_core::access::Right;

use crate::access::{Identity, Record};
use crate::console::{AttachMode, ClientInfo, ConsoleHandle, next_client_id};
use crate::frontend::Frontend;
use crate::session::{Guard, Session, SessionKind};

/// How long a client may take to send its greeting and request (default).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a connection ended before its session started.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The client closed before sending a complete line.
    #[error("connection closed during handshake")]
    Closed,
    /// The client took too long.
    #[error("handshake timed out")]
    Timeout,
    /// The request line is longer than [`MAX_WIRE_LINE`].
    #[error("request {0}")]
    TooLong(#[from] LineTooLong),
}

/// Serve one client connection of the native port to completion (the client is
/// who it claims to be, with every right: ConMan's semantics).
pub async fn handle<S>(stream: S, peer: SocketAddr, front: Arc<Frontend>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    serve(stream, peer, front, None).await;
}

/// Serve a connection for an authenticated user (the SSH front end speaks the
/// native protocol for its users): the greeting's user is replaced by `who`, and
/// every request and escape is checked against the ACL and audited.
pub async fn handle_as<S>(stream: S, front: Arc<Frontend>, who: Identity)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let peer = who.source;
    serve(stream, peer, front, Some(who)).await;
}

async fn serve<S>(mut stream: S, peer: SocketAddr, front: Arc<Frontend>, who: Option<Identity>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut buf = BytesMut::with_capacity(1024);
    // The whole exchange before the session, reverse lookup and replies included,
    // must finish by this deadline.
    let deadline = tokio::time::Instant::now() + front.handshake_timeout;
    let Some(host) = crate::tcpwrap::screen(&front, peer).await else {
        return;
    };
    let res = tokio::time::timeout_at(
        deadline,
        handshake(&mut stream, &mut buf, &host, peer, &front, who),
    )
    .await;
    let (client, req, who) = match res {
        Ok(Ok(Some(v))) => v,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!("Client {host}:{} handshake failed: {e}", peer.port());
            return;
        }
        Err(_) => {
            tracing::info!("Client {host}:{} dropped: handshake timed out", peer.port());
            return;
        }
    };
    let label = format!("{}@{}:{}", client.user, client.host, peer.port());
    if req.command == ReqCommand::Query {
        tracing::info!("Client <{label}> issued query");
        return;
    }
    // In a cluster, a console another node owns is served by that node.
    if !who.is_authenticated()
        && let Some((name, addr)) = front.remote_route(&req)
    {
        tracing::info!("Client <{label}> passed to {addr} for [{name}]");
        let r = crate::cluster::proxy::splice(
            stream,
            buf,
            &addr,
            &client.user,
            client.tty.as_deref(),
            &req,
        )
        .await;
        match r {
            Ok(()) => tracing::info!("Client <{label}> disconnected from [{name}] at {addr}"),
            Err(e) => tracing::warn!("Client <{label}> could not be passed to {addr}: {e}"),
        }
        return;
    }
    let selected = tokio::time::timeout_at(
        deadline,
        select_for_session(&mut stream, &req, &label, &front, &who),
    )
    .await;
    let (consoles, kind, ok) = match selected {
        Ok(Some(v)) => v,
        Ok(None) => return,
        Err(_) => {
            tracing::info!("Client <{label}> dropped: handshake timed out");
            return;
        }
    };
    match kind {
        SessionKind::Monitor => tracing::info!(
            "Client <{label}> connected to [{}] (read-only)",
            consoles[0].name()
        ),
        SessionKind::ReadWrite => {
            tracing::info!("Client <{label}> connected to [{}]", consoles[0].name())
        }
        SessionKind::Broadcast => {
            tracing::info!(
                "Client <{label}> connected to {} consoles (broadcast)",
                consoles.len()
            )
        }
    }
    let mode = match kind {
        SessionKind::Monitor => AttachMode::Monitor,
        SessionKind::ReadWrite => AttachMode::Connect { force: req.force },
        SessionKind::Broadcast => AttachMode::Broadcast { force: req.force },
    };
    let guard = Guard::new(who, front.access.clone(), &consoles);
    guard.attached(&consoles, kind, &req);
    let session = Session::new(
        client,
        consoles,
        kind,
        req.quiet,
        front.stall_timeout,
        guard,
    );
    session.run(stream, buf, mode, &ok).await;
    tracing::info!("Client <{label}> disconnected");
}

/// Greeting and request. Returns `None` when the client was answered with an error
/// (or a QUERY result) and the connection is done.
async fn handshake<S>(
    stream: &mut S,
    buf: &mut BytesMut,
    host: &str,
    peer: SocketAddr,
    front: &Frontend,
    who: Option<Identity>,
) -> Result<Option<(Arc<ClientInfo>, Request, Arc<Identity>)>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let line = read_line(stream, buf).await?;
    let greeting = match Greeting::parse(&line) {
        Ok(g) => g,
        Err(e) => {
            crate::notice!(
                "Client <unknown@{host}:{}> request failed: {e}",
                peer.port()
            );
            send(stream, &e.to_response()).await?;
            return Ok(None);
        }
    };
    let who =
        Arc::new(who.unwrap_or_else(|| {
            Identity::claimed(&greeting.user.clone().unwrap_or_default(), peer)
        }));
    // An authenticated user is who the front end proved, whatever the greeting says.
    let user = if who.is_authenticated() {
        who.user.clone()
    } else {
        greeting.user.unwrap_or_default()
    };
    send(stream, &Response::ok()).await?;
    let client = Arc::new(ClientInfo::new(
        next_client_id(),
        printable_label(&user),
        host.to_string(),
        greeting.tty.as_deref().map(printable_label),
    ));
    let label = format!("{}@{}:{}", client.user, client.host, peer.port());
    let line = match read_request_line(stream, buf).await {
        Err(HandshakeError::TooLong(e)) => {
            let message = format!("Request line exceeds the {}-byte maximum", e.max);
            crate::notice!("Client <{label}> request failed: {message}");
            let code = conmand_core::protocol::ErrorCode::BadRequest;
            send(stream, &Response::Error { code, message }).await?;
            return Ok(None);
        }
        r => r?,
    };
    let req = match Request::parse(&line) {
        Ok(r) => r,
        Err(e) => {
            crate::notice!("Client <{label}> request failed: {e}");
            send(stream, &e.to_response()).await?;
            return Ok(None);
        }
    };
    if req.command == ReqCommand::Query {
        // A cluster answers for every console, whichever node owns it.
        let listed = match front.cluster_names().filter(|_| !who.is_authenticated()) {
            Some(names) => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                conmand_core::matching::resolve(&req, &refs)
                    .map(|sel| sel.consoles.iter().map(|&i| names[i].clone()).collect())
            }
            None => {
                let snapshot = front.visible(&who);
                front
                    .resolve(&snapshot, &req)
                    .await
                    .map(|(list, _)| list.iter().map(|c| c.name().to_string()).collect())
            }
        };
        match listed {
            Ok(consoles) => {
                let reset = front.has_reset();
                send(stream, &Response::Ok { reset, consoles }).await?;
                stream.shutdown().await.ok();
                return Ok(Some((client, req, who)));
            }
            Err(e) => {
                crate::notice!("Client <{label}> request failed: {e}");
                send(stream, &e.to_response()).await?;
                return Ok(None);
            }
        }
    }
    Ok(Some((client, req, who)))
}

/// Resolve the consoles of a MONITOR or CONNECT, apply ConMan's checks in its order
/// (regex, none, too many, busy) and answer. `None`: an error was sent.
async fn select_for_session<S>(
    stream: &mut S,
    req: &Request,
    label: &str,
    front: &Frontend,
    who: &Identity,
) -> Option<(Vec<ConsoleHandle>, SessionKind, Vec<u8>)>
where
    S: AsyncWrite + Unpin,
{
    // Consoles an authenticated user may not query are not there for them.
    let snapshot = front.visible(who);
    let (list, broadcast) = match front.resolve(&snapshot, req).await {
        Ok(v) => v,
        Err(e) => {
            crate::notice!("Client <{label}> request failed: {e}");
            let mut out = BytesMut::new();
            e.to_response().encode(&mut out);
            if let RequestError::TooManyConsoles(_) = e {
                let names = front.matched_names(&snapshot, req).await;
                encode_match_list(names.iter().map(String::as_str), &mut out);
            }
            stream.write_all(&out).await.ok();
            return None;
        }
    };
    let kind = if req.command == ReqCommand::Monitor {
        SessionKind::Monitor
    } else if broadcast {
        SessionKind::Broadcast
    } else {
        SessionKind::ReadWrite
    };
    if let Some((right, console)) = refused(front, who, &list, kind, req) {
        let message = crate::access::denial(who, right, console);
        crate::notice!("Client <{label}> request denied: {message}");
        front.access.audit(
            who,
            Record {
                console: Some(console),
                action: "denied",
                mode: Some(right.as_str()),
                outcome: "denied",
                reason: Some(message.clone()),
            },
        );
        let code = conmand_core::protocol::ErrorCode::Authenticate;
        send(stream, &Response::Error { code, message }).await.ok();
        return None;
    }
    if kind != SessionKind::Monitor && !req.force && !req.join {
        let mut busy = Vec::new();
        for c in &list {
            let writers = c.writers().await;
            if !writers.is_empty() {
                busy.push((c.name().to_string(), writers));
            }
        }
        if !busy.is_empty() {
            let e = RequestError::BusyConsoles(busy.len());
            crate::notice!("Client <{label}> request failed: {e}");
            let mut out = BytesMut::new();
            e.to_response().encode(&mut out);
            for (name, writers) in &busy {
                for w in writers {
                    BusyWriter {
                        console: name,
                        broadcast: w.broadcast,
                        user: &w.user,
                        host: &w.host,
                        tty: w.tty.as_deref(),
                        idle_secs: w.idle_secs,
                    }
                    .encode(&mut out);
                }
            }
            stream.write_all(&out).await.ok();
            return None;
        }
    }
    let names = list.iter().map(|c| c.name().to_string()).collect();
    let ok = Response::Ok {
        reset: front.has_reset(),
        consoles: names,
    };
    Some((list, kind, wire_bytes(&ok)))
}

/// The first right the request needs and `who` lacks, with the console.
fn refused<'a>(
    front: &Frontend,
    who: &Identity,
    list: &'a [ConsoleHandle],
    kind: SessionKind,
    req: &Request,
) -> Option<(Right, &'a str)> {
    let mut needed = vec![match kind {
        SessionKind::Monitor => Right::Monitor,
        SessionKind::ReadWrite => Right::Write,
        SessionKind::Broadcast => Right::Broadcast,
    }];
    if kind != SessionKind::Monitor && req.force {
        needed.push(Right::Force);
    }
    list.iter().find_map(|c| {
        let rights = front.access.rights(who, c.name());
        needed
            .iter()
            .find(|r| !rights.has(**r))
            .map(|r| (*r, c.name()))
    })
}

/// Write a response line; one longer than [`MAX_WIRE_LINE`] becomes error 2 saying
/// so (and a warning), never a silently cut list.
async fn send<S: AsyncWrite + Unpin>(stream: &mut S, rsp: &Response) -> std::io::Result<()> {
    stream.write_all(&wire_bytes(rsp)).await
}

/// A response as sent: cut to the wire limit (with a warning when it had to be).
fn wire_bytes(rsp: &Response) -> Vec<u8> {
    let (rsp, too_long) = rsp.clone().within_wire_limit();
    if let Some(n) = too_long {
        tracing::warn!("Refused to send a {n}-byte response line (more than {MAX_WIRE_LINE})");
    }
    rsp.to_bytes()
}

/// Read the greeting line (ConMan's `read_line`, cut at 131,071 bytes): bytes after
/// it stay in `buf`.
async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<BytesMut, HandshakeError> {
    read_line_with(stream, buf, &mut |b| Ok(take_line(b))).await
}

/// Read the request line, whole, up to [`MAX_WIRE_LINE`] bytes (the handshake
/// timeout bounds how long that may take).
async fn read_request_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<BytesMut, HandshakeError> {
    let mut scanned = 0;
    read_line_with(stream, buf, &mut |b| {
        take_line_within(b, &mut scanned, MAX_WIRE_LINE)
    })
    .await
}

async fn read_line_with<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    take: &mut (dyn FnMut(&mut BytesMut) -> Result<Option<BytesMut>, LineTooLong> + Send),
) -> Result<BytesMut, HandshakeError> {
    loop {
        if let Some(line) = take(buf)? {
            return Ok(line);
        }
        buf.reserve(buf.len().clamp(1024, 64 * 1024));
        let n = stream.read_buf(buf).await?;
        if n == 0 {
            // `take` found no complete line: at EOF the partial one is the line, as
            // ConMan's `read_line` returns it (`take_final_line`).
            return if buf.is_empty() {
                Err(HandshakeError::Closed)
            } else {
                Ok(buf.split())
            };
        }
    }
}
