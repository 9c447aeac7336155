//! `freya.Stack`: the running SIP/RTP stack, over [`freya::stack::Stack`].
//!
//! Only the shape changes here (DESIGN.md: bindings hold no logic): requests and results
//! cross as the JSON serde gives them, as Python dicts with snake_case keys (the JSON the
//! control API takes and returns, and the Node binding's objects); call events as the JSON
//! the API's SSE stream sends; every [`StackError`] becomes a `freya.StackError` whose `code`
//! names its variant (the Node binding's codes, [`StackError::code`]).
//!
//! Nothing blocks the asyncio loop: the stacks run on the module's one tokio runtime
//! (`runtime`); an async method returns an `asyncio.Future` made by the running loop and
//! settles it from its tokio task through `loop.call_soon_threadsafe` (with
//! `freya._stack._settle`, which leaves a cancelled future alone); events reach Python the
//! same way; the GIL is released around every call into the stack that takes a lock.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use freya::campaign::{CampaignError, CampaignRequest};
use freya::config::{StackConfig, DEFAULT_CONFIG};
use freya::event::CallEvent;
use freya::stack::{DtmfRequest, OriginateRequest, Stack as RustStack, TransferRequest};
use freya::StackError;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyInt, PyString, PyTuple, PyType};
use serde_json::Value;

use crate::json::{json_to_py, read_request};
use tokio::runtime::Runtime;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// The module's one tokio runtime (multi-thread), made on first use.
static RUNTIME: PyOnceLock<Runtime> = PyOnceLock::new();
/// `freya.StackError`, defined in `python/freya/_errors.py`.
static STACK_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
/// `freya._stack._settle(future, error, value)`: settles a future unless it is done.
static SETTLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// `freya._stack.EventStream`: the async iterator `Stack.events()` returns.
static EVENT_STREAM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
/// `freya._stack.HostCallStream`: the async iterator `Stack.host_calls()` returns.
static HOST_CALL_STREAM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
/// `asyncio.get_running_loop`.
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// `logging.getLogger`: what cannot be raised (a lagging callback, a closed loop) is logged
/// on the `"freya"` logger.
static GET_LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The module's tokio runtime, made on first use.
fn runtime(py: Python<'_>) -> PyResult<&'static Runtime> {
    RUNTIME.get_or_try_init(py, || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("freya-py")
            .build()
            .map_err(|e| {
                PyRuntimeError::new_err(format!("freya: cannot start a tokio runtime: {e}"))
            })
    })
}

/// The running asyncio loop (`RuntimeError` when called outside one, as asyncio raises).
fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()
}

/// Logs `message` as a warning on the `"freya"` logger (for what no caller can be told).
fn log_warning(py: Python<'_>, message: &str) {
    let logged = GET_LOGGER
        .import(py, "logging", "getLogger")
        .and_then(|get| get.call1(("freya",)))
        .and_then(|logger| logger.call_method1("warning", (message,)));
    if let Err(e) = logged {
        e.print(py);
    }
}

