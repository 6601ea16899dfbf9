//! One SSH session channel: the `conman` client's part, in process.
//!
//! The channel's user is already authenticated. The bridge speaks ConMan's
//! protocol to the daemon's own handshake ([`crate::client::handle_as`]) over an
//! in-memory pipe, so an SSH user goes through exactly the checks, busy rules,
//! messages and session code a native client does, plus the ACL. On the SSH side it
//! does what the `conman` client does on a terminal: the `&` escapes
//! ([`conmand_core::client_escape`]), the status lines, `ERROR: ….` and exit
//! statuses (0 success, 2 an error from the daemon).

use std::sync::Arc;

use bytes::BytesMut;
use conmand_core::access::Right;
use conmand_core::client_escape::{Action, EscapeParser, Mode, info_line, status_line};
use conmand_core::notice::Notice;
use conmand_core::protocol::{Command, Greeting, Response, take_line};
use conmand_core::sshcmd::{HELP, SshCommand};
use russh::Channel;
use russh::server::Msg;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::task::TaskTracker;

use crate::access::Identity;
use crate::frontend::Frontend;

/// What the channel asked for.
pub struct Job {
    /// The parsed command (a shell request is a plain connect).
    pub cmd: SshCommand,
    /// The SSH login name: the console when the command names none.
    pub login: String,
    /// The daemon's address as the client reached it (for `&I`).
    pub local: std::net::SocketAddr,
}

/// Pipe capacity between the bridge and the daemon's session.
const PIPE: usize = 64 * 1024;

/// Serve one channel to completion.
pub async fn run(
    front: Arc<Frontend>,
    who: Identity,
    mut job: Job,
    channel: Channel<Msg>,
    tracker: TaskTracker,
) {
    let (mut rd, wr) = channel.split();
    let out = |data: Vec<u8>| {
        let wr = &wr;
        async move { wr.data(&data[..]).await.is_ok() }
    };
    let status = if job.cmd.help {
        out(HELP.replace('\n', "\r\n").into_bytes()).await;
        0
    } else if job.cmd.version {
        out(format!("conmand-{}\r\n", env!("CARGO_PKG_VERSION")).into_bytes()).await;
        0
    } else {
        if job.cmd.request.consoles.is_empty() && job.cmd.request.command != Command::Query {
            job.cmd.request.consoles.push(job.login.clone());
        }
        let (mut ours, theirs) = tokio::io::duplex(PIPE);
        tracker.spawn(crate::client::handle_as(theirs, front.clone(), who.clone()));
        match handshake(&mut ours, &who, &job.cmd).await {
            Err(text) => {
                out(text.into_bytes()).await;
                2
            }
            Ok((reset, consoles)) if job.cmd.request.command == Command::Query => {
                let _ = reset;
                let mut list = String::new();
                for c in consoles {
                    list.push_str(&c);
                    list.push_str("\r\n");
                }
                out(list.into_bytes()).await;
                0
            }
            Ok((reset, consoles)) => {
                session(&front, &who, &job, ours, reset, consoles, &mut rd, &wr).await
            }
        }
    };
    let _ = wr.exit_status(status).await;
    let _ = wr.eof().await;
    let _ = wr.close().await;
}

/// Greeting and request. `Ok((reset, consoles))`, or the text to show.
async fn handshake(
    pipe: &mut DuplexStream,
    who: &Identity,
    cmd: &SshCommand,
) -> Result<(bool, Vec<String>), String> {
    let mut buf = BytesMut::with_capacity(1024);
    let lost = || "ERROR: Connection to the daemon lost.\r\n".to_string();
    pipe.write_all(&Greeting::new(who.user.clone(), Some("ssh".into())).to_bytes())
        .await
        .map_err(|_| lost())?;
    let line = read_line(pipe, &mut buf).await.ok_or_else(lost)?;
    if let Ok(Response::Error { message, .. }) = Response::parse(&line) {
        return Err(format!("ERROR: {message}.\r\n"));
    }
    pipe.write_all(&cmd.request.to_bytes())
        .await
        .map_err(|_| lost())?;
    let line = read_line(pipe, &mut buf).await.ok_or_else(lost)?;
    match Response::parse(&line) {
        Ok(Response::Ok { reset, consoles }) => Ok((reset, consoles)),
        Ok(Response::Error { message, .. }) => {
            let message = if message.is_empty() {
                "Unspecified".to_string()
            } else {
                message
            };
            let mut text = format!("ERROR: {message}.\r\n");
            // The lines after an error (busy writers, matched names), as the client
            // prints them.
            let mut rest = buf.to_vec();
            let _ = pipe.read_to_end(&mut rest).await;
            if !rest.is_empty() {
                text.push_str("\r\n");
                text.push_str(&String::from_utf8_lossy(&rest).replace('\n', "\r\n"));
            }
            Err(text)
        }
        Err(_) => Err(lost()),
    }
}

