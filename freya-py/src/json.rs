//! Python objects ⇄ JSON for the `Stack` binding: requests are read from dicts into the
//! serde JSON the Rust request types deserialize from, results and events go back as the
//! objects `json.loads` would give (dicts keep the key order).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use crate::stack::Failure;

/// How deep a request dict may nest (a dict that contains itself would recurse forever).
const MAX_DEPTH: usize = 32;

/// A JSON value as the Python object `json.loads` would give (dicts keep the key order).
pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                PyInt::new(py, i).into_any()
            } else if let Some(u) = n.as_u64() {
                PyInt::new(py, u).into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python value (dict with `str` keys, list, tuple, str, int, float, bool, None) as JSON;
/// `path` names it in the error (`request["headers"][0]`).
fn py_to_json(value: &Bound<'_, PyAny>, path: &str, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested deeper than {MAX_DEPTH} levels"));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(format!("{path}: the integer {value} is out of range"));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let x = f.value();
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| format!("{path}: {x} is not a finite number"));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|e| format!("{path}: {e}"));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (key, item) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(format!("{path}: the key {key:?} is not a str"));
            };
            let key = key.to_cow().map_err(|e| format!("{path}: {e}"))?;
            let json = py_to_json(&item, &format!("{path}[{key:?}]"), depth + 1)?;
            map.insert(key.into_owned(), json);
        }
        return Ok(Value::Object(map));
    }
    let items = if let Ok(list) = value.cast::<PyList>() {
        list.iter().collect::<Vec<_>>()
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        tuple.iter().collect::<Vec<_>>()
    } else {
        let type_name = value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Err(format!(
            "{path}: a {type_name} is not a JSON value (dict, list, tuple, str, int, float, bool or None)"
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| py_to_json(item, &format!("{path}[{i}]"), depth + 1))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A request dict read as `T` (`what` names the method in the `TypeError`): the dict as
/// JSON, then [`freya::request::from_value`], whose message names the key.
pub(crate) fn read_request<T: serde::de::DeserializeOwned>(
    what: &str,
    req: &Bound<'_, PyAny>,
) -> Result<T, Failure> {
    if !req.is_instance_of::<PyDict>() {
        let type_name = req
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Err(Failure::Arg(format!(
            "{what}: the request must be a dict, not {type_name}"
        )));
    }
    let json = py_to_json(req, "request", 0).map_err(|e| Failure::Arg(format!("{what}: {e}")))?;
    freya::request::from_value(json).map_err(|e| Failure::Arg(format!("{what}: {e}")))
}
