//! `server sshport=`: the SSH front end.
//!
//! `ssh -p 7822 server-0@consolehost` attaches to console `server-0`;
//! `ssh -p 7822 -t consolehost -- [conman options] [consoles]` runs the client's
//! options. Users authenticate with a key listed in their file in `server
//! sshusers=DIR`, or an OpenSSH user certificate signed by a CA in `server
//! sshca=FILE` (the first principal is the user). What they may then do is the
//! ACL's answer ([`crate::access`]); everything is audited.
//!
//! - [`keys`]: host key, user keys, CA keys, certificate checks.
//! - [`bridge`]: one channel, speaking ConMan's protocol to the daemon's own
//!   handshake in process.
//!
//! Bounds: SSH connections count against the same client limits as the native
//! port (`maxclients`, the per-host share); a connection must authenticate within
//! the handshake timeout; failed authentications are limited per source address
//! ([`MAX_FAILURES`] per [`FAILURE_WINDOW`], after which its connections are
//! closed on accept until the window ends); at most [`MAX_CHANNELS`] sessions per
//! connection. A rejection looks the same whether or not the user or key exists
//! (russh answers rejections after a constant delay).

pub mod bridge;
pub mod keys;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use russh::keys::{Certificate, PrivateKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{AuthMethod, Identity, Record};
use crate::frontend::Frontend;

/// Failed authentications a source address may have per [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The window for [`MAX_FAILURES`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Session channels per connection.
pub const MAX_CHANNELS: usize = 4;

/// What the SSH front end needs besides the client front end.
pub struct SshFront {
    front: Arc<Frontend>,
    /// `server sshusers=`.
    users: Option<PathBuf>,
    /// `server sshca=`.
    ca: Option<PathBuf>,
    config: Arc<russh::server::Config>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl SshFront {
    /// The front end with host key `host_key`.
    pub fn new(
        front: Arc<Frontend>,
        host_key: PrivateKey,
        users: Option<PathBuf>,
        ca: Option<PathBuf>,
    ) -> Arc<SshFront> {
        let config = russh::server::Config {
            server_id: russh::SshId::Standard(
                format!("SSH-2.0-conmand_{}", env!("CARGO_PKG_VERSION")).into(),
            ),
            methods: MethodSet::from(&[MethodKind::PublicKey][..]),
            keys: vec![host_key],
            auth_rejection_time: Duration::from_millis(500),
            auth_rejection_time_initial: Some(Duration::ZERO),
            max_auth_attempts: 6,
            // A console session may sit idle for hours; dead peers are found by
            // keepalives instead.
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_max: 4,
            nodelay: true,
            ..Default::default()
        };
        Arc::new(SshFront {
            front,
            users,
            ca,
            config: Arc::new(config),
            failures: Mutex::new(HashMap::new()),
        })
    }

    fn blocked(&self, ip: IpAddr) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match f.get(&ip) {
            Some((_, since)) if since.elapsed() >= FAILURE_WINDOW => {
                f.remove(&ip);
                false
            }
            Some((n, _)) => *n >= MAX_FAILURES,
            None => false,
        }
    }

    fn failed(&self, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() > 100_000 {
            f.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let e = f.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAILURE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        if e.0 == MAX_FAILURES {
            tracing::warn!(
                "SSH: {MAX_FAILURES} failed authentications from {ip}; refusing it for {}s",
                FAILURE_WINDOW.as_secs()
            );
        }
    }
}

/// Accept SSH connections on `listener` until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    ssh: Arc<SshFront>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("SSH accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if ssh.blocked(peer.ip()) {
            continue;
        }
        let ticket = match ssh.front.admit(peer.ip()) {
            Ok(t) => t,
            Err(why) => {
                ssh.front.log_refusal(peer, &why, now_ms());
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(peer);
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(
            stream,
            peer,
            local,
            ssh.clone(),
            tracker.clone(),
            cancel.child_token(),
            ticket,
        ));
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    ssh: Arc<SshFront>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    _ticket: crate::frontend::ClientTicket,
) {
    // hosts.allow / hosts.deny apply here as on the native port.
    if crate::tcpwrap::screen(&ssh.front, peer).await.is_none() {
        return;
    }
    let authed = Arc::new(AtomicBool::new(false));
    let handler = Conn {
        ssh: ssh.clone(),
        peer,
        local,
        who: None,
        login: String::new(),
        channels: HashMap::new(),
        started: 0,
        authed: authed.clone(),
        tracker: tracker.clone(),
    };
    let limit = ssh.front.handshake_timeout;
    let session = match tokio::time::timeout(
        limit,
        russh::server::run_stream(ssh.config.clone(), stream, handler),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!("SSH <{peer}>: {e}");
            return;
        }
        Err(_) => {
            tracing::info!(
                "SSH <{peer}> dropped: no SSH greeting within {}s",
                limit.as_secs()
            );
            return;
        }
    };
    let handle = session.handle();
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(session, deadline);
    let mut checked = false;
    loop {
        tokio::select! {
            r = &mut session => {
                if let Err(e) = r {
                    tracing::debug!("SSH <{peer}> ended: {e:?}");
                }
                return;
            }
            _ = &mut deadline, if !checked => {
                checked = true;
                if !authed.load(Ordering::Acquire) {
                    tracing::info!("SSH <{peer}> dropped: not authenticated within {}s", limit.as_secs());
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "authentication timed out".into(), String::new())
                        .await;
                    return;
                }
            }
            _ = cancel.cancelled() => {
                let _ = handle
                    .disconnect(russh::Disconnect::ByApplication, "conmand is shutting down".into(), String::new())
                    .await;
                return;
            }
        }
    }
}

