//! The HTTP edge's defences against a peer that only wants to pin the server: a cap on
//! connections, in total and per peer address; hyper's header read timeout (which also closes a
//! connection that sends nothing); and a gate on bodies not yet authenticated — how many are read
//! at once, how much memory they may hold together, and how long one may take to arrive.
//!
//! The per-peer count is hand-written (an accept loop with a map of addresses): tower's and
//! tower-http's limits count requests, not connections, and know nothing of peers. See
//! docs/decisions.md.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::webhook::Rejection;

/// The edge's limits. The defaults hold `slipway serve` under 256 MiB with hundreds of abusive
/// connections (docs/decisions.md has the figures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// A request's headers must arrive within this, counted from when the server starts waiting
    /// for them: a connection that sends nothing, or headers a byte at a time, is closed.
    pub header_timeout: Duration,
    /// A request's body must arrive within this, counted from the end of its headers (408).
    pub body_timeout: Duration,
    /// Open connections at most; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Open connections from one IP address at most (behind a reverse proxy, every peer is the
    /// proxy: raise this or let the proxy limit).
    pub max_connections_per_peer: usize,
    /// Bodies being read at once, before their signature can be checked.
    pub max_pending_bodies: usize,
    /// Memory those bodies may hold together: the ceiling under abuse. At least the body limit.
    pub body_memory_bytes: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_peer: 64,
            max_pending_bodies: 128,
            body_memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// hyper's read buffer per connection at most (its default is about 400 KB): headers must fit
/// in it, and body frames are no larger.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// Body memory is counted in units of this many bytes.
const UNIT: usize = 1024;

/// Bodies up to this size (every ordinary delivery) may use the whole memory budget; growth past
/// it must leave [`RESERVE_SHARE`] of the budget free, so that large forged bodies cannot crowd
/// out small authentic ones.
const SMALL_BODY: usize = 1024 * 1024;
/// One peer may read at most this share of the pending bodies at once (and always one).
const PEER_READER_SHARE: usize = 8;
const RESERVE_SHARE: usize = 8;

/// Serve `routes` on `listener` within `limits` until `shutdown` completes, then let open
/// connections finish (for at most the header and body timeouts).
pub async fn serve(
    listener: TcpListener,
    routes: Router,
    limits: &EdgeLimits,
    shutdown: impl Future<Output = ()>,
) {
    return_large_buffers_to_the_os();
    let peers = Peers::default();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = tokio::sync::watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_READ_BUFFER);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // never a reason to stop serving.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = peers.take(peer_key(peer.ip()), limits.max_connections_per_peer) else {
            tracing::debug!(%peer, "too many connections from this peer: closed");
            continue;
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::warn!(%peer, "too many connections: closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The handlers see whom they answer, to share the body readers fairly between peers.
        let routes = routes
            .clone()
            .layer(axum::Extension(Peer(peer_key(peer.ip()))));
        let service = TowerToHyperService::new(routes);
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _held = (slot, permit);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
    drop(listener);
    let _ = stop.send(());
    // Every connection gives its permit back when it ends; each is bounded by the timeouts.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let grace = limits.header_timeout + limits.body_timeout;
    let _ = tokio::time::timeout(grace, connections.acquire_many(all)).await;
}

/// Make glibc give every allocation of 256 KiB or more its own mapping, returned to the system
/// when freed. By default glibc raises that threshold after the first such free (up to 32 MiB),
/// so body buffers of megabytes then come from per-thread arenas that keep them after they are
/// freed: under a flood of large forged bodies the process grew well past the body memory
/// budget. With a fixed threshold a buffer's growth is also a `mremap`, not a copy.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; it is called before the server's
        // connections allocate, and any value is valid for M_MMAP_THRESHOLD up to 32 MiB.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}

/// The address a peer is counted under: an IPv4 address as it is (an IPv4-mapped IPv6 one as
/// IPv4), an IPv6 address by its /64 — one subscriber's prefix, which holds more addresses than
/// any cap could count one by one.
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

/// The address (see [`peer_key`]) a request's connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peer(pub IpAddr);

/// Open connections per peer address.
#[derive(Clone, Default)]
struct Peers(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open connection of a peer, counted until dropped.
struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl Peers {
    fn take(&self, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The gate every webhook body passes before its signature can be checked.
pub(crate) struct BodyGate {
    readers: Semaphore,
    /// Readers per peer, so that a few addresses trickling forged bodies cannot hold them all.
    readers_by_peer: Peers,
    max_readers_per_peer: usize,
    /// Told whenever a peer's reader place is given back.
    reader_released: Notify,
    memory: Semaphore,
    /// Left for small bodies: growth past [`SMALL_BODY`] may not take these.
    reserve_units: usize,
    timeout: Duration,
}

/// A peer's place among the body readers; giving it back wakes that peer's waiting readers.
struct ReaderSlot<'g> {
    slot: Option<PeerSlot>,
    released: &'g Notify,
}

impl Drop for ReaderSlot<'_> {
    fn drop(&mut self) {
        drop(self.slot.take());
        self.released.notify_waiters();
    }
}

/// A body read through the gate, and its share of the memory budget, held until dropped.
pub(crate) struct GatedBody<'g> {
    pub bytes: Bytes,
    _memory: Option<SemaphorePermit<'g>>,
}

