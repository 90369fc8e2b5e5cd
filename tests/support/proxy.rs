//! A TCP fault injector between firegrid and mosquitto on 127.0.0.1 — not a broker: it forwards
//! whole MQTT control packets both ways, and can be told to swallow what the *dispatch*
//! connection (the one whose CONNECT names a client id ending in `-dispatch`) sends to the broker,
//! as a network that drops its publishes would, and to cut that connection. It records the
//! `idempotency_key` of every PUBLISH it swallowed, so a test knows firegrid really sent them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct Shared {
    swallow: AtomicBool,
    swallowed: Mutex<Vec<String>>,
}

/// The proxy (stops accepting and drops its connections when dropped).
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:{upstream}`.
    pub async fn start(upstream: u16) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let (cut, cut_rx) = watch::channel(0u64);
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                conns.spawn(serve(client, upstream, s.clone(), cut_rx.clone()));
            }
        });
        Ok(FaultProxy { port, shared, cut, task })
    }

    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// From now on, drop (`true`) or forward (`false`) the dispatch connection's packets to the broker.
    pub fn swallow(&self, on: bool) {
        self.shared.swallow.store(on, Ordering::SeqCst);
    }

    /// The idempotency keys of the PUBLISH packets swallowed so far, in order.
    pub fn swallowed(&self) -> Vec<String> {
        self.shared.swallowed.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Closes every dispatch connection now open (firegrid sees the connection drop).
    pub fn cut_dispatch(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one MQTT control packet (fixed header, remaining length, rest) whole.
async fn read_packet(r: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>> {
    let mut packet = vec![r.read_u8().await?];
    let mut len = 0usize;
    for i in 0..4 {
        let b = r.read_u8().await?;
        packet.push(b);
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let start = packet.len();
            packet.resize(start + len, 0);
            r.read_exact(&mut packet[start..]).await?;
            return Ok(packet);
        }
    }
    bail!("malformed remaining length")
}

/// The `idempotency_key` a dispatch message carries, found in a PUBLISH packet's bytes.
fn idempotency_key(packet: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(packet);
    let rest = &text[text.find("\"idempotency_key\":\"")? + 19..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Client to broker, packet by packet: learns from the CONNECT whether this is the dispatch
/// connection, then drops its packets while told to swallow (the CONNECT always passes).
async fn upstream(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shared: Arc<Shared>,
    dispatch: Arc<AtomicBool>,
) -> Result<()> {
    let connect = read_packet(&mut from).await.context("CONNECT")?;
    dispatch.store(connect.windows(9).any(|w| w == b"-dispatch"), Ordering::SeqCst);
    to.write_all(&connect).await?;
    loop {
        let packet = read_packet(&mut from).await?;
        if dispatch.load(Ordering::SeqCst) && shared.swallow.load(Ordering::SeqCst) {
            if packet[0] >> 4 == 3 {
                if let (Some(key), Ok(mut v)) = (idempotency_key(&packet), shared.swallowed.lock()) {
                    v.push(key);
                }
            }
            continue;
        }
        to.write_all(&packet).await?;
    }
}

async fn serve(client: TcpStream, upstream_port: u16, shared: Arc<Shared>, mut cut: watch::Receiver<u64>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await else { return };
    let (cr, mut cw) = client.into_split();
    let (mut sr, sw) = server.into_split();
    let dispatch = Arc::new(AtomicBool::new(false));
    let up = upstream(cr, sw, shared, dispatch.clone());
    let down = tokio::io::copy(&mut sr, &mut cw);
    let cut = async move {
        loop {
            if cut.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if dispatch.load(Ordering::SeqCst) {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        () = cut => {}
    }
}
