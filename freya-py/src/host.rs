//! `Stack.host_calls(pool)`: the calls of a `mode = "host"` pool, taken by this Python
//! process itself (a pipecat pipeline, any asyncio code), with their audio as bytes of
//! 16-bit little-endian PCM at the pool's `sample_rate` — no WebSocket between.
//!
//! `freya._freya.HostCalls` and `freya._freya.HostCall` are the Rust halves; the async
//! iterator `freya._stack.HostCallStream` wraps the first. Every method that waits returns
//! an asyncio future settled on the calling loop, as the rest of `Stack`'s do.

use std::sync::Arc;

use freya::media::bridge::{HostInput, HostReceiver, HostSender, LegError};
use freya::stack::{DtmfRequest, HostCall, HostCalls, Stack, TransferRequest};
use freya::StackError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tokio::sync::Mutex;

use crate::json::json_to_py;
use crate::stack::{spawn_future, Failure, Ready};

/// The calls of one host pool (`freya._freya.HostCalls`), in the order they took their
/// slots. Iterate `freya._stack.HostCallStream`, which `Stack.host_calls` returns.
#[pyclass(name = "HostCalls", module = "freya._freya", frozen)]
pub(crate) struct PyHostCalls {
    inner: Arc<Mutex<HostCalls>>,
    pool: String,
    /// For each call's `send_dtmf`.
    stack: Stack,
}

impl PyHostCalls {
    pub(crate) fn new(calls: HostCalls, stack: Stack) -> PyHostCalls {
        PyHostCalls {
            pool: calls.pool().to_owned(),
            inner: Arc::new(Mutex::new(calls)),
            stack,
        }
    }
}

#[pymethods]
impl PyHostCalls {
    /// The pool whose calls these are.
    #[getter]
    fn pool(&self) -> String {
        self.pool.clone()
    }

    /// An awaitable of the next call (a `HostCall`), or `None` once the stack has shut down.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (inner, stack) = (self.inner.clone(), self.stack.clone());
        spawn_future(py, async move {
            Ok(match inner.lock().await.next().await {
                Some(call) => Ready::HostCall(PyHostCall::new(call, stack)),
                None => Ready::Nothing,
            })
        })
    }
}

/// One call taken by this process (`freya._freya.HostCall`): its metadata, the caller's
/// audio and DTMF (`recv`), and audio, barge-in and hang-up toward the caller.
#[pyclass(name = "HostCall", module = "freya._freya", frozen)]
pub(crate) struct PyHostCall {
    call_id: String,
    metadata: serde_json::Value,
    sample_rate: u32,
    rx: Arc<Mutex<HostReceiver>>,
    tx: Arc<Mutex<HostSender>>,
    stack: Stack,
}

impl PyHostCall {
    pub(crate) fn new(call: HostCall, stack: Stack) -> PyHostCall {
        let metadata = call.metadata().to_json();
        let sample_rate = call.agent.sample_rate();
        let (rx, tx) = call.agent.split();
        PyHostCall {
            call_id: call.call_id,
            metadata,
            sample_rate,
            rx: Arc::new(Mutex::new(rx)),
            tx: Arc::new(Mutex::new(tx)),
            stack,
        }
    }

    /// A send toward the caller, as an awaitable; a call that ended is `ERR_FREYA_NO_SUCH_CALL`.
    fn toward_caller<'py, F, Fut>(&self, py: Python<'py>, f: F) -> PyResult<Bound<'py, PyAny>>
    where
        F: FnOnce(Arc<Mutex<HostSender>>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), LegError>> + Send + 'static,
    {
        let (tx, call_id) = (self.tx.clone(), self.call_id.clone());
        spawn_future(py, async move {
            f(tx).await.map_err(|_| {
                Failure::Stack(StackError::NoSuchCall {
                    call_id: call_id.clone(),
                })
            })?;
            Ok(Ready::Nothing)
        })
    }
}

#[pymethods]
impl PyHostCall {
    /// The call's freya UUID (the `call_id` of its events).
    #[getter]
    fn call_id(&self) -> String {
        self.call_id.clone()
    }

