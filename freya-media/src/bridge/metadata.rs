//! The call metadata every wire protocol carries to the agent before any audio: freya's call
//! UUID, direction, caller, callee, workflow id and the call's `X-` SIP headers with their
//! exact values, in order.

use std::fmt;

use serde_json::{Map, Value};

use super::{BridgeError, ProtocolKind};

/// Which way the call was set up, seen from freya (`X-Freya-Direction`).
///
/// ```
/// use freya_media::bridge::Direction;
///
/// assert_eq!(Direction::Outbound.as_str(), "outbound");
/// assert_eq!(Direction::parse("inbound"), Some(Direction::Inbound));
/// assert_eq!(Direction::parse("sideways"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A carrier delivered the call to freya.
    Inbound,
    /// freya placed the call (originate, campaign).
    Outbound,
}

impl Direction {
    /// `inbound` or `outbound`, as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// The direction for its wire name (case-insensitive); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("inbound") {
            Some(Direction::Inbound)
        } else if s.eq_ignore_ascii_case("outbound") {
            Some(Direction::Outbound)
        } else {
            None
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent learns about the call before the first audio frame.
///
/// How each protocol carries it (and how [`echo`](super::echo) reads it back):
/// - Twilio: `start.customParameters` (string values): `from_number`, `to_number` (the two
///   keys pipecat promotes into `call_data`), `call_id`, `direction`, `workflow_id` (when
///   set), one key per `X-` header name (repeated names joined with `", "`, RFC 3261 §7.3.1),
///   and `x_headers`: the exact ordered list as a JSON string `[["X-A","v"],…]`;
/// - jambonz: the metadata preamble (`callSid`, `from`, `to`, `direction`, `headers` object,
///   plus `freyaCallId`, `workflowId` and `xHeaders` (the exact ordered list));
/// - Asterisk: `MEDIA_START`'s `channel_variables` (`FREYA_CALL_ID`, `FREYA_DIRECTION`,
///   `FREYA_CALLER`, `FREYA_CALLEE`, `FREYA_WORKFLOW_ID`, `FREYA_X_HEADERS` (the exact
///   list as JSON), and one variable per header name).
///
/// ```
/// use freya_media::bridge::{CallMetadata, Direction};
///
/// let meta = CallMetadata::new("7d0c…", Direction::Inbound, "+15550001", "+15550002")
///     .with_workflow("wf-42")
///     .with_header("X-Freya-Workflow-Id", "wf-42")
///     .with_header("X-Tenant", " spaces kept ");
/// let json = meta.headers_json();
/// assert_eq!(json, r#"[["X-Freya-Workflow-Id","wf-42"],["X-Tenant"," spaces kept "]]"#);
/// assert_eq!(CallMetadata::headers_from_json(&json).unwrap(), meta.headers);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallMetadata {
    /// freya's call UUID (`X-Freya-Call-Id`), as a string.
    pub call_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The caller (user part or full URI, as the stack chose).
    pub caller: String,
    /// The callee.
    pub callee: String,
    /// The workflow that routed the call to this agent (`X-Freya-Workflow-Id`), if any.
    pub workflow_id: Option<String>,
    /// Every `X-` header of the call's INVITE, name and value exactly as received, in order
    /// (a repeated name appears once per occurrence).
    pub headers: Vec<(String, String)>,
}

impl CallMetadata {
    /// Metadata without workflow id and headers.
    pub fn new(
        call_id: impl Into<String>,
        direction: Direction,
        caller: impl Into<String>,
        callee: impl Into<String>,
    ) -> Self {
        CallMetadata {
            call_id: call_id.into(),
            direction,
            caller: caller.into(),
            callee: callee.into(),
            workflow_id: None,
            headers: Vec::new(),
        }
    }

    /// Sets the workflow id.
    pub fn with_workflow(mut self, workflow_id: impl Into<String>) -> Self {
        self.workflow_id = Some(workflow_id.into());
        self
    }

