//! Python bindings for freya: the extension module `freya._freya`.
//!
//! A thin shell over the root `freya` crate (DESIGN.md: bindings hold no logic of their own).
//! The pure-Python package in `python/freya/` re-exports what is defined here and defines the
//! exception class `parse_message` raises, `freya.SipParseError` (a `ValueError`).
//!
//! - `parse_message`: the header-preserving SIP message parser;
//! - `validate_numbers` (`numbers.rs`): a campaign's phone list checked before dialing;
//! - `Stack` (`stack.rs`): the running SIP/RTP stack, asyncio-friendly, on the module's one
//!   tokio runtime (its exception class `freya.StackError` is defined in `python/freya/`).

use bytes::Bytes;
use freya::sip::message::{self, ParseError};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyType};

mod host;
mod json;
pub mod numbers;
pub mod stack;

/// `freya.SipParseError`, defined in `python/freya/_errors.py`; looked up once.
static SIP_PARSE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A parsed SIP request or response.
///
/// Keeps the bytes it was parsed from; every accessor returns exactly what was received
/// (header names' case, spacing inside values, UTF-8 text), and `to_bytes()` gives back the
/// received bytes unchanged.
#[pyclass(frozen, module = "freya._freya", name = "Message")]
pub struct PyMessage {
    inner: message::Message,
}

#[pymethods]
impl PyMessage {
    /// `True` for a request, `False` for a response.
    #[getter]
    fn is_request(&self) -> bool {
        self.inner.is_request()
    }

    /// The request method (`"INVITE"`, …), or `None` for a response.
    #[getter]
    fn method(&self) -> Option<&str> {
        self.inner.method()
    }

    /// The request-URI exactly as received, or `None` for a response.
    #[getter]
    fn request_uri(&self) -> Option<&str> {
        self.inner.request_uri()
    }

    /// The response status code (`200`, …), or `None` for a request.
    #[getter]
    fn status(&self) -> Option<u16> {
        self.inner.status_code()
    }

    /// The response reason phrase exactly as received, or `None` for a request.
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.inner.reason_phrase()
    }

    /// Every header in received order, as `(name, value)` pairs exactly as received.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.headers().map(|h| (h.name(), h.value())))
    }

    /// The value of the first header called `name` (case-insensitive; compact forms such as
    /// `"i"` for Call-ID are understood), or `None` when the message has no such header.
    fn header(&self, name: &str) -> Option<String> {
        self.inner.header(name).map(|h| h.value().to_owned())
    }

    /// The message body (empty when there is none).
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.body())
    }

    /// The message serialized: for a parsed, unedited message, exactly the bytes received.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// `bytes(message)` is `message.to_bytes()`.
    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    /// `<freya.Message "INVITE sip:…", 12 headers, 230 body bytes>`.
    fn __repr__(&self) -> String {
        let start = match (self.inner.method(), self.inner.status_code()) {
            (Some(method), _) => {
                format!("{method} {}", self.inner.request_uri().unwrap_or_default())
            }
            (None, Some(status)) => {
                format!(
                    "{status} {}",
                    self.inner.reason_phrase().unwrap_or_default()
                )
            }
            (None, None) => String::new(),
        };
        format!(
            "<freya.Message {start:?}, {} headers, {} body bytes>",
            self.inner.headers().count(),
            self.inner.body().len()
        )
    }
}

/// Parses one SIP message (request or response) from `data` (`bytes` or `bytearray`).
///
/// Raises `freya.SipParseError` (a `ValueError`) when the message is refused; the exception
/// names the kind of error, the line, the byte offset and the offending bytes, and carries the
/// SIP response freya would send back (`.response`), when one can be built.
#[pyfunction]
fn parse_message(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyMessage> {
    let input = if let Ok(b) = data.cast::<PyBytes>() {
        Bytes::copy_from_slice(b.as_bytes())
    } else if let Ok(b) = data.cast::<PyByteArray>() {
        Bytes::from(b.to_vec())
    } else {
        return Err(PyTypeError::new_err(format!(
            "parse_message() expects bytes or bytearray, not {}",
            data.get_type().name()?
        )));
    };
    let parsed = {
        let input = input.clone();
        py.detach(move || message::parse(input))
    };
    match parsed {
        Ok(inner) => Ok(PyMessage { inner }),
        Err(err) => Err(to_py_err(py, &input, &err)),
    }
}

/// Builds the `freya.SipParseError` for `err`; any failure doing so becomes the raised error.
fn to_py_err(py: Python<'_>, input: &[u8], err: &ParseError) -> PyErr {
    match build_py_err(py, input, err) {
        Ok(e) => e,
        Err(e) => e,
    }
}

/// Instantiates `freya.SipParseError` with the fields of `err` and the response to send back.
fn build_py_err(py: Python<'_>, input: &[u8], err: &ParseError) -> PyResult<PyErr> {
    let class = SIP_PARSE_ERROR.import(py, "freya._errors", "SipParseError")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", err.kind().name())?;
    kwargs.set_item("line", err.line())?;
    kwargs.set_item("offset", err.offset())?;
    kwargs.set_item("offending", err.offending_hex())?;
    kwargs.set_item("offending_bytes", PyBytes::new(py, err.offending()))?;
    kwargs.set_item("header", err.header())?;
    kwargs.set_item("detail", err.detail())?;
    kwargs.set_item(
        "response",
        message::error_response(input, err).map(|r| PyBytes::new(py, &r)),
    )?;
    let exc = class.call((err.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}

/// The extension module `freya._freya`.
#[pymodule]
fn _freya(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyMessage>()?;
    m.add_function(wrap_pyfunction!(parse_message, m)?)?;
    m.add_function(wrap_pyfunction!(numbers::validate_numbers, m)?)?;
    m.add_class::<stack::PyStack>()?;
    m.add_class::<host::PyHostCalls>()?;
    m.add_class::<host::PyHostCall>()?;
    m.add_function(wrap_pyfunction!(stack::_at_exit, m)?)?;
    Ok(())
}
