//! `Stack`: the running SIP/RTP stack, over [`freya::stack::Stack`].
//!
//! Only the shape changes here (DESIGN.md: bindings hold no logic): requests and results
//! cross as the JSON serde gives them (snake_case keys, the same JSON the control API takes
//! and returns), call events as the JSON the API's SSE stream sends, and every
//! [`StackError`] becomes a JS `Error` whose `code` names its variant ([`StackError::code`]).
//!
//! Nothing blocks Node's event loop: the stack runs on the addon's one tokio runtime (napi's
//! `tokio_rt`), async methods return Promises settled from it, and events reach JS through
//! a threadsafe function that [`Stack::shutdown`] releases, so that a stopped stack does not
//! keep the process alive.

use std::sync::{Arc, Mutex};

use freya::campaign::{CampaignError, CampaignRequest};
use freya::config::{StackConfig, DEFAULT_CONFIG};
use freya::event::CallEvent;
use freya::stack::{DtmfRequest, OriginateRequest, Stack as RustStack, TransferRequest};
use freya::StackError;
use napi::bindgen_prelude::{Function, Object, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, JsTypeError, JsValue, Result, Status};
use napi_derive::napi;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// The `code` of the error for a request object that does not deserialize (a missing or
/// unknown key, a wrong type): the `TypeError` Node throws for a bad argument value.
const BAD_ARG_CODE: &str = "ERR_INVALID_ARG_VALUE";

/// What a call into the stack can fail with: the stack's own error, or an argument that
/// could not be read (the message of the `TypeError`).
enum Failure {
    Stack(StackError),
    Arg(String),
    /// A Rust result that does not serialize (a bug): a plain `Error`.
    Internal(Error),
}

impl From<StackError> for Failure {
    fn from(e: StackError) -> Self {
        match e {
            // A refused value of the host's: JavaScript's argument error, not a stack one.
            StackError::Request(e) => Failure::Arg(e.to_string()),
            e => Failure::Stack(e),
        }
    }
}

/// The JS error for `failure`: an `Error` with `code` and the Rust message; a campaign error
/// also has `kind`, and a refused list `rejected` (every refused entry as serde serializes
/// it: `{ line, value, reason }`, as in the API's 422 body) and `total`. A bad argument is a
/// `TypeError` with `code` `ERR_INVALID_ARG_VALUE`.
fn js_error(env: &Env, failure: &Failure) -> Error {
    let built = match failure {
        Failure::Stack(e) => stack_error_object(env, e),
        Failure::Arg(what) => {
            // napi_create_type_error sets `code` from the status string.
            let e = JsTypeError::from(Error::new(BAD_ARG_CODE, what.clone()));
            return Error::from(e.into_unknown(*env));
        }
        Failure::Internal(e) => return Error::new(e.status, e.reason.clone()),
    };
    match built {
        // napi throws (or rejects with) this very object.
        Ok(obj) => Error::from(obj.to_unknown()),
        Err(e) => e,
    }
}

fn stack_error_object<'env>(env: &'env Env, e: &StackError) -> Result<Object<'env>> {
    let mut obj = env.create_error(Error::new(Status::GenericFailure, e.to_string()))?;
    obj.set("code", e.code())?;
    if let StackError::Campaign(c) = e {
        obj.set("kind", c.kind())?;
        if let CampaignError::InvalidNumbers { rejected, total } = c {
            obj.set("rejected", to_json(rejected)?)?;
            obj.set("total", *total as f64)?;
        }
    }
    Ok(obj)
}

/// `value` as the JSON serde gives it.
fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::new(Status::GenericFailure, e.to_string()))
}

/// A request object read as the Rust type `T` (`what` names it in the error).
fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> std::result::Result<T, Failure> {
    freya::request::from_value(value).map_err(|e| Failure::Arg(format!("{what}: {e}")))
}

/// A sync result handed to JS: the value, or the thrown error.
fn sync<T>(env: &Env, result: std::result::Result<T, Failure>) -> Result<T> {
    result.map_err(|f| js_error(env, &f))
}

/// Runs `fut` on the addon's runtime; its `Failure` rejects the Promise with [`js_error`].
fn promise<'env, T, F>(env: &'env Env, fut: F) -> Result<PromiseRaw<'env, T>>
where
    T: napi::bindgen_prelude::ToNapiValue + Send + 'static,
    F: std::future::Future<Output = std::result::Result<T, Failure>> + Send + 'static,
{
    env.spawn_future_with_callback(async move { Ok(fut.await) }, |env, result| {
        result.map_err(|f| js_error(env, &f))
    })
}