    /// The audio's sample rate both ways, in Hz (the pool's `sample_rate`).
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The call: `{"call_id", "direction", "caller", "callee", "workflow_id", "headers":
    /// [[name, value], ...]}` (every X- header as received, in order).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.metadata)
    }

    /// An awaitable of the next thing from the caller: `{"event": "audio", "audio": bytes}`
    /// (20 ms of 16-bit little-endian PCM at `sample_rate`), `{"event": "dtmf", "digit":
    /// "5", "duration_ms": 120}`, or `None` once the call has ended. One reader at a time.
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = self.rx.clone();
        spawn_future(py, async move {
            Ok(match rx.lock().await.recv().await {
                Some(input) => Ready::HostInput(input),
                None => Ready::Nothing,
            })
        })
    }

    /// Queues `audio` (bytes of 16-bit little-endian PCM at `sample_rate`, any length) for
    /// the caller: played out at real time in 20 ms frames however fast it is sent, from a
    /// bounded queue (past it the oldest audio is dropped and counted). Returns an awaitable.
    ///
    /// Raises `ValueError` at once for an odd number of bytes; when awaited, `StackError`
    /// `ERR_FREYA_NO_SUCH_CALL` once the call has ended.
    fn send_audio<'py>(&self, py: Python<'py>, audio: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        if !audio.len().is_multiple_of(2) {
            return Err(PyValueError::new_err(format!(
                "send_audio: {} bytes is not whole 16-bit samples",
                audio.len()
            )));
        }
        let samples: Vec<i16> = audio
            .chunks_exact(2)
            .map(|p| i16::from_le_bytes([p[0], p[1]]))
            .collect();
        self.toward_caller(py, move |tx| async move {
            tx.lock().await.send_audio(&samples).await
        })
    }

    /// Barge-in: drops the audio queued for the caller at once. Returns an awaitable.
    fn clear<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.toward_caller(py, |tx| async move { tx.lock().await.clear().await })
    }

    /// Ends the call from the agent's side (the caller is hung up; its `hangup` event says
    /// `hangup_by: "agent"`). Returns an awaitable.
    fn hangup<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.toward_caller(py, |tx| async move { tx.lock().await.hangup().await })
    }

    /// Sends keys toward the caller's side (`digits`: `0-9 * # A-D`, each held
    /// `duration_ms`, 40-2000): RFC 4733 events in the call's RTP (the agent's audio is held
    /// back while a tone is on), or SIP INFO on a `dtmf_mode = "info"` trunk; as
    /// `Stack.send_dtmf`. Returns an awaitable.
    #[pyo3(signature = (digits, duration_ms=100))]
    fn send_dtmf<'py>(
        &self,
        py: Python<'py>,
        digits: String,
        duration_ms: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (stack, call_id) = (self.stack.clone(), self.call_id.clone());
        spawn_future(py, async move {
            let req = DtmfRequest {
                digits,
                duration_ms,
            };
            stack.send_dtmf(&call_id, req).await?;
            Ok(Ready::Nothing)
        })
    }

    /// Transfers the call by REFER to `to` (a number, sent at the call's trunk, or a `sip:`,
    /// `sips:` or `tel:` URI), as `Stack.transfer`: the caller's carrier calls the target
    /// itself; `transfer` events follow, and on `succeeded` the call ends (`recv` gives
    /// `None`). Returns an awaitable of the target URI once the REFER is sent.
    ///
    /// Raises (when awaited) `ValueError` for a bad target, `StackError`
    /// `ERR_FREYA_TRANSFER` (one in progress), `ERR_FREYA_NO_SUCH_CALL` (ended).
    fn transfer<'py>(&self, py: Python<'py>, to: String) -> PyResult<Bound<'py, PyAny>> {
        let (stack, call_id) = (self.stack.clone(), self.call_id.clone());
        spawn_future(py, async move {
            let target = stack.transfer(&call_id, TransferRequest { to }).await?;
            Ok(Ready::Str(target))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<freya.HostCall {} at {} Hz>",
            self.call_id, self.sample_rate
        )
    }
}

/// The dict `recv` resolves with for `input`.
pub(crate) fn input_to_py(py: Python<'_>, input: HostInput) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    match input {
        HostInput::Audio(samples) => {
            let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            d.set_item("event", "audio")?;
            d.set_item("audio", PyBytes::new(py, &bytes))?;
        }
        HostInput::Dtmf { digit, duration_ms } => {
            d.set_item("event", "dtmf")?;
            d.set_item("digit", digit.to_string())?;
            d.set_item("duration_ms", duration_ms)?;
        }
    }
    Ok(d.into_any().unbind())
}