async fn read_line(pipe: &mut DuplexStream, buf: &mut BytesMut) -> Option<BytesMut> {
    loop {
        if let Some(l) = take_line(buf) {
            return Some(l);
        }
        if buf.len() > conmand_core::protocol::MAX_WIRE_LINE {
            return None;
        }
        match pipe.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The attached session: keys through the escape parser to the daemon, console
/// output to the channel. Returns the exit status.
#[allow(clippy::too_many_arguments)]
async fn session(
    front: &Frontend,
    who: &Identity,
    job: &Job,
    pipe: DuplexStream,
    reset: bool,
    consoles: Vec<String>,
    rd: &mut russh::ChannelReadHalf,
    wr: &russh::ChannelWriteHalf<Msg>,
) -> u32 {
    let req = &job.cmd.request;
    let mode = if req.command == Command::Monitor {
        Mode::ReadOnly
    } else if consoles.len() > 1 {
        Mode::Broadcast
    } else {
        Mode::ReadWrite
    };
    let quiet = req.quiet;
    let mut parser = EscapeParser::new(job.cmd.escape, mode, reset, consoles.len(), quiet);
    let (mut from_daemon, mut to_daemon) = tokio::io::split(pipe);
    let send = |data: Vec<u8>| async move { wr.data(&data[..]).await.is_ok() };
    send(status_line(&consoles, "opened")).await;
    // Said once to a user whose typing goes nowhere because they may not write.
    let mut told_read_only = false;
    let mut closing = false;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        tokio::select! {
            msg = rd.wait(), if !closing => {
                let data = match msg {
                    Some(russh::ChannelMsg::Data { data }) => data,
                    Some(russh::ChannelMsg::Eof | russh::ChannelMsg::Close) | None => break,
                    Some(_) => continue,
                };
                let actions = parser.feed(&data);
                let sent = actions.iter().any(|a| matches!(a, Action::Send(_)));
                for a in actions {
                    match a {
                        Action::Send(bytes) => {
                            if to_daemon.write_all(&bytes).await.is_err() {
                                closing = true;
                            }
                        }
                        Action::Help(text) => {
                            send(text).await;
                        }
                        Action::Close => {
                            let mut t = parser.echo(b'.');
                            t.extend_from_slice(&status_line(&consoles, "closed"));
                            send(t).await;
                            let _ = to_daemon.shutdown().await;
                            closing = true;
                        }
                        Action::Info(m) => {
                            send(info_line(&consoles, m, &job.local.ip().to_string(), u32::from(job.local.port()))).await;
                        }
                        // No terminal here: echo is the SSH client's, and there is no
                        // job control to suspend into.
                        Action::ToggleEcho | Action::Suspend => {}
                    }
                }
                if parser.mode() == Mode::ReadOnly
                    && !sent
                    && !told_read_only
                    && !data.starts_with(&[job.cmd.escape])
                    && let Some(c) = consoles.first()
                    && !front.access.allows(who, c, Right::Write)
                {
                    told_read_only = true;
                    let text = format!("{}; what you type is discarded", crate::access::denial(who, Right::Write, c));
                    send(Notice::always(text).to_bytes()).await;
                }
            }
            n = from_daemon.read_buf(&mut buf) => {
                match n {
                    Ok(0) | Err(_) => {
                        if !closing {
                            send(status_line(&consoles, "terminated by server")).await;
                        }
                        break;
                    }
                    Ok(_) => {
                        let chunk = buf.split().to_vec();
                        if !send(chunk).await {
                            break;
                        }
                        buf.reserve(16 * 1024);
                    }
                }
            }
        }
    }
    0
}
