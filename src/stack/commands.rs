//! What reaches an answered agent call's task from outside it: a transfer
//! ([`Stack::transfer`](super::Stack::transfer)) or digits to send
//! ([`Stack::send_dtmf`](super::Stack::send_dtmf)). The task registers a channel from its
//! answer on (before the `answered` event) until it ends; each command carries a reply.

use tokio::sync::{mpsc, oneshot};

use super::Inner;
use crate::StackError;

/// A request to a call's task, with the way back for its answer.
pub(crate) enum CallCommand {
    /// Transfer by REFER to `to` (a number or a URI); replies with the target URI.
    Transfer {
        to: String,
        reply: oneshot::Sender<Result<String, StackError>>,
    },
    /// Send `digits` toward the call's SIP peer, each held `duration_ms`.
    Dtmf {
        digits: String,
        duration_ms: u32,
        reply: oneshot::Sender<Result<(), StackError>>,
    },
}

/// The task's end: where commands arrive until it is dropped.
pub(crate) struct CallCommands<'a> {
    inner: &'a Inner,
    id: &'a str,
    rx: mpsc::Receiver<CallCommand>,
}

impl<'a> CallCommands<'a> {
    /// Lets the stack reach call `id` until this is dropped.
    pub(crate) fn register(inner: &'a Inner, id: &'a str) -> CallCommands<'a> {
        // One command at a time is all a call takes: a second waits for the first's reply.
        let (tx, rx) = mpsc::channel(1);
        inner.call_handles().insert(id.to_owned(), tx);
        CallCommands { inner, id, rx }
    }

    /// The next command (pending forever once none can come).
    pub(crate) async fn next(&mut self) -> CallCommand {
        match self.rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }
}

impl Drop for CallCommands<'_> {
    fn drop(&mut self) {
        self.inner.call_handles().remove(self.id);
    }
}
