//! The io_uring relay (Linux): ONE OS thread serving the RTP/RTCP sockets of many B2BUA
//! calls through one io_uring, instead of a tokio task per call.
//!
//! Why: with a task per call, every forwarded packet costs an `epoll_wait`, a task wake and
//! poll, a `recvmmsg` and a `sendto`. Here each socket keeps one multishot
//! `IORING_OP_RECVMSG` armed, which takes a buffer per datagram from one ring of buffers
//! shared by every socket (so memory does not grow with the calls); a completion goes
//! straight to its call's sans-IO [`Relay`](super::Relay) core, and the datagrams the core
//! emits become `IORING_OP_SEND`s that go to the kernel in the same `io_uring_enter` that
//! waits for the next completions (`IORING_SETUP_DEFER_TASKRUN`: the receive work runs in
//! this thread, inside that call). The sockets sit in the ring's registered file table, so
//! no operation looks its descriptor up.
//! `benches/examples/relay_load` measures both shells against rtpengine (BENCHMARKS.md).
//!
//! The calls keep everything the tokio shell gives: latching with RTP-bleed protection,
//! hold and re-INVITE updates ([`RelayHandle::update_remote`]), the no-RTP timeout and
//! periodic stats as [`RelayEvents`], taps, the final statistics on
//! [`RelayHandle::close`], ports back to the pool only once the sockets are closed. Both
//! kinds of call: B2BUA calls between two socket legs ([`RingRelays::spawn_relay`]) and
//! calls whose media freya terminates ([`RingRelays::spawn_endpoint`]: an agent's call),
//! whose in-process side runs its [`RtpSink`](super::RtpSink) on this thread and whose
//! [`EndpointSender`](super::EndpointSender) wakes it (an eventfd write only when the
//! thread is asleep; a busy thread finds the call in its ready list before it waits).
//! An endpoint whose in-process side lives on other threads pays a cross-thread wake per
//! packet each way: with the bridge's tokio tasks on the other side, `bridge_load --rtp-in
//! --ring` measured no less CPU per frame than the tokio shell and a longer tail, so the
//! stack keeps agent calls on the tokio shell (BENCHMARKS.md).
//!
//! ```
//! use freya_media::relay::{LegId, LegSetup, PortPool, RingRelays, ShellConfig, SharedPortPool};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let ring = RingRelays::start()?;
//! let pool = SharedPortPool::new(PortPool::new(21_400..=21_499)?);
//! let config = ShellConfig { bind_ip: "127.0.0.1".parse()?, ..ShellConfig::default() };
//! let (relay, _events) = ring.spawn_relay(&pool, config, LegSetup::default(), LegSetup::default())?;
//! assert!(relay.local(LegId::B).is_some());
//! assert_eq!(pool.in_use(), 2);
//! let stats = relay.close().await?;
//! assert_eq!(stats.leg(LegId::A).counters.packets_in, 0);
//! assert_eq!(pool.in_use(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod bufs;
mod sockaddr;
mod worker;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::driver::Command;
use super::endpoint::{EndpointLink, MediaEndpoint};
use super::shell::{LegSetup, RelayEvents, RelayHandle, RelayStats, ShellConfig, ShellError};
use super::sockets::{SharedPortPool, SocketPair};
use super::Relay;

/// Settings of a [`RingRelays`]: the defaults suit a server; tests shrink them to drive the
/// paths a busy server takes.
///
/// ```
/// use freya_media::relay::RingOptions;
/// let o = RingOptions::default();
/// assert_eq!((o.buffers, o.registered_files), (1024, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingOptions {
    /// Receive buffers shared by every socket, each holding one datagram of up to 4,096
    /// bytes (4,160 bytes of memory each): a power of two from 1 to 32,768 (the kernel's
    /// bounds). Default 1,024 (≈ 4.3 MB). Fewer than the datagrams that arrive between two
    /// turns of the thread only costs re-armed receives: a datagram waits in its socket
    /// until a buffer is back, none is lost.
    pub buffers: u16,
    /// Put the sockets in the io_uring's registered file table (no descriptor lookup per
    /// operation). Default true; calls beyond the table's room (the process's open-file
    /// limit, at most 65,536 sockets) use plain descriptors either way.
    pub registered_files: bool,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            buffers: 1024,
            registered_files: true,
        }
    }
}

