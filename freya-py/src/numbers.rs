//! `freya.validate_numbers`: a campaign's phone list checked before anything is dialed, over
//! [`freya::campaign::validate_numbers`] (ITU-T E.164 normalisation, SIP URIs kept as given).
//!
//! Only the shape changes here: the Rust `NumberRules` becomes keyword arguments, and each
//! refused entry is [`RejectedNumber`](freya::campaign::RejectedNumber) as its serde form
//! gives it (`line`, `value`, `kind`, `message`, `reason`: the same JSON as the control API
//! and Node).

use freya::campaign::{self, NumberRules};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

/// Python's `json.loads`, looked up once: turns an entry's serde JSON into a `dict`.
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Checks a campaign's phone list before dialing: each entry normalised to E.164
/// (`"+1 (415) 555-0100"` → `"+14155550100"`, `00` → `+`, a national number completed with
/// `default_country_code`) or kept as a SIP URI; duplicates, letters, numbers outside
/// `allowed_prefixes` and the like are refused with their line.
///
/// Returns `{"valid": [str, ...], "rejected": [{"line", "value", "kind", "message",
/// "reason"}, ...]}`: `line` is 1-based, `kind` the snake_case reason (`"bad_character"`,
/// `"duplicate"`, `"bad_rule"`, ...), `message` the reason in words, `reason` the Rust error
/// as serde serializes it (`{"kind": "duplicate", "number": ..., "first_line": 2}`). Never
/// raises for a bad entry or a bad rule value (a bad rule refuses every entry with kind
/// `"bad_rule"`); raises `TypeError` when `numbers` or `allowed_prefixes` is not a sequence of
/// `str` (a bare `str` included).
#[pyfunction]
#[pyo3(signature = (numbers, *, default_country_code=None, allowed_prefixes=None))]
pub fn validate_numbers<'py>(
    py: Python<'py>,
    numbers: Vec<String>,
    default_country_code: Option<String>,
    allowed_prefixes: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyDict>> {
    let rules = NumberRules {
        default_country_code,
        allowed_prefixes: allowed_prefixes.unwrap_or_default(),
    };
    let checked = campaign::validate_numbers(&numbers, &rules);
    let loads = JSON_LOADS.import(py, "json", "loads")?;
    let rejected = PyList::empty(py);
    for r in &checked.rejected {
        let json = serde_json::to_string(r)
            .map_err(|e| PyRuntimeError::new_err(format!("serializing {r:?}: {e}")))?;
        rejected.append(loads.call1((json,))?)?;
    }
    let out = PyDict::new(py);
    out.set_item("valid", checked.valid)?;
    out.set_item("rejected", rejected)?;
    Ok(out)
}