/// Set by [`at_exit`]: the interpreter is about to finalize; the runtime's threads no longer
/// enter it.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Runtime threads inside [`with_python`] now.
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` with the GIL from a tokio task: `block_in_place` hands the worker's other tasks
/// (the stack's) to another thread while this one waits for the GIL. Nothing is run once
/// the interpreter is exiting ([`at_exit`]) or finalizing: a runtime thread still inside
/// the interpreter when it finalizes crashed the process at exit (`PyGILState_Release`),
/// e.g. right after `await stack.shutdown()` had settled its future.
fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    // Counted in before the flag is read again: `at_exit` sets the flag, then waits for
    // the count to drop to 0, so no thread is left inside once it returns.
    INSIDE.fetch_add(1, Ordering::SeqCst);
    let result = if EXITING.load(Ordering::SeqCst) {
        None
    } else {
        tokio::task::block_in_place(|| Python::try_attach(f))
    };
    INSIDE.fetch_sub(1, Ordering::SeqCst);
    result
}

/// `freya._freya._at_exit()`, registered with `atexit` by `freya/_stack.py`: from now on the
/// runtime's threads do not enter the interpreter, and those inside are waited for (with the
/// GIL released, at most 2 s), so that none is left in it when it finalizes. Events and
/// results not yet handed over are dropped: the program is ending.
#[pyfunction]
pub(crate) fn _at_exit(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while INSIDE.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// What a call into the stack can fail with.
pub(crate) enum Failure {
    /// The stack's own error: a `freya.StackError`.
    Stack(StackError),
    /// An argument of the wrong type or shape (a request dict that does not deserialize):
    /// a `TypeError` with this message.
    Arg(String),
    /// An argument of the right type whose value is refused (a Q.850 cause outside
    /// 1..=127): a `ValueError` with this message.
    Value(String),
    /// A Rust result that does not serialize (a bug): a `RuntimeError`.
    Internal(String),
}

impl From<StackError> for Failure {
    fn from(e: StackError) -> Self {
        match e {
            // A refused value of the host's: Python's argument error, not a stack one.
            StackError::Request(e) => Failure::Value(e.to_string()),
            e => Failure::Stack(e),
        }
    }
}

/// `hangup`'s `q850_cause`: an `int` (not a `bool`) in 1..=127.
fn read_cause(c: &Bound<'_, PyAny>) -> PyResult<u16> {
    if !c.is_instance_of::<PyInt>() || c.is_instance_of::<PyBool>() {
        let type_name = c.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "hangup: q850_cause must be an int, not {type_name}"
        )));
    }
    match c.extract::<i64>() {
        Ok(value) => freya::request::q850_cause(value)
            .map_err(|e| PyValueError::new_err(format!("hangup: {e}"))),
        // An int past i64 is as far out of range as any: refused in the same words.
        Err(_) => Err(PyValueError::new_err(format!(
            "hangup: q850_cause: {c} is not a Q.850 cause (1-127)"
        ))),
    }
}

/// The Python exception for `failure`.
fn to_py_err(py: Python<'_>, failure: Failure) -> PyErr {
    match failure {
        Failure::Stack(e) => stack_error(py, &e).unwrap_or_else(|err| err),
        Failure::Arg(message) => PyTypeError::new_err(message),
        Failure::Value(message) => PyValueError::new_err(message),
        Failure::Internal(message) => PyRuntimeError::new_err(message),
    }
}

/// `freya.StackError(str(e), code=..., kind=..., rejected=..., total=...)`: `kind` for a
/// campaign error, `rejected` (every refused entry as serde serializes it: `line`, `value`,
/// `kind`, `message`, `reason`) and `total` for a refused list. Any failure building it is
/// the error returned.
fn stack_error(py: Python<'_>, e: &StackError) -> PyResult<PyErr> {
    let class = STACK_ERROR.import(py, "freya._errors", "StackError")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("code", e.code())?;
    if let StackError::Campaign(c) = e {
        kwargs.set_item("kind", c.kind())?;
        if let CampaignError::InvalidNumbers { rejected, total } = c {
            let json = serde_json::to_value(rejected).map_err(|err| {
                PyRuntimeError::new_err(format!("serializing {rejected:?}: {err}"))
            })?;
            kwargs.set_item("rejected", json_to_py(py, &json)?)?;
            kwargs.set_item("total", *total)?;
        }
    }
    let exc = class.call((e.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}

/// A Rust result serialized for Python (a bug when it fails: `RuntimeError`).
fn serialized<T: std::fmt::Debug>(
    value: &T,
    json: serde_json::Result<Value>,
) -> Result<Value, Failure> {
    json.map_err(|e| Failure::Internal(format!("serializing {value:?}: {e}")))
}

/// What an async method resolves with.
pub(crate) enum Ready {
    Stack(PyStack),
    Str(String),
    Int(u64),
    HostCall(crate::host::PyHostCall),
    HostInput(freya::media::bridge::HostInput),
    Nothing,
}

impl Ready {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            Ready::Stack(stack) => Py::new(py, stack)?.into_any(),
            Ready::HostCall(call) => Py::new(py, call)?.into_any(),
            Ready::HostInput(input) => crate::host::input_to_py(py, input)?,
            Ready::Str(s) => PyString::new(py, &s).into_any().unbind(),
            Ready::Int(n) => PyInt::new(py, n).into_any().unbind(),
            Ready::Nothing => py.None(),
        })
    }
}

/// Runs `work` on the module's runtime and returns an `asyncio.Future` of the running loop
/// that its outcome settles (through `loop.call_soon_threadsafe`). Raises `RuntimeError`
/// outside a running loop.
pub(crate) fn spawn_future<'py, F>(py: Python<'py>, work: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<Ready, Failure>> + Send + 'static,
{
    let rt = runtime(py)?;
    let event_loop = running_loop(py)?;
    let future = event_loop.call_method0("create_future")?;
    let (event_loop, target) = (event_loop.unbind(), future.clone().unbind());
    rt.spawn(async move {
        // A task of its own, so that a panic in the stack (a bug) still settles the future.
        let outcome = match tokio::spawn(work).await {
            Ok(outcome) => outcome,
            Err(e) => Err(Failure::Internal(format!(
                "freya: the operation failed: {e}"
            ))),
        };
        with_python(move |py| settle(py, &event_loop, &target, outcome));
    });
    Ok(future)
}

/// Hands `outcome` to `future` on its loop (a result, or the exception).
fn settle(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    future: &Py<PyAny>,
    outcome: Result<Ready, Failure>,
) {
    let (error, value) = match outcome
        .map_err(|f| to_py_err(py, f))
        .and_then(|ready| ready.into_py(py))
    {
        Ok(value) => (py.None(), value),
        Err(e) => (e.into_value(py).into_any(), py.None()),
    };
    let handed = SETTLE
        .import(py, "freya._stack", "_settle")
        .and_then(|settle| {
            event_loop.call_method1(py, "call_soon_threadsafe", (settle, future, error, value))
        });
    if let Err(e) = handed {
        log_warning(
            py,
            &format!("freya: a result could not be handed to its asyncio loop: {e}"),
        );
    }
}

/// The event forwarders of a stack and the signal that stops them.
struct Forwarders {
    /// `true` once the stack has shut down: forwarders hand over what is queued and stop.
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Forwarders {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn take_tasks(&self) -> Vec<JoinHandle<()>> {
        match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn push(&self, task: JoinHandle<()>) {
        match self.tasks.lock() {
            Ok(mut tasks) => tasks.push(task),
            Err(poisoned) => poisoned.into_inner().push(task),
        }
    }
}

/// Where one forwarder delivers: `callback(event)` on `event_loop`, then `on_close()` once
/// the stack has shut down.
struct Delivery {
    event_loop: Py<PyAny>,
    callback: Py<PyAny>,
    on_close: Option<Py<PyAny>>,
}

/// The running SIP/RTP stack: SIP, the RTP port range and the built-in agents bound, taking
/// calls. Made by `await Stack.start(...)`.
///
/// Async methods return `asyncio.Future`s of the running loop (they raise `RuntimeError`
/// outside one); cancelling one does not cancel the operation. Errors are `freya.StackError`
/// (`code` per Rust variant); a request dict that does not deserialize is a `TypeError`.
#[pyclass(frozen, module = "freya._freya", name = "Stack")]
pub struct PyStack {
    inner: RustStack,
    forwarders: Arc<Forwarders>,
}

impl PyStack {
    /// Starts a forwarder of every event from now on to `callback` (then `on_close`) on the
    /// running loop. Raises `ERR_FREYA_CLOSED` after `shutdown()`.
    fn forward(
        &self,
        py: Python<'_>,
        callback: Py<PyAny>,
        on_close: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        if self.forwarders.stopped() {
            return Err(to_py_err(py, Failure::Stack(StackError::Closed)));
        }
        let rt = runtime(py)?;
        let delivery = Delivery {
            event_loop: running_loop(py)?.unbind(),
            callback,
            on_close,
        };
        // Subscribing and keeping the task take locks: the GIL is released meanwhile.
        let (stack, forwarders) = (&self.inner, &self.forwarders);
        py.detach(move || {
            let events = stack.subscribe();
            let stop = forwarders.stop.subscribe();
            forwarders.push(rt.spawn(forward(events, stop, delivery)));
        });
        Ok(())
    }

    /// `f` on this stack with the GIL released, inside the runtime (a campaign command or a
    /// hang-up may wake or spawn a task).
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&RustStack) -> Result<T, Failure> + Send,
    ) -> PyResult<T> {
        let rt = runtime(py)?;
        let stack = &self.inner;
        py.detach(|| {
            let _entered = rt.enter();
            f(stack)
        })
        .map_err(|failure| to_py_err(py, failure))
    }
}

#[pymethods]
impl PyStack {
    /// Starts a stack on `config_toml` (the TOML of `freya-stack`'s config file; `None`: the
    /// embedded default config, SIP on 127.0.0.1:5060). Returns an awaitable that resolves
    /// to the `Stack` once SIP, RTP and the built-in agents are bound.
    ///
    /// Raises (when awaited) `StackError` with `code` `ERR_FREYA_CONFIG` for an invalid
    /// config (the message names the key), `ERR_FREYA_SIP` when SIP cannot bind,
    /// `ERR_FREYA_IO` when an agent cannot listen; `RuntimeError` outside a running loop.
    #[staticmethod]
    #[pyo3(signature = (config_toml=None))]
    fn start(py: Python<'_>, config_toml: Option<String>) -> PyResult<Bound<'_, PyAny>> {
        spawn_future(py, async move {
            let text = config_toml.as_deref().unwrap_or(DEFAULT_CONFIG);
            let config = StackConfig::from_toml(text)?;
            let inner = RustStack::start(config).await?;
            let (stop, _) = watch::channel(false);
            Ok(Ready::Stack(PyStack {
                inner,
                forwarders: Arc::new(Forwarders {
                    stop,
                    tasks: Mutex::new(Vec::new()),
                }),
            }))
        })
    }

    /// Where SIP listens, `"host:port"` (`"127.0.0.1:5060"`).
    #[getter]
    fn sip_address(&self) -> String {
        self.inner.sip_addr().to_string()
    }

    /// Calls `callback(event)` with every call event from now on, in order, on the asyncio
    /// loop running now (through `loop.call_soon_threadsafe`; an exception it raises goes to
    /// the loop's exception handler). `event` is the dict the control API's event stream
    /// sends: `{"call_id", "ts_ms", "event", ...the kind's fields}`. Several callbacks may be
    /// registered. After `shutdown()` the events already queued are delivered, then the
    /// callback is released. Events a callback could not keep up with (4096 behind) are
    /// skipped and logged on the `"freya"` logger.
    ///
    /// Raises `TypeError` when `callback` is not callable, `StackError` `ERR_FREYA_CLOSED`
    /// after `shutdown()`, `RuntimeError` outside a running loop.
    fn on_event(&self, py: Python<'_>, callback: Bound<'_, PyAny>) -> PyResult<()> {
        if !callback.is_callable() {
            let type_name = callback.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "on_event: the callback must be callable, not {type_name}"
            )));
        }
        self.forward(py, callback.unbind(), None)
    }

    /// An async iterator of every call event from now on (the dicts `on_event` gives), in
    /// order; it ends once the stack has shut down and the queued events are read. At most
    /// `max_queued` events wait to be read: past that the oldest is dropped, counted in the
    /// stream's `dropped` and logged on the `"freya"` logger.
    ///
    /// Raises `ValueError` when `max_queued` is below 1, `StackError` `ERR_FREYA_CLOSED`
    /// after `shutdown()`, `RuntimeError` outside a running loop.
    #[pyo3(signature = (max_queued=4096))]
    fn events<'py>(&self, py: Python<'py>, max_queued: i64) -> PyResult<Bound<'py, PyAny>> {
        if max_queued < 1 {
            return Err(PyValueError::new_err(format!(
                "events: max_queued must be at least 1, not {max_queued}"
            )));
        }
        if self.forwarders.stopped() {
            return Err(to_py_err(py, Failure::Stack(StackError::Closed)));
        }
        let stream = EVENT_STREAM
            .import(py, "freya._stack", "EventStream")?
            .call1((max_queued,))?;
        let push = stream.getattr("_push")?.unbind();
        let close = stream.getattr("_close")?.unbind();
        self.forward(py, push, Some(close))?;
        Ok(stream)
    }

    /// Places an outbound call. `req` is an `OriginateRequest` dict (the body of the API's
    /// `POST /calls`): `{"to": str, "caller_id"?, "trunk"?, "workflow_id"?, "headers"?:
    /// [(name, value)], "agents"?, "record"?: bool}`. Returns an awaitable of the call's id
    /// (a UUID) once the INVITE is on its way; progress, answer and the end come as events.
    ///
    /// Raises `TypeError` at once for a request that does not deserialize (the message
    /// names the key or the value); when awaited, `StackError` `ERR_FREYA_BUSY` (no idle
    /// agent slot), `ERR_FREYA_SIP` (target or header refused), `ERR_FREYA_MEDIA` (no RTP
    /// port), `ERR_FREYA_DRAINING`, `ERR_FREYA_CONFIG` (no such agent pool).
    fn originate<'py>(
        &self,
        py: Python<'py>,
        req: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req: OriginateRequest = read_request("originate", req).map_err(|f| to_py_err(py, f))?;
        let stack = self.inner.clone();
        spawn_future(
            py,
            async move { Ok(Ready::Str(stack.originate(req).await?)) },
        )
    }

    /// Takes the calls of host pool `pool` (`mode = "host"`): an async iterator
    /// (`freya._stack.HostCallStream`) of `HostCall`s, each with its metadata, the caller's
    /// audio as bytes of 16-bit PCM at the pool's `sample_rate` (`await call.recv()`), and
    /// `send_audio`, `clear`, `hangup` toward the caller. It ends at shutdown. One taker per
    /// pool at a time; without one, the pool's calls fail as an unreachable agent's (503).
    ///
    /// Raises `StackError` `ERR_FREYA_CONFIG` for a pool that does not exist, is not a host
    /// pool, or is already taken; `ERR_FREYA_CLOSED` after `shutdown()`.
    fn host_calls<'py>(&self, py: Python<'py>, pool: &str) -> PyResult<Bound<'py, PyAny>> {
        let calls = self
            .inner
            .host_calls(pool)
            .map_err(|e| to_py_err(py, Failure::Stack(e)))?;
        let inner = Py::new(py, crate::host::PyHostCalls::new(calls, self.inner.clone()))?;
        HOST_CALL_STREAM
            .import(py, "freya._stack", "HostCallStream")?
            .call1((inner,))
    }

    /// Transfers answered agent call `call_id` by REFER (RFC 3515, a blind transfer). `req`
    /// is a `TransferRequest` dict (`{"to": str}`: a number, sent at the call's trunk, or a
    /// `sip:`/`sips:`/`tel:` URI). Returns an awaitable of the target URI once the REFER is
    /// sent; the outcome comes as `transfer` events (`succeeded`: the call is hung up;
    /// `refused`/`failed`: it stays with its agent).
    ///
    /// Raises `TypeError` at once for a request that does not deserialize; when awaited,
    /// `StackError` `ERR_FREYA_NO_SUCH_CALL`, `ERR_FREYA_TRANSFER` (not answered, not an
    /// agent call, one in progress), `ERR_FREYA_CLOSED`, or `ValueError` for a target that
    /// is neither a number nor a URI.
    fn transfer<'py>(
        &self,
        py: Python<'py>,
        call_id: String,
        req: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req: TransferRequest = read_request("transfer", req).map_err(|f| to_py_err(py, f))?;
        let stack = self.inner.clone();
        spawn_future(py, async move {
            Ok(Ready::Str(stack.transfer(&call_id, req).await?))
        })
    }

    /// Sends keys toward answered agent call `call_id`'s SIP peer (an IVR). `req` is a
    /// `DtmfRequest` dict (`{"digits": "1#", "duration_ms"?: 100}`): RFC 4733 events in the
    /// call's RTP, or SIP INFO on a `dtmf_mode = "info"` trunk. Returns an awaitable that
    /// resolves once they are queued (RFC 4733) or sent (INFO).
    ///
    /// Raises `TypeError` at once for a request that does not deserialize; when awaited,
    /// `ValueError` for bad digits or duration, `StackError` `ERR_FREYA_NO_SUCH_CALL`,
    /// `ERR_FREYA_DTMF` (not answered, not an agent call, no telephone-event agreed),
    /// `ERR_FREYA_CLOSED`.
    fn send_dtmf<'py>(
        &self,
        py: Python<'py>,
        call_id: String,
        req: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req: DtmfRequest = read_request("send_dtmf", req).map_err(|f| to_py_err(py, f))?;
        let stack = self.inner.clone();
        spawn_future(py, async move {
            stack.send_dtmf(&call_id, req).await?;
            Ok(Ready::Nothing)
        })
    }

    /// The calls alive now (as the API's `GET /calls`): a list of `CallSummary` dicts
    /// (`call_id`, `direction`, `caller`, `callee`, `state`, `route`, `slot`).
    fn calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.call(py, |stack| {
            let calls = stack.calls();
            serialized(&calls, serde_json::to_value(&calls))
        })?;
        json_to_py(py, &json)
    }

    /// Hangs up live call `call_id` (a freya call UUID): CANCEL before an answer of an
    /// originated call, a rejection of an unanswered inbound one, BYE after, each with
    /// `Reason: Q.850;cause=N` (`q850_cause`, default 16 normal clearing). Its `hangup`
    /// event follows.
    ///
    /// Raises `StackError` `ERR_FREYA_NO_SUCH_CALL` for an unknown or ended call;
    /// `ValueError` for a cause outside 1..=127, `TypeError` for one that is not an int.
    #[pyo3(signature = (call_id, q850_cause=None))]
    fn hangup(
        &self,
        py: Python<'_>,
        call_id: String,
        q850_cause: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let cause = match q850_cause {
            None => None,
            Some(c) => Some(read_cause(c)?),
        };
        self.call(py, |stack| Ok(stack.hangup(&call_id, cause)?))
    }

    /// Starts an outbound campaign and returns it. `req` is a `CampaignRequest` dict (the
    /// body of `POST /campaigns`: `numbers` and optional `name`, `rules`, `skip_invalid`,
    /// `trunk`, `caller_id`, `workflow_id`, `headers`, `agents`, `record`,
    /// `calls_per_second`, `burst`, `max_concurrent`, `breaker`); the result a
    /// `CampaignInfo` dict. The list is checked first: one refused entry refuses the
    /// campaign whole (unless `skip_invalid`), nothing dialed.
    ///
    /// Raises `StackError` `ERR_FREYA_CAMPAIGN` with `kind` `"invalid_numbers"` and
    /// `rejected` (every refused entry: `line`, `value`, `kind`, `message`, `reason`) and
    /// `total`, or `kind` `"empty_list"`, `"pacing"`, `"unknown"`; `ERR_FREYA_DRAINING`;
    /// `TypeError` for a request that does not deserialize (the message names the key or
    /// the value).
    fn start_campaign<'py>(
        &self,
        py: Python<'py>,
        req: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req: CampaignRequest =
            read_request("start_campaign", req).map_err(|f| to_py_err(py, f))?;
        let json = self.call(py, |stack| {
            let info = stack.start_campaign(req)?;
            serialized(&info, serde_json::to_value(&info))
        })?;
        json_to_py(py, &json)
    }

    /// The campaigns kept, as `CampaignInfo` dicts, by id: every running or paused
    /// one and the last `[control] keep_ended_campaigns` ended ones.
    fn campaigns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.call(py, |stack| {
            let all = stack.campaigns();
            serialized(&all, serde_json::to_value(&all))
        })?;
        json_to_py(py, &json)
    }

    /// One campaign, as a `CampaignInfo` dict.
    ///
    /// Raises `StackError` `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"`): an unknown
    /// id, or one ended and forgotten since.
    fn campaign<'py>(&self, py: Python<'py>, campaign_id: String) -> PyResult<Bound<'py, PyAny>> {
        let json = self.call(py, |stack| {
            let info = stack.campaign(&campaign_id)?;
            serialized(&info, serde_json::to_value(&info))
        })?;
        json_to_py(py, &json)
    }

    /// Stops a campaign dialing (its calls up go on) until `resume_campaign`.
    ///
    /// Raises `StackError` `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
    fn pause_campaign(&self, py: Python<'_>, campaign_id: String) -> PyResult<()> {
        self.call(py, |stack| Ok(stack.pause_campaign(&campaign_id)?))
    }

    /// Dials again, after `pause_campaign` or the wrong-prefix breaker (which starts over).
    ///
    /// Raises `StackError` `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
    fn resume_campaign(&self, py: Python<'_>, campaign_id: String) -> PyResult<()> {
        self.call(py, |stack| Ok(stack.resume_campaign(&campaign_id)?))
    }

    /// Ends a campaign: nothing more is dialed; it is `cancelled` once its calls end.
    ///
    /// Raises `StackError` `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
    fn cancel_campaign(&self, py: Python<'_>, campaign_id: String) -> PyResult<()> {
        self.call(py, |stack| Ok(stack.cancel_campaign(&campaign_id)?))
    }

    /// A graceful stop: new calls are refused from now on (inbound 503, originate
    /// `ERR_FREYA_DRAINING`), running campaigns pause (reason `"the stack is draining for a
    /// shutdown"`); live calls may go on for up to `grace_ms` milliseconds, then
    /// those still up are hung up with Q.850 cause 41. Returns an awaitable of how many were
    /// hung up. Call `shutdown()` afterwards.
    fn drain<'py>(&self, py: Python<'py>, grace_ms: u64) -> PyResult<Bound<'py, PyAny>> {
        let stack = self.inner.clone();
        spawn_future(py, async move {
            let left = stack.drain(Duration::from_millis(grace_ms)).await;
            Ok(Ready::Int(u64::try_from(left).unwrap_or(u64::MAX)))
        })
    }

    /// Stops the stack ([`freya::stack::Stack::shutdown`]: campaigns cancelled, calls still up
    /// hung up with Q.850 cause 41 — `drain()` first gives them time —, the built-in agents
    /// and the SIP sockets closed); then hands the events already queued to the `on_event`
    /// callbacks and `events()` iterators (which then end) and releases them. Returns an
    /// awaitable that resolves to `None` when that is done; later requests raise
    /// `ERR_FREYA_CLOSED`.
    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stack = self.inner.clone();
        let forwarders = self.forwarders.clone();
        spawn_future(py, async move {
            stack.shutdown().await;
            forwarders.stop.send_replace(true);
            for task in forwarders.take_tasks() {
                task.await
                    .map_err(|e| Failure::Internal(format!("an event forwarder failed: {e}")))?;
            }
            Ok(Ready::Nothing)
        })
    }

    /// `<freya.Stack sip=127.0.0.1:5060>`.
    fn __repr__(&self) -> String {
        format!("<freya.Stack sip={}>", self.inner.sip_addr())
    }
}