/// The event forwarders of a stack and the signal that stops them.
struct Forwarders {
    /// `true` once the stack has shut down: forwarders hand over what is queued and stop.
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The running SIP/RTP stack: SIP, the RTP port range and the built-in agents bound, taking
/// calls. Made by `Stack.start`.
#[napi]
pub struct Stack {
    inner: RustStack,
    forwarders: Arc<Forwarders>,
}

#[napi]
impl Stack {
    /// Starts a stack on `config_toml` (the TOML of `freya-stack`'s config file; default:
    /// the embedded default config, SIP on 127.0.0.1:5060). Resolves once SIP, RTP and the
    /// built-in agents are bound.
    ///
    /// Rejects with `code` `ERR_FREYA_CONFIG` for an invalid config (the message names the
    /// key), `ERR_FREYA_SIP` when SIP cannot bind, `ERR_FREYA_IO` when an agent cannot listen.
    #[napi(ts_return_type = "Promise<Stack>")]
    pub fn start(env: &Env, config_toml: Option<String>) -> Result<PromiseRaw<'_, Stack>> {
        promise(env, async move {
            let text = config_toml.as_deref().unwrap_or(DEFAULT_CONFIG);
            let config = StackConfig::from_toml(text)?;
            let inner = RustStack::start(config).await?;
            let (stop, _) = watch::channel(false);
            Ok(Stack {
                inner,
                forwarders: Arc::new(Forwarders {
                    stop,
                    tasks: Mutex::new(Vec::new()),
                }),
            })
        })
    }

    /// Where SIP listens (`"127.0.0.1:5060"`).
    #[napi(getter)]
    pub fn sip_address(&self) -> String {
        self.inner.sip_addr().to_string()
    }

    /// Calls `callback` with every call event from now on, as the JSON object the control
    /// API's event stream sends (`{ call_id, ts_ms, event, ... }`). Several callbacks may be
    /// registered. Until `shutdown()` the stack keeps Node running while a callback is
    /// registered; after it, events already queued are delivered and the callbacks released.
    ///
    /// Throws `ERR_FREYA_CLOSED` after `shutdown()`.
    #[napi(ts_args_type = "callback: (event: CallEvent) => void")]
    pub fn on_event(
        &self,
        env: &Env,
        callback: Function<'_, serde_json::Value, Unknown<'static>>,
    ) -> Result<()> {
        if *self.forwarders.stop.borrow() {
            return sync(env, Err(Failure::Stack(StackError::Closed)));
        }
        let tsfn = callback
            .build_threadsafe_function::<serde_json::Value>()
            .build()?;
        let events = self.inner.subscribe();
        let stop = self.forwarders.stop.subscribe();
        let task = napi::bindgen_prelude::spawn(async move { forward(events, stop, tsfn).await });
        match self.forwarders.tasks.lock() {
            Ok(mut tasks) => tasks.push(task),
            Err(poisoned) => poisoned.into_inner().push(task),
        }
        Ok(())
    }