impl BodyGate {
    pub(crate) fn new(limits: &EdgeLimits) -> Self {
        let units = limits.body_memory_bytes / UNIT;
        BodyGate {
            readers: Semaphore::new(limits.max_pending_bodies),
            readers_by_peer: Peers::default(),
            max_readers_per_peer: (limits.max_pending_bodies / PEER_READER_SHARE).max(1),
            reader_released: Notify::new(),
            memory: Semaphore::new(units),
            reserve_units: units / RESERVE_SHARE,
            timeout: limits.body_timeout,
        }
    }

    /// One of `ip`'s reader places, waited for until `deadline`: a burst from one address (a
    /// self-managed GitLab sends every project's hooks from one) queues for a moment instead of
    /// being refused, while one address trickling bodies still holds no more than its share.
    async fn peer_reader(
        &self,
        ip: IpAddr,
        deadline: Instant,
    ) -> Result<ReaderSlot<'_>, Rejection> {
        loop {
            // Registered before the count is read, so a place given back in between wakes it.
            let released = self.reader_released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(slot) = self.readers_by_peer.take(ip, self.max_readers_per_peer) {
                return Ok(ReaderSlot {
                    slot: Some(slot),
                    released: &self.reader_released,
                });
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Err(Rejection::Busy);
            }
        }
    }

    /// Read `body` (at most `limit` bytes, `declared` by `Content-Length` when known) by the
    /// deadline. Memory is taken from the budget as the buffer grows, never for bytes that have
    /// not arrived: a slow body holds what it sent, not what it declared. A reader's place is
    /// waited for (within the deadline); memory is not: when the budget cannot cover the next
    /// growth the answer is 429 at once, so large bodies never queue ahead of small ones.
    pub(crate) async fn read(
        &self,
        body: Body,
        declared: Option<usize>,
        limit: usize,
        peer: Option<Peer>,
    ) -> Result<GatedBody<'_>, Rejection> {
        let deadline = Instant::now() + self.timeout;
        let _peer_reader = match peer {
            Some(Peer(ip)) => Some(self.peer_reader(ip, deadline).await?),
            None => None,
        };
        let _reader = match tokio::time::timeout_at(deadline, self.readers.acquire()).await {
            Ok(Ok(reader)) => reader,
            _ => return Err(Rejection::Busy),
        };
        let mut body = body;
        let mut buffer: Vec<u8> = Vec::new();
        let mut memory: Option<SemaphorePermit<'_>> = None;
        let mut held_units = 0usize;
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(Rejection::TooSlow {
                        limit: self.timeout,
                    })
                }
                Ok(None) => break,
                Ok(Some(Err(error))) => {
                    return Err(Rejection::Malformed(format!(
                        "reading the body failed: {error}"
                    )))
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let needed = buffer.len() + data.len();
            if needed > limit {
                return Err(Rejection::TooLarge { limit });
            }
            if needed > buffer.capacity() {
                // Grow as a Vec would (doubling), but never past what was declared or allowed,
                // and take the memory before using it.
                let ceiling = declared.unwrap_or(limit).clamp(needed, limit);
                let capacity = needed.max(buffer.capacity() * 2).min(ceiling);
                let units = capacity.div_ceil(UNIT);
                if units > held_units {
                    let more = units - held_units;
                    let keep = if capacity > SMALL_BODY {
                        self.reserve_units
                    } else {
                        0
                    };
                    if self.memory.available_permits() < more + keep {
                        return Err(Rejection::Busy);
                    }
                    let more = u32::try_from(more).map_err(|_| Rejection::Busy)?;
                    let Ok(permit) = self.memory.try_acquire_many(more) else {
                        return Err(Rejection::Busy);
                    };
                    held_units = units;
                    match &mut memory {
                        Some(held) => held.merge(permit),
                        None => memory = Some(permit),
                    }
                }
                buffer.reserve_exact(capacity - buffer.len());
            }
            buffer.extend_from_slice(&data);
        }
        Ok(GatedBody {
            bytes: Bytes::from(buffer),
            _memory: memory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_counted_by_address_and_ipv6_by_its_64() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("2001:db8:1:3::1", "2001:db8:1:3::"),
            ("::1", "::"),
        ];
        for (ip, key) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(peer_key(ip), key.parse::<IpAddr>().unwrap(), "{ip}");
        }
    }

    #[tokio::test]
    async fn one_peer_cannot_hold_every_body_reader() {
        use http_body_util::channel::Channel;
        let limits = EdgeLimits {
            max_pending_bodies: 16, // two per peer
            body_timeout: Duration::from_millis(300),
            ..EdgeLimits::default()
        };
        let gate = BodyGate::new(&limits);
        let trickler_ip: IpAddr = "192.0.2.1".parse().unwrap();
        let trickler = Some(Peer(trickler_ip));
        let other = Some(Peer("192.0.2.2".parse().unwrap()));
        let (first_sender, first) = Channel::<Bytes, std::convert::Infallible>::new(1);
        let (second_sender, second) = Channel::<Bytes, std::convert::Infallible>::new(1);
        let slow = |body| gate.read(Body::new(body), None, 1024, trickler);
        let check = async {
            tokio::task::yield_now().await; // both slow reads now hold their places
            let third = gate.read(Body::from("x"), None, 1024, trickler);
            tokio::pin!(third);
            let waited = tokio::time::timeout(Duration::from_millis(50), third.as_mut()).await;
            assert!(waited.is_err(), "a third reader for one peer waits");
            let theirs = gate.read(Body::from("signed"), None, 1024, other).await;
            assert_eq!(theirs.unwrap().bytes, "signed", "another peer is served");
            drop((first_sender, second_sender)); // the slow bodies end
            assert_eq!(
                third.await.unwrap().bytes,
                "x",
                "then the third gets a place"
            );
        };
        let (first, second, ()) = tokio::join!(slow(first), slow(second), check);
        assert!(first.is_ok() && second.is_ok());

        // Places held past a waiting reader's deadline: it is refused then.
        let _held = [0, 1].map(|_| gate.readers_by_peer.take(trickler_ip, 2).unwrap());
        let started = Instant::now();
        let third = gate.read(Body::from("x"), None, 1024, trickler).await;
        assert_eq!(third.err(), Some(Rejection::Busy));
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "at its deadline"
        );
    }

    #[test]
    fn a_peer_gets_its_connections_back_when_they_close() {
        let peers = Peers::default();
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        let other: IpAddr = "127.0.0.8".parse().unwrap();
        let first = peers.take(ip, 2).unwrap();
        let _second = peers.take(ip, 2).unwrap();
        assert!(peers.take(ip, 2).is_none(), "a third is over the cap");
        assert!(
            peers.take(other, 2).is_some(),
            "another peer is not affected"
        );
        drop(first);
        assert!(peers.take(ip, 2).is_some());
    }

    #[tokio::test]
    async fn bodies_hold_memory_for_what_arrived_and_give_it_back() {
        let limits = EdgeLimits {
            body_memory_bytes: 64 * 1024,
            body_timeout: Duration::from_millis(200),
            ..EdgeLimits::default()
        };
        let gate = BodyGate::new(&limits);
        let body = gate
            .read(Body::from(vec![b'x'; 40 * 1024]), None, 1 << 20, None)
            .await
            .ok()
            .unwrap();
        assert_eq!(body.bytes.len(), 40 * 1024);
        assert!(gate.memory.available_permits() <= 24, "40 KiB taken");
        // While it is held, a second 40 KiB body cannot have its memory: 429 at once.
        let second = gate
            .read(
                Body::from(vec![b'y'; 40 * 1024]),
                Some(40 * 1024),
                1 << 20,
                None,
            )
            .await;
        assert_eq!(second.err(), Some(Rejection::Busy));
        drop(body);
        assert_eq!(gate.memory.available_permits(), 64);
        let third = gate
            .read(
                Body::from(vec![b'z'; 40 * 1024]),
                Some(40 * 1024),
                1 << 20,
                None,
            )
            .await;
        assert!(third.is_ok());
        let too_big = gate
            .read(Body::from(vec![0u8; 2048]), None, 1024, None)
            .await;
        assert_eq!(too_big.err(), Some(Rejection::TooLarge { limit: 1024 }));
    }

    #[tokio::test]
    async fn large_bodies_leave_room_for_small_ones() {
        let limits = EdgeLimits {
            body_memory_bytes: 8 * 1024 * 1024,
            ..EdgeLimits::default()
        };
        let gate = BodyGate::new(&limits);
        let seven_mib = 7 * 1024 * 1024;
        let large = gate
            .read(
                Body::from(vec![b'x'; seven_mib]),
                Some(seven_mib),
                1 << 30,
                None,
            )
            .await
            .ok()
            .unwrap();
        // 7 of 8 MiB may be taken by a large body: the eighth is kept for small ones.
        let another = gate
            .read(Body::from(vec![b'x'; 2 * 1024 * 1024]), None, 1 << 30, None)
            .await;
        assert_eq!(another.err(), Some(Rejection::Busy));
        let small = gate
            .read(Body::from(vec![b's'; 20_000]), None, 1 << 30, None)
            .await;
        assert!(small.is_ok(), "a small body still passes");
        drop(large);
    }
}
