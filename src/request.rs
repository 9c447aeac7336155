//! Reading a request (an originate, a campaign, a number list) from JSON, with an error
//! that names the key: the control API's bodies, and the Node and Python bindings' request
//! objects, all go through here, so all three say the same thing about the same mistake.
//!
//! serde's own messages name an unknown or missing key (`unknown field `recrd``) but not
//! the key whose value has the wrong type (`invalid type: string "yes", expected a
//! boolean`), nor where a nested key sits; read through `serde_path_to_error`, those become
//! `record: invalid type: string "yes", expected a boolean`, `breaker.window: …`,
//! `numbers[1]: …`, `breaker.windw: unknown field `windw`, …`.
//!
//! ```
//! use freya::request::from_value;
//! use freya::stack::OriginateRequest;
//!
//! let e = from_value::<OriginateRequest>(serde_json::json!({"to": "sip:a@b", "record": "yes"}))
//!     .unwrap_err();
//! assert_eq!(e.to_string(), "record: invalid type: string \"yes\", expected a boolean");
//! ```

use serde::de::DeserializeOwned;

/// A request that could not be read: its message names the key (a dotted path, `[i]` for a
/// list entry) when the mistake is in a value, and serde's own words after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    message: String,
}

impl RequestError {
    /// An error in these words (a check of the stack's own, after deserializing).
    pub(crate) fn from_message(message: String) -> RequestError {
        RequestError { message }
    }

    fn new(path: &serde_path_to_error::Path, inner: &impl std::fmt::Display) -> RequestError {
        let path = path.to_string();
        let message = if path == "." {
            // The request itself (a missing or unknown key, a body that is not an object):
            // serde's message already names the key.
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        RequestError { message }
    }
}

/// `T` from a JSON value (the bindings' request objects, converted to JSON).
///
/// # Errors
/// [`RequestError`] naming the key whose value does not fit, or serde's message for an
/// unknown or missing key.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, RequestError> {
    serde_path_to_error::deserialize(value).map_err(|e| RequestError::new(e.path(), e.inner()))
}

/// `T` from JSON text (the control API's request bodies).
///
/// # Errors
/// As [`from_value`]; also a body that is not JSON (serde's message, with its line and
/// column).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RequestError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| RequestError::new(e.path(), e.inner()))?;
    de.end().map_err(|e| RequestError {
        message: e.to_string(),
    })?;
    Ok(value)
}

/// A Q.850 cause to send in `Reason: Q.850;cause=N` (RFC 3326) from a host's number: the
/// control API's `?q850_cause=`, the bindings' `hangup` argument, [`Stack::hangup`]. ITU-T
/// Q.850 §2.2.5 gives a cause 7 bits: 1–127 (0 is not a cause).
///
/// # Errors
/// [`RequestError`] naming `q850_cause` and the value when it is outside 1–127.
///
/// ```
/// assert_eq!(freya::request::q850_cause(41), Ok(41));
/// let e = freya::request::q850_cause(200).unwrap_err();
/// assert_eq!(e.to_string(), "q850_cause: 200 is not a Q.850 cause (1-127)");
/// ```
///
/// [`Stack::hangup`]: crate::stack::Stack::hangup
pub fn q850_cause(value: i64) -> Result<u16, RequestError> {
    match u16::try_from(value) {
        Ok(c @ 1..=127) => Ok(c),
        _ => Err(RequestError {
            message: format!("q850_cause: {value} is not a Q.850 cause (1-127)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::CampaignRequest;
    use crate::stack::OriginateRequest;
    use serde_json::json;

    #[test]
    fn a_wrong_type_names_its_key_nested_and_in_a_list() {
        let e = from_value::<CampaignRequest>(json!({
            "numbers": ["+14155550100"], "breaker": {"failures": 8, "window": "ten"}
        }))
        .unwrap_err();
        assert!(
            e.to_string().starts_with("breaker.window: invalid type"),
            "{e}"
        );
        let e = from_value::<CampaignRequest>(json!({"numbers": ["+1", 7]})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("numbers[1]: invalid type: integer `7`"),
            "{e}"
        );
        let e = from_slice::<OriginateRequest>(br#"{"to": "sip:a@b", "record": 1}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("record: invalid type: integer `1`"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_or_missing_key_keeps_serdes_words() {
        let e =
            from_value::<OriginateRequest>(json!({"to": "sip:a@b", "recrd": true})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("recrd: unknown field `recrd`, expected one of `to`"),
            "{e}"
        );
        let e = from_value::<CampaignRequest>(json!({"numbers": [], "breaker": {"windw": 1}}))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("breaker.windw: unknown field `windw`"),
            "{e}"
        );
        let e = from_value::<OriginateRequest>(json!({})).unwrap_err();
        assert_eq!(e.to_string(), "missing field `to`");
    }

    #[test]
    fn text_must_be_one_json_value() {
        assert!(from_slice::<OriginateRequest>(br#"{"to": "sip:a@b"}"#).is_ok());
        let e = from_slice::<OriginateRequest>(br#"{"to": "sip:a@b"} x"#).unwrap_err();
        assert!(e.to_string().contains("trailing characters"), "{e}");
        let e = from_slice::<OriginateRequest>(b"{\"to\": ").unwrap_err();
        assert!(e.to_string().contains("EOF"), "{e}");
    }
}
