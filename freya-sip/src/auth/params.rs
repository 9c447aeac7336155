//! The `auth-scheme 1*SP #auth-param` grammar shared by challenges and credentials
//! (RFC 7235 §2.1, RFC 3261 §25.1 `challenge` / `credentials`), and the quoting of values
//! we write.

use super::error::AuthError;

/// A parsed `Scheme name=value, …` header value: the scheme and its parameters, names
/// lower-cased, values unquoted (quoted-pairs resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemeParams<'a> {
    pub(crate) scheme: &'a str,
    /// `(lower-case name, value)`, in order, names unique.
    pub(crate) params: Vec<(String, String)>,
}

impl SchemeParams<'_> {
    /// The value of parameter `name` (lower-case).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 §25.1 token characters.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Parses `value` (a whole WWW-Authenticate / Authorization value, folds allowed outside
/// quoted-strings). Empty list elements (`a=1,,b=2`) are skipped (RFC 7230 §7).
pub(crate) fn parse(value: &str) -> Result<SchemeParams<'_>, AuthError> {
    let b = value.as_bytes();
    let bad = |offset: usize, what: &'static str| AuthError::Malformed {
        value: value.to_owned(),
        offset,
        what,
    };
    let mut i = 0;
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    let s = i;
    while i < b.len() && is_token(b[i]) {
        i += 1;
    }
    if i == s {
        return Err(bad(i, "expected an authentication scheme"));
    }
    let scheme = &value[s..i];
    if i < b.len() && !is_ws(b[i]) {
        return Err(bad(i, "expected white space after the scheme"));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        while i < b.len() && (is_ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ns = i;
        while i < b.len() && is_token(b[i]) {
            i += 1;
        }
        if i == ns {
            return Err(bad(i, "expected a parameter name"));
        }
        let name = value[ns..i].to_ascii_lowercase();
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return Err(bad(i, "expected '=' after the parameter name"));
        }
        i += 1;
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        let val = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut out = String::new();
            let mut run = i;
            loop {
                match b.get(i) {
                    None => return Err(bad(i, "unterminated quoted-string")),
                    Some(b'"') => {
                        out.push_str(&value[run..i]);
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        out.push_str(&value[run..i]);
                        match b.get(i + 1) {
                            Some(&c) if c != b'\r' && c != b'\n' && c.is_ascii() => {
                                out.push(c as char);
                                i += 2;
                                run = i;
                            }
                            _ => return Err(bad(i, "invalid quoted-pair")),
                        }
                    }
                    Some(b'\r' | b'\n') => return Err(bad(i, "line break inside a quoted-string")),
                    Some(_) => i += 1,
                }
            }
            out
        } else {
            let vs = i;
            // A token; lenient on what it holds (peers write `uri=sip:…` unquoted), strict
            // on where it ends.
            while i < b.len() && !is_ws(b[i]) && b[i] != b',' && b[i] != b'"' {
                i += 1;
            }
            if i == vs {
                return Err(bad(i, "expected a parameter value"));
            }
            value[vs..i].to_owned()
        };
        while i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] != b',' {
            return Err(bad(i, "expected ',' after the parameter value"));
        }
        if params.iter().any(|(n, _)| *n == name) {
            return Err(bad(ns, "parameter given twice"));
        }
        params.push((name, val));
    }
    Ok(SchemeParams { scheme, params })
}

/// `"value"` with `"` and `\` escaped (RFC 3261 §25.1 quoted-string).
pub(crate) fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Refuses values holding control characters (CR/LF would inject a header).
pub(crate) fn check_text(param: &'static str, v: &str) -> Result<(), AuthError> {
    if v.chars().any(|c| c.is_control()) {
        return Err(AuthError::ControlCharacter {
            param,
            got: v.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_escaped_and_folded_values() {
        let p =
            parse("Digest realm=\"a \\\"b\\\\\",\r\n  nonce=xyz ,, qop=\"auth,auth-int\"").unwrap();
        assert_eq!(p.scheme, "Digest");
        assert_eq!(p.get("realm"), Some("a \"b\\"));
        assert_eq!(p.get("nonce"), Some("xyz"));
        assert_eq!(p.get("qop"), Some("auth,auth-int"));
    }

    #[test]
    fn refuses_malformed_lists() {
        for (v, at) in [
            ("Digest realm=\"open", 18),
            ("Digest realm", 12),
            ("Digest realm=a b=c", 15),
            ("Digest realm=a, REALM=b", 16),
            ("Digest realm=\"a\\\r\"", 15),
            ("", 0),
            ("Digest=", 6),
        ] {
            match parse(v) {
                Err(AuthError::Malformed { offset, value, .. }) => {
                    assert_eq!((offset, value.as_str()), (at, v), "{v:?}")
                }
                other => panic!("{v:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn quote_round_trips() {
        let s = "we \"said\" \\ hi";
        let v = format!("Digest x={}", quote(s));
        assert_eq!(parse(&v).unwrap().get("x"), Some(s));
    }
}
