//! Calls taken by the host: the program running the stack is the voice agent of a
//! `mode = "host"` pool (a pipecat pipeline in the same Python process, a Rust service),
//! with the call's audio as PCM frames and no WebSocket to run or secure.
//!
//! [`Stack::host_calls`](super::Stack::host_calls) registers the host for a pool; each call
//! routed there and given a slot arrives as a [`HostCall`] on the returned [`HostCalls`],
//! after its `slot_taken` event and before it is answered (a caller is never answered into
//! silence). Its audio then flows through the same bridge leg as a dialled agent's:
//! paced, bounded, cleared on barge-in, counted in the hangup event's `media.agent`.

use freya_media::bridge::{CallMetadata, HostAgent};
use tokio::sync::mpsc;

/// Calls not yet taken by the host that may wait, per pool: beyond it a call fails as if
/// its agent were unreachable (503), rather than wait for a host that stopped reading.
pub const HOST_QUEUE: usize = 32;

/// One call handed to the host. [`HostCall::agent`] carries its audio:
/// [`HostAgent::split`] gives the caller's audio and DTMF ([`freya_media::bridge::HostReceiver`])
/// and the way to speak, barge in and hang up ([`freya_media::bridge::HostSender`]).
/// Dropping both halves ends the call as an agent that went away would (cause 41).
///
/// ```no_run
/// # async fn f(stack: freya::stack::Stack) -> Result<(), freya::StackError> {
/// use freya::media::bridge::HostInput;
/// let mut calls = stack.host_calls("agents")?;
/// while let Some(call) = calls.next().await {
///     tokio::spawn(async move {
///         let (mut from_caller, mut to_caller) = call.agent.split();
///         while let Some(input) = from_caller.recv().await {
///             if let HostInput::Audio(samples) = input {
///                 let _ = to_caller.send_audio(&samples).await; // an echo
///             }
///         }
///     });
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HostCall {
    /// The call's freya UUID (its `X-Freya-Call-Id`, the `call_id` of its events).
    pub call_id: String,
    /// The call's audio and metadata.
    pub agent: HostAgent,
}

impl HostCall {
    /// The call: direction, caller, callee, workflow id, every X- header.
    pub fn metadata(&self) -> &CallMetadata {
        self.agent.metadata()
    }
}

/// The calls of one host pool, in the order they took their slots
/// ([`Stack::host_calls`](super::Stack::host_calls)). Ends (`None`) when the stack shuts
/// down; dropping it stops the pool's calls from reaching the host (they fail with 503).
#[derive(Debug)]
pub struct HostCalls {
    pub(crate) rx: mpsc::Receiver<HostCall>,
    pub(crate) pool: String,
}

impl HostCalls {
    /// The next call; `None` once the stack has shut down.
    pub async fn next(&mut self) -> Option<HostCall> {
        self.rx.recv().await
    }

    /// The pool whose calls these are.
    pub fn pool(&self) -> &str {
        &self.pool
    }
}