    /// Places an outbound call (`OriginateRequest`, the body of the API's `POST /calls`);
    /// resolves with its freya call UUID once the INVITE is on its way. Progress, answer and
    /// the end come as events.
    ///
    /// Rejects with `ERR_FREYA_BUSY` (no idle agent slot), `ERR_FREYA_SIP` (target or header
    /// refused), `ERR_FREYA_MEDIA` (no RTP port), `ERR_FREYA_DRAINING`, `ERR_FREYA_CONFIG`
    /// (no such agent pool); a `TypeError` (`ERR_INVALID_ARG_VALUE`) for a bad request.
    #[napi(
        ts_args_type = "req: OriginateRequest",
        ts_return_type = "Promise<string>"
    )]
    pub fn originate<'env>(
        &self,
        env: &'env Env,
        req: serde_json::Value,
    ) -> Result<PromiseRaw<'env, String>> {
        let stack = self.inner.clone();
        promise(env, async move {
            let req: OriginateRequest = from_json("originate: request", req)?;
            Ok(stack.originate(req).await?)
        })
    }

    /// Transfers answered agent call `callId` by REFER (RFC 3515, a blind transfer):
    /// `req` is a `TransferRequest` (`{ to }`: a number, sent at the call's trunk, or a
    /// `sip:`/`sips:`/`tel:` URI). Resolves with the target URI once the REFER is sent (or
    /// waits for the ACK of a call answered a moment ago); the outcome comes as `transfer`
    /// events: on `succeeded` the call's leg is hung up, on `refused`/`failed` it stays
    /// with its agent.
    ///
    /// Rejects with `ERR_FREYA_NO_SUCH_CALL`, `ERR_FREYA_TRANSFER` (not answered, not an
    /// agent call, one in progress), `ERR_FREYA_CLOSED`; a `TypeError`
    /// (`ERR_INVALID_ARG_VALUE`) for a bad request or target.
    #[napi(
        ts_args_type = "callId: string, req: TransferRequest",
        ts_return_type = "Promise<string>"
    )]
    pub fn transfer<'env>(
        &self,
        env: &'env Env,
        call_id: String,
        req: serde_json::Value,
    ) -> Result<PromiseRaw<'env, String>> {
        let stack = self.inner.clone();
        promise(env, async move {
            let req: TransferRequest = from_json("transfer: request", req)?;
            Ok(stack.transfer(&call_id, req).await?)
        })
    }

    /// Sends keys toward answered agent call `callId`'s SIP peer (`DtmfRequest`: `{ digits,
    /// duration_ms? }`): RFC 4733 in the call's RTP, or SIP INFO on a `dtmf_mode = "info"`
    /// trunk. Resolves once they are queued (RFC 4733) or sent (INFO).
    ///
    /// Rejects with `ERR_FREYA_NO_SUCH_CALL`, `ERR_FREYA_DTMF` (not answered, not an agent
    /// call, no telephone-event agreed), `ERR_FREYA_CLOSED`; a `TypeError`
    /// (`ERR_INVALID_ARG_VALUE`) for bad digits or duration.
    #[napi(
        ts_args_type = "callId: string, req: DtmfRequest",
        ts_return_type = "Promise<void>"
    )]
    pub fn send_dtmf<'env>(
        &self,
        env: &'env Env,
        call_id: String,
        req: serde_json::Value,
    ) -> Result<PromiseRaw<'env, ()>> {
        let stack = self.inner.clone();
        promise(env, async move {
            let req: DtmfRequest = from_json("sendDtmf: request", req)?;
            Ok(stack.send_dtmf(&call_id, req).await?)
        })
    }

    /// The calls alive now (as the API's `GET /calls`).
    #[napi(ts_return_type = "CallSummary[]")]
    pub fn calls(&self, env: &Env) -> Result<serde_json::Value> {
        sync(env, to_json(&self.inner.calls()).map_err(Failure::Internal))
    }

    /// Hangs up live call `call_id` (a freya call UUID): CANCEL before an answer of an
    /// originated call, a rejection of an unanswered inbound one, BYE after, each with
    /// `Reason: Q.850;cause=N` (`q850_cause`, default 16 normal clearing). Its `hangup`
    /// event follows.
    ///
    /// Throws `ERR_FREYA_NO_SUCH_CALL` for an unknown or ended call; a `TypeError`
    /// (`ERR_INVALID_ARG_VALUE`) for a cause outside 1..=127.
    #[napi]
    pub fn hangup(&self, env: &Env, call_id: String, q850_cause: Option<i64>) -> Result<()> {
        let result = q850_cause
            .map(freya::request::q850_cause)
            .transpose()
            .map_err(|e| Failure::Arg(format!("hangup: {e}")))
            .and_then(|cause| {
                napi::bindgen_prelude::within_runtime_if_available(|| {
                    Ok(self.inner.hangup(&call_id, cause)?)
                })
            });
        sync(env, result)
    }

    /// Starts an outbound campaign (`CampaignRequest`, the body of `POST /campaigns`) and
    /// returns it (`CampaignInfo`). The list is checked first: one refused entry refuses the
    /// campaign whole (unless `skip_invalid`), nothing dialed.
    ///
    /// Throws `ERR_FREYA_CAMPAIGN` with `kind` `"invalid_numbers"` and `rejected` (every
    /// refused entry: `{ line, value, reason }`), `"empty_list"` or `"pacing"`;
    /// `ERR_FREYA_DRAINING`; a `TypeError` (`ERR_INVALID_ARG_VALUE`) for a bad request.
    #[napi(ts_args_type = "req: CampaignRequest", ts_return_type = "CampaignInfo")]
    pub fn start_campaign(&self, env: &Env, req: serde_json::Value) -> Result<serde_json::Value> {
        let result = from_json::<CampaignRequest>("startCampaign: request", req).and_then(|req| {
            // The campaign's runner is a task on the addon's runtime.
            let info = napi::bindgen_prelude::within_runtime_if_available(|| {
                self.inner.start_campaign(req)
            })?;
            to_json(&info).map_err(Failure::Internal)
        });
        sync(env, result)
    }

    /// The campaigns kept: every running or paused one and the last
    /// `[control] keep_ended_campaigns` ended ones (older ended ones are forgotten), oldest
    /// first.
    #[napi(ts_return_type = "CampaignInfo[]")]
    pub fn campaigns(&self, env: &Env) -> Result<serde_json::Value> {
        sync(
            env,
            to_json(&self.inner.campaigns()).map_err(Failure::Internal),
        )
    }

    /// One campaign. Throws `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"`).
    #[napi(ts_return_type = "CampaignInfo")]
    pub fn campaign(&self, env: &Env, campaign_id: String) -> Result<serde_json::Value> {
        let result = self
            .inner
            .campaign(&campaign_id)
            .map_err(Failure::from)
            .and_then(|info| to_json(&info).map_err(Failure::Internal));
        sync(env, result)
    }

    /// Stops a campaign dialing (its calls up go on) until `resumeCampaign`.
    /// Throws `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
    #[napi]
    pub fn pause_campaign(&self, env: &Env, campaign_id: String) -> Result<()> {
        let stack = &self.inner;
        sync(env, in_runtime(|| stack.pause_campaign(&campaign_id)))
    }

    /// Dials again, after `pauseCampaign` or the wrong-prefix breaker (which starts over).
    /// Throws `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
    #[napi]
    pub fn resume_campaign(&self, env: &Env, campaign_id: String) -> Result<()> {
        let stack = &self.inner;
        sync(env, in_runtime(|| stack.resume_campaign(&campaign_id)))
    }

    /// Ends a campaign: nothing more is dialed; it is `cancelled` once its calls end.
    /// Throws `ERR_FREYA_CAMPAIGN` (`kind` `"no_such_campaign"` or `"ended"`).
    #[napi]
    pub fn cancel_campaign(&self, env: &Env, campaign_id: String) -> Result<()> {
        let stack = &self.inner;
        sync(env, in_runtime(|| stack.cancel_campaign(&campaign_id)))
    }

    /// A graceful stop: new calls are refused from now on (inbound 503, originate
    /// `ERR_FREYA_DRAINING`), running campaigns pause (reason `"the stack is draining for a
    /// shutdown"`); live calls may go on for up to `grace_ms`, then those still up
    /// are hung up with Q.850 cause 41. Resolves with how many were hung up. Call
    /// `shutdown()` afterwards.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn drain<'env>(&self, env: &'env Env, grace_ms: u32) -> Result<PromiseRaw<'env, u32>> {
        let stack = self.inner.clone();
        promise(env, async move {
            let grace = std::time::Duration::from_millis(u64::from(grace_ms));
            let left = stack.drain(grace).await;
            Ok(u32::try_from(left).unwrap_or(u32::MAX))
        })
    }

    /// Stops the stack ([`freya::stack::Stack::shutdown`]: campaigns cancelled, calls still up
    /// hung up with Q.850 cause 41, the built-in agents and the SIP sockets closed); then
    /// hands the events already queued to the `onEvent` callbacks and releases them, so that
    /// the stack no longer keeps Node running. Resolves when that is done.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let stack = self.inner.clone();
        let forwarders = self.forwarders.clone();
        promise(env, async move {
            stack.shutdown().await;
            forwarders.stop.send_replace(true);
            let tasks = match forwarders.tasks.lock() {
                Ok(mut tasks) => std::mem::take(&mut *tasks),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            };
            for task in tasks {
                if let Err(error) = task.await {
                    tracing::warn!(%error, "freya-node: an event forwarder failed");
                }
            }
            Ok(())
        })
    }
}