/// Hands every event to `delivery` until `stop` turns `true` (then what is queued, then
/// `on_close`) or the stack is gone, or the loop is closed.
async fn forward(
    mut events: broadcast::Receiver<CallEvent>,
    mut stop: watch::Receiver<bool>,
    delivery: Delivery,
) {
    let mut batch = Vec::new();
    let mut lagged = 0;
    loop {
        let mut ending = false;
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => batch.push(ev),
                Err(RecvError::Lagged(missed)) => lagged += missed,
                Err(RecvError::Closed) => ending = true,
            },
            _ = stop.wait_for(|stopped| *stopped) => ending = true,
        }
        // Whatever else is queued now goes in the same trip to Python.
        loop {
            match events.try_recv() {
                Ok(ev) => batch.push(ev),
                Err(TryRecvError::Lagged(missed)) => lagged += missed,
                Err(_) => break,
            }
        }
        let delivered = with_python(|py| deliver(py, &delivery, &mut batch, lagged, ending));
        lagged = 0;
        if ending || delivered != Some(true) {
            break;
        }
    }
    // The Python objects are released with the GIL held.
    with_python(move |_py| drop(delivery));
}

/// Schedules `callback(event)` for every event of `batch` (and `on_close()` when `ending`)
/// on the loop; `false` when the loop takes nothing more (closed).
fn deliver(
    py: Python<'_>,
    delivery: &Delivery,
    batch: &mut Vec<CallEvent>,
    lagged: u64,
    ending: bool,
) -> bool {
    if lagged > 0 {
        log_warning(
            py,
            &format!("freya: an event callback fell behind: {lagged} events skipped"),
        );
    }
    let schedule = |args: Bound<'_, PyTuple>| -> bool {
        match delivery
            .event_loop
            .call_method1(py, "call_soon_threadsafe", args)
        {
            Ok(_) => true,
            Err(e) => {
                log_warning(
                    py,
                    &format!(
                        "freya: events no longer delivered: the asyncio loop refused them: {e}"
                    ),
                );
                false
            }
        }
    };
    for ev in batch.drain(..) {
        let event = serde_json::to_value(&ev)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))
            .and_then(|json| json_to_py(py, &json));
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                log_warning(py, &format!("freya: event {ev:?} not delivered: {e}"));
                continue;
            }
        };
        let args = PyTuple::new(py, [delivery.callback.bind(py).clone(), event]);
        if !args.map(schedule).unwrap_or(false) {
            return false;
        }
    }
    if ending {
        if let Some(on_close) = &delivery.on_close {
            let args = PyTuple::new(py, [on_close.bind(py).clone()]);
            return args.map(schedule).unwrap_or(false);
        }
    }
    true
}