/// The io_uring relay thread and the calls it serves (see the module docs). Its thread is
/// named `freya-rtp-ring` (in `top -H`, `/proc/<pid>/task/*/comm`). Share it behind an
/// `Arc`; dropping it closes every call still up (each handle's
/// [`close`](RelayHandle::close) then returns its final statistics) and joins the thread.
#[derive(Debug)]
pub struct RingRelays {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RingRelays {
    /// Sets up the ring (4,096 submission entries; the completion queue 4× that) and starts
    /// its thread.
    ///
    /// # Errors
    /// [`ShellError::Ring`] when io_uring is unavailable (kernels before 6.1, which lack
    /// `DEFER_TASKRUN`; `kernel.io_uring_disabled`; seccomp) or the thread cannot start.
    pub fn start() -> Result<RingRelays, ShellError> {
        Self::start_with(RingOptions::default())
    }

    /// As [`start`](Self::start), with `options`.
    ///
    /// # Errors
    /// As [`start`](Self::start); also [`ShellError::Ring`] for a buffer count that is not
    /// a power of two from 1 to 32,768.
    pub fn start_with(options: RingOptions) -> Result<RingRelays, ShellError> {
        if !options.buffers.is_power_of_two() || options.buffers > 32_768 {
            return Err(ShellError::Ring {
                reason: format!(
                    "buffers must be a power of two from 1 to 32768, not {}",
                    options.buffers
                ),
            });
        }
        // SAFETY: eventfd returns a new descriptor (or -1, checked); we own it from here.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(ShellError::Ring {
                reason: format!("eventfd: {}", std::io::Error::last_os_error()),
            });
        }
        // SAFETY: `fd` is a valid, open descriptor nobody else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(fd) };
        let shared = Arc::new(Shared {
            wake,
            requests: Mutex::new(Vec::new()),
            ended: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            buffer_waits: AtomicU64::new(0),
            ready: Mutex::new(Vec::new()),
            sleeping: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&shared);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // The ring is set up on its own thread: with DEFER_TASKRUN only the task that
        // created it may submit.
        let thread = std::thread::Builder::new()
            .name("freya-rtp-ring".into())
            .spawn(move || match worker::Worker::new(for_thread, options) {
                Ok(worker) => {
                    let _ = ready_tx.send(Ok(()));
                    worker.run();
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| ShellError::Ring {
                reason: format!("thread: {e}"),
            })?;
        let ready = ready_rx.recv().map_err(|_| ShellError::Ring {
            reason: "the thread ended during setup".into(),
        })?;
        if let Err(e) = ready {
            let _ = thread.join();
            return Err(ShellError::Ring {
                reason: format!("io_uring setup: {e}"),
            });
        }
        Ok(RingRelays {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// How many times a socket's receive found every buffer in use and was re-armed (its
    /// datagrams waited in the socket meanwhile; none is lost). Growing steadily under load:
    /// raise [`RingOptions::buffers`].
    pub fn buffer_waits(&self) -> u64 {
        self.shared.buffer_waits.load(Ordering::Relaxed)
    }

    /// As [`spawn_relay`](super::spawn_relay), served by this ring's thread: binds an
    /// RTP/RTCP socket pair per leg from `pool` and hands the call to the thread. Needs no
    /// tokio runtime.
    ///
    /// # Errors
    /// [`ShellError::Ports`] when the pool is exhausted, [`ShellError::Bind`],
    /// [`ShellError::Relay`] for a refused [`RelayConfig`](super::RelayConfig),
    /// [`ShellError::Closed`] when the ring's thread has ended. Ports already booked are
    /// released on error.
    pub fn spawn_relay(
        &self,
        pool: &SharedPortPool,
        config: ShellConfig,
        a: LegSetup,
        b: LegSetup,
    ) -> Result<(RelayHandle, RelayEvents), ShellError> {
        let (pair_a, pair_b, relay) =
            super::shell::bind_call(config, a, b, |ip| pool.bind_pair_std(ip))?;
        self.hand_over(config, relay, [Some(pair_a), Some(pair_b)], None)
    }

    /// As [`spawn_endpoint`](super::spawn_endpoint), served by this ring's thread: binds
    /// leg A's RTP/RTCP socket pair from `pool`; leg B is the returned [`MediaEndpoint`],
    /// whose [`RtpSink`](super::RtpSink), if any, runs on the ring's thread. Needs no tokio
    /// runtime.
    ///
    /// # Errors
    /// As [`spawn_relay`](Self::spawn_relay).
    pub fn spawn_endpoint(
        &self,
        pool: &SharedPortPool,
        config: ShellConfig,
        a: LegSetup,
    ) -> Result<(RelayHandle, MediaEndpoint, RelayEvents), ShellError> {
        let (pair_a, relay) = super::shell::bind_endpoint(config, a, |ip| pool.bind_pair_std(ip))?;
        let link = EndpointLink::new(config.endpoint_capacity.max(1));
        let (handle, events) =
            self.hand_over(config, relay, [Some(pair_a), None], Some(Arc::clone(&link)))?;
        Ok((handle, MediaEndpoint::new(link), events))
    }

    /// Hands a bound call to the thread; its handle and events.
    fn hand_over(
        &self,
        config: ShellConfig,
        relay: Relay,
        legs: [Option<SocketPair<std::net::UdpSocket>>; 2],
        endpoint: Option<Arc<EndpointLink>>,
    ) -> Result<(RelayHandle, RelayEvents), ShellError> {
        let local = [0, 1].map(|i| legs[i].as_ref().map(|pair| pair.local));
        let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let (done_tx, done_rx) = oneshot::channel();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.shared.push(Request::Add(Box::new(NewCall {
            id,
            relay,
            legs,
            endpoint,
            events: event_tx,
            done: done_tx,
            stats_interval: config.stats_interval,
            local,
        })))?;
        let call = CallRef {
            shared: Arc::clone(&self.shared),
            id,
        };
        Ok((
            RelayHandle::ring(call, done_rx, local),
            RelayEvents(event_rx),
        ))
    }
}

impl Drop for RingRelays {
    fn drop(&mut self) {
        let _ = self.shared.push(Request::Shutdown);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("relay ring thread panicked");
            }
        }
    }
}

/// What the handles and the ring's thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// An eventfd the thread keeps a read armed on: written after each request.
    wake: OwnedFd,
    requests: Mutex<Vec<Request>>,
    /// The thread has ended: requests are refused.
    ended: AtomicBool,
    next_id: AtomicU64,
    /// Receives that ended because every buffer was in use, and were re-armed.
    buffer_waits: AtomicU64,
    /// Endpoint calls whose in-process sender queued packets since the thread last looked:
    /// `(slab index, generation)`, pushed by their [`CallWaker`]s.
    ready: Mutex<Vec<(usize, u32)>>,
    /// The thread is about to wait or waiting in `io_uring_enter`: a waker must write the
    /// eventfd. Set before the thread's last look at `ready`, read after a waker's push
    /// (both `SeqCst`), so a push is either seen by that look or followed by a write.
    sleeping: AtomicBool,
}

impl Shared {
    fn push(&self, request: Request) -> Result<(), ShellError> {
        {
            let mut queue = self.lock();
            // Checked under the lock the thread takes when it ends: a request is either
            // refused here or seen by the thread.
            if self.ended.load(Ordering::Acquire) {
                return Err(ShellError::Closed);
            }
            queue.push(request);
        }
        self.wake_thread();
        Ok(())
    }

    fn wake_thread(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to our open eventfd. A full counter
        // (EAGAIN, after 2^64 - 2 unread writes) still leaves the fd readable: nothing lost.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    pub(crate) fn ready(&self) -> MutexGuard<'_, Vec<(usize, u32)>> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Request>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a handle or the owner asks of the ring's thread.
#[derive(Debug)]
pub(crate) enum Request {
    Add(Box<NewCall>),
    Command { id: u64, command: Command },
    Shutdown,
}

/// The waker an endpoint call's link holds for the thread: queues the call on the ready
/// list, and writes the eventfd only if the thread is asleep.
pub(crate) struct CallWaker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    pub(crate) gen: u32,
}

impl std::task::Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.ready().push((self.index, self.gen));
        if self.shared.sleeping.load(Ordering::SeqCst) {
            self.shared.wake_thread();
        }
    }
}

/// A call handed to the thread.
#[derive(Debug)]
pub(crate) struct NewCall {
    id: u64,
    relay: Relay,
    /// Sockets per leg; leg B has none for an endpoint call.
    legs: [Option<SocketPair<std::net::UdpSocket>>; 2],
    /// The in-process side of an endpoint call.
    endpoint: Option<Arc<EndpointLink>>,
    events: mpsc::Sender<Box<super::shell::ShellEvent>>,
    done: oneshot::Sender<RelayStats>,
    stats_interval: Option<std::time::Duration>,
    local: [Option<super::shell::LegAddrs>; 2],
}

/// A [`RelayHandle`]'s way to its call on the ring's thread. Dropped, it closes the call
/// (as dropping the tokio shell's handle ends the call's task).
#[derive(Debug)]
pub(crate) struct CallRef {
    shared: Arc<Shared>,
    id: u64,
}

impl CallRef {
    pub(crate) fn send(&self, command: Command) -> Result<(), ShellError> {
        self.shared.push(Request::Command {
            id: self.id,
            command,
        })
    }
}

impl Drop for CallRef {
    fn drop(&mut self) {
        // After `close` this is a second Close, which the thread ignores (unknown id).
        let _ = self.send(Command::Close);
    }
}
