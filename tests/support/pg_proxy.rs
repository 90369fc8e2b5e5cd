//! A TCP fault injector between a client and the harness's PostgreSQL on 127.0.0.1 — not a
//! server: it forwards the client's bytes as they come and the server's protocol messages (type
//! byte, length, body) whole, and, once armed, loses the answer to the next `COMMIT`: it drops
//! the server's `CommandComplete` of that commit and cuts the connection. The server has
//! committed; the client never hears so — the ambiguous failure a network gives a commit.
//!
//! Plaintext only (connect with `sslmode=disable`: the proxy reads the server's first bytes as
//! messages, which an `SSLRequest`'s one-byte answer is not). Shared with `alerting/tests` by
//! `#[path]`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Shared {
    armed: AtomicBool,
    lost: AtomicUsize,
}

/// The proxy (stops accepting and drops its connections when dropped).
pub struct PgFaultProxy {
    port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl PgFaultProxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:{upstream}`.
    pub async fn start(upstream: u16) -> Result<PgFaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                conns.spawn(serve(client, upstream, s.clone()));
            }
        });
        Ok(PgFaultProxy { port, shared, task })
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `url` (a `postgres://…:{port}/…` URL of the real server) pointed at the proxy, with
    /// `sslmode=disable`.
    pub fn url_through(&self, url: &str, server_port: u16) -> String {
        let through = url.replace(&format!(":{server_port}/"), &format!(":{}/", self.port));
        let sep = if through.contains('?') { '&' } else { '?' };
        format!("{through}{sep}sslmode=disable")
    }

    /// The answer to the next `COMMIT` on any connection is lost (and that connection cut).
    pub fn lose_next_commit_answer(&self) {
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    /// How many commit answers were lost so far.
    pub fn lost(&self) -> usize {
        self.shared.lost.load(Ordering::SeqCst)
    }
}

impl Drop for PgFaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards one connection until either side closes or a commit's answer is lost.
async fn serve(client: TcpStream, upstream: u16, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let down = async move {
        while let Ok(message) = read_message(&mut server_read).await {
            if is_commit_complete(&message) && shared.armed.swap(false, Ordering::SeqCst) {
                shared.lost.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if client_write.write_all(&message).await.is_err() {
                return;
            }
        }
    };
    // Whichever ends first ends the connection: both halves are dropped, both sockets close.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// One backend message: type byte, big-endian length (counting itself), body.
async fn read_message(r: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut message = head.to_vec();
    message.resize(1 + len.max(4), 0);
    r.read_exact(&mut message[5..]).await?;
    Ok(message)
}

/// A `CommandComplete` whose tag is `COMMIT`.
fn is_commit_complete(message: &[u8]) -> bool {
    message.first() == Some(&b'C') && message.get(5..) == Some(b"COMMIT\0".as_slice())
}
