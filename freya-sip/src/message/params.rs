//! `;name=value` parameter lists (header params and URI params), read lazily from the raw
//! bytes without allocation (RFC 3261 §7.3.1, §19.1.1).

/// A parameter list as received, starting at its first `;` (white space and folds around the
/// separators allowed). Values are returned as written: a quoted-string keeps its quotes
/// (use [`unquote`] for the text). Names compare case-insensitively (RFC 3261 §7.3.1).
///
/// ```
/// use freya_sip::message::Params;
/// let p = Params::new(" ;tag = 8321234356 ; lr;text=\"a;b\"");
/// assert_eq!(p.get("TAG"), Some(Some("8321234356")));
/// assert_eq!(p.get("lr"), Some(None));
/// assert_eq!(p.get("text"), Some(Some("\"a;b\"")));
/// assert_eq!(p.get("maddr"), None);
/// assert_eq!(p.iter().count(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Wraps raw parameter text (as found after a URI, a Via sent-by or a name-addr).
    pub fn new(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The text as received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Whether there is no parameter.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Every `(name, value)` in order; `value` is `None` for a flag parameter (`;lr`).
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.raw }
    }

    /// The first parameter called `name`: `Some(Some(v))`, `Some(None)` for a flag,
    /// `None` when absent.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Iterator over a [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    rest: &'a str,
}

fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest.trim_start_matches([' ', '\t', '\r', '\n', ';']);
            if s.is_empty() {
                self.rest = s;
                return None;
            }
            // Find the end of this parameter: the next ';' outside a quoted string.
            let b = s.as_bytes();
            let mut i = 0;
            let mut quoted = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    b';' if !quoted => break,
                    _ => {}
                }
                i += 1;
            }
            let end = i.min(b.len());
            let item = &s[..end];
            self.rest = &s[end..];
            let (name, value) = match item.as_bytes().iter().position(|&c| c == b'=') {
                Some(e) => (trim_lws(&item[..e]), Some(trim_lws(&item[e + 1..]))),
                None => (trim_lws(item), None),
            };
            if name.is_empty() {
                continue;
            }
            return Some((name, value));
        }
    }
}

/// The text of a quoted-string with its quotes removed and quoted-pairs (`\"`, `\\`)
/// resolved. Borrowed when nothing needed unescaping; a value without quotes is returned
/// as it is.
pub fn unquote(v: &str) -> std::borrow::Cow<'_, str> {
    let inner = match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(i) => i,
        None => return std::borrow::Cow::Borrowed(v),
    };
    if !inner.contains('\\') {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_params_are_read() {
        let p = Params::new(" ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33");
        let v: Vec<_> = p.iter().collect();
        assert_eq!(
            v,
            vec![
                ("newparam", Some("newvalue")),
                ("secondparam", None),
                ("q", Some("0.33"))
            ]
        );
    }

    #[test]
    fn unquote_resolves_pairs() {
        assert_eq!(unquote("\"a \\\" b\""), "a \" b");
        assert_eq!(unquote("\"plain\""), "plain");
        assert_eq!(unquote("token"), "token");
    }
}