/// One SSH connection's handler.
struct Conn {
    ssh: Arc<SshFront>,
    peer: SocketAddr,
    local: SocketAddr,
    who: Option<Identity>,
    /// The SSH login name (the default console).
    login: String,
    /// Session channels opened and not yet started.
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// Sessions started on this connection.
    started: usize,
    authed: Arc<AtomicBool>,
    tracker: TaskTracker,
}

impl Conn {
    fn accept(&mut self, login: &str, user: String, auth: AuthMethod) -> Auth {
        let who = Identity {
            user,
            auth,
            source: self.peer,
        };
        tracing::info!(
            "SSH <{}> authenticated as {} ({})",
            self.peer,
            who.user,
            describe(&who.auth)
        );
        self.ssh.front.access.audit(
            &who,
            Record {
                console: None,
                action: "login",
                mode: None,
                outcome: "ok",
                reason: None,
            },
        );
        self.login = login.to_string();
        self.who = Some(who);
        Auth::Accept
    }

    fn reject(&mut self, why: String) -> Auth {
        tracing::info!("SSH <{}> authentication failed: {why}", self.peer);
        self.ssh.failed(self.peer.ip());
        let nobody = Identity {
            user: String::new(),
            auth: AuthMethod::Claimed,
            source: self.peer,
        };
        self.ssh.front.access.audit(
            &nobody,
            Record {
                console: None,
                action: "login",
                mode: None,
                outcome: "denied",
                reason: Some(why),
            },
        );
        Auth::reject()
    }

    fn start(&mut self, channel: ChannelId, command: Option<&[u8]>, session: &mut Session) {
        let (Some(chan), Some(who)) = (self.channels.remove(&channel), self.who.clone()) else {
            let _ = session.channel_failure(channel);
            return;
        };
        let cmd = match command {
            None => Ok(conmand_core::sshcmd::parse("").unwrap_or_else(|_| unreachable!())),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => conmand_core::sshcmd::parse(text),
                Err(_) => Err("the command is not UTF-8".to_string()),
            },
        };
        let _ = session.channel_success(channel);
        self.started += 1;
        let front = self.ssh.front.clone();
        match cmd {
            Ok(cmd) => {
                let job = bridge::Job {
                    cmd,
                    login: self.login.clone(),
                    local: self.local,
                };
                self.tracker
                    .spawn(bridge::run(front, who, job, chan, self.tracker.clone()));
            }
            Err(e) => {
                self.tracker.spawn(async move {
                    let (_, wr) = chan.split();
                    let text = format!("ERROR: {e}. (-h lists the options)\r\n");
                    let _ = wr.data(text.as_bytes()).await;
                    let _ = wr.exit_status(1).await;
                    let _ = wr.eof().await;
                    let _ = wr.close().await;
                });
            }
        }
    }
}

fn describe(auth: &AuthMethod) -> String {
    match auth {
        AuthMethod::Claimed => "unauthenticated".into(),
        AuthMethod::Key { fingerprint } => format!("key {fingerprint}"),
        AuthMethod::Certificate { serial, key_id, ca } => {
            format!("certificate serial {serial} id \"{key_id}\" from CA {ca}")
        }
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let fingerprint = keys::fingerprint(key.public_key.key_data());
        if self.ssh.blocked(self.peer.ip()) {
            return Ok(Auth::reject());
        }
        let Some(dir) = self.ssh.users.clone() else {
            return Ok(self.reject(format!("key {fingerprint}: no sshusers directory")));
        };
        let public = key.public_key.clone();
        let owner = tokio::task::spawn_blocking(move || keys::key_owner(&dir, &public))
            .await
            .ok()
            .flatten();
        Ok(match owner {
            Some(owner) => self.accept(user, owner, AuthMethod::Key { fingerprint }),
            None => self.reject(format!("unknown key {fingerprint}")),
        })
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        if self.ssh.blocked(self.peer.ip()) {
            return Ok(Auth::reject());
        }
        let Some(path) = self.ssh.ca.clone() else {
            return Ok(self.reject("a certificate, but no sshca file".into()));
        };
        let cas = tokio::task::spawn_blocking(move || keys::ca_keys(&path))
            .await
            .unwrap_or_default();
        Ok(
            match keys::check_certificate(certificate, &cas, self.peer.ip(), SystemTime::now()) {
                Ok((who, auth)) => self.accept(user, who, auth),
                Err(why) => self.reject(format!(
                    "certificate serial {} id \"{}\": {why}",
                    certificate.serial(),
                    certificate.key_id().escape_debug()
                )),
            },
        )
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        self.authed.store(true, Ordering::Release);
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.channels.len() + self.started >= MAX_CHANNELS {
            reply
                .reject(russh::ChannelOpenFailure::ResourceShortage)
                .await;
        } else {
            self.channels.insert(channel.id(), channel);
            reply.accept().await;
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Honoured for the client's line discipline (it goes raw); a serial console
        // has no size, so none is kept.
        let _ = session.channel_success(channel);
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        _channel: ChannelId,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, None, session);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, Some(data), session);
        Ok(())
    }
}