/// `f` inside the addon's runtime (a campaign command may wake its runner task).
fn in_runtime<T>(
    f: impl FnOnce() -> std::result::Result<T, StackError>,
) -> std::result::Result<T, Failure> {
    napi::bindgen_prelude::within_runtime_if_available(f).map_err(Failure::from)
}

/// Hands every event to `tsfn` until `stop` turns `true` (then what is queued, and stops) or
/// the stack is gone. Dropping `tsfn` at the end releases the JS callback.
async fn forward(
    mut events: broadcast::Receiver<CallEvent>,
    mut stop: watch::Receiver<bool>,
    tsfn: ThreadsafeFunction<serde_json::Value, Unknown<'static>, serde_json::Value, Status, false>,
) {
    let deliver = |ev: &CallEvent| match serde_json::to_value(ev) {
        Ok(json) => {
            let status = tsfn.call(json, ThreadsafeFunctionCallMode::NonBlocking);
            if status != Status::Ok {
                tracing::warn!(call_id = %ev.call_id, ?status, "freya-node: event not delivered");
            }
        }
        Err(error) => {
            tracing::warn!(call_id = %ev.call_id, %error, "freya-node: event not serialized")
        }
    };
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => deliver(&ev),
                // A slow callback skips what it missed (as the API's stream does); logged.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "freya-node: the onEvent callback lagged");
                }
                Err(RecvError::Closed) => return,
            },
            changed = stop.wait_for(|stopped| *stopped) => {
                if changed.is_err() {
                    return;
                }
                loop {
                    match events.try_recv() {
                        Ok(ev) => deliver(&ev),
                        Err(TryRecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "freya-node: the onEvent callback lagged");
                        }
                        Err(_) => return,
                    }
                }
            }
        }
    }
}