    /// Appends one `X-` header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The whole metadata as one JSON object (`call_id`, `direction`, `caller`, `callee`,
    /// `workflow_id`, `headers` as `[name, value]` pairs), for hosts and logs.
    ///
    /// ```
    /// use freya_media::bridge::{CallMetadata, Direction};
    /// let m = CallMetadata::new("c1", Direction::Outbound, "+1", "+2").with_header("X-A", "b");
    /// let v = m.to_json();
    /// assert_eq!((v["direction"].as_str(), v["headers"][0][1].as_str()), (Some("outbound"), Some("b")));
    /// assert!(v["workflow_id"].is_null());
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "call_id": self.call_id,
            "direction": self.direction.as_str(),
            "caller": self.caller,
            "callee": self.callee,
            "workflow_id": self.workflow_id,
            "headers": self.headers,
        })
    }

    /// The headers as a JSON array of `[name, value]` pairs: exact values, order and repeats
    /// kept (what every protocol carries besides the convenience object).
    pub fn headers_json(&self) -> String {
        Value::Array(self.headers_array()).to_string()
    }

    /// The headers as JSON array values (`[["X-A","v"],…]`).
    pub(crate) fn headers_array(&self) -> Vec<Value> {
        self.headers
            .iter()
            .map(|(n, v)| Value::Array(vec![Value::String(n.clone()), Value::String(v.clone())]))
            .collect()
    }

    /// The headers as a JSON object, one key per name; repeated names are joined with `", "`
    /// (RFC 3261 §7.3.1) — convenient, but only [`headers_json`](Self::headers_json) is exact.
    pub fn headers_object(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (name, value) in &self.headers {
            match map.get_mut(name) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(value);
                }
                _ => {
                    map.insert(name.clone(), Value::String(value.clone()));
                }
            }
        }
        map
    }

    /// Reads back the list written by [`headers_json`](Self::headers_json).
    ///
    /// # Errors
    /// [`BridgeError::BadField`] (field `x_headers`) when the text is not a JSON array of
    /// two-string arrays.
    pub fn headers_from_json(json: &str) -> Result<Vec<(String, String)>, BridgeError> {
        let v: Value = serde_json::from_str(json).map_err(|e| bad_headers(json, e.to_string()))?;
        Self::headers_from_value(&v)
            .ok_or_else(|| bad_headers(json, "not [[name, value], …]".into()))
    }

    /// The list from a JSON array value of `[name, value]` string pairs.
    pub(crate) fn headers_from_value(v: &Value) -> Option<Vec<(String, String)>> {
        v.as_array()?
            .iter()
            .map(|pair| match pair.as_array()?.as_slice() {
                [Value::String(n), Value::String(v)] => Some((n.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }
}

fn bad_headers(json: &str, reason: String) -> BridgeError {
    BridgeError::BadField {
        protocol: ProtocolKind::Twilio,
        field: "x_headers",
        value: super::excerpt(json),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_object_joins_repeats_and_keeps_order() {
        let m = CallMetadata::new("id", Direction::Outbound, "a", "b")
            .with_header("X-B", "1")
            .with_header("X-A", "é ü")
            .with_header("X-B", "2");
        let obj = m.headers_object();
        let keys: Vec<&String> = obj.keys().collect();
        assert_eq!(keys, ["X-B", "X-A"]);
        assert_eq!(obj["X-B"], "1, 2");
        assert_eq!(obj["X-A"], "é ü");
        let back = CallMetadata::headers_from_json(&m.headers_json()).unwrap();
        assert_eq!(back, m.headers);
    }

    #[test]
    fn headers_from_json_refuses_other_shapes() {
        for bad in ["{}", "[[1,2]]", "[[\"a\"]]", "nope"] {
            assert!(CallMetadata::headers_from_json(bad).is_err(), "{bad}");
        }
        assert_eq!(CallMetadata::headers_from_json("[]").unwrap(), vec![]);
    }
}
