//! A campaign's phone list, checked before anything is dialed: each entry normalised to
//! E.164 (ITU-T E.164: `+`, a country code, at most 15 digits in all) or kept as a SIP URI,
//! and every entry that cannot be dialed as written reported with its line and the reason.
//!
//! The lesson behind it: a campaign dialed with a wrong prefix failed call after call and
//! nobody noticed. A list whose numbers lack a country code, carry letters, or fall outside
//! the prefixes the trunk may call is refused here, entry by entry, before the first INVITE.
//!
//! ```
//! use freya::campaign::{validate_numbers, NumberError, NumberRules};
//!
//! let rules = NumberRules { default_country_code: Some("44".into()), ..NumberRules::default() };
//! let list = ["+1 (415) 555-0100", "020 7183 8750", "0044 20 7183 8750", "555-CALL"];
//! let checked = validate_numbers(&list, &rules);
//! assert_eq!(checked.valid, ["+14155550100", "+442071838750"]);
//! assert_eq!(checked.rejected.len(), 2);
//! assert_eq!(checked.rejected[0].line, 3); // the same number as line 2
//! assert!(matches!(checked.rejected[0].reason, NumberError::Duplicate { first_line: 2, .. }));
//! assert!(matches!(checked.rejected[1].reason, NumberError::BadCharacter { ch: 'C', .. }));
//! ```

use serde::{Deserialize, Serialize};

/// Digits of the shortest E.164 number accepted (country code included): Saint Helena's
/// `+290 XXXX` has 7.
pub const MIN_E164_DIGITS: usize = 7;
/// Digits of the longest E.164 number (ITU-T E.164 §6.1: 15, country code included).
pub const MAX_E164_DIGITS: usize = 15;

/// How a list's entries are read.
///
/// ```
/// let r = freya::campaign::NumberRules::default();
/// assert!(r.default_country_code.is_none() && r.allowed_prefixes.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberRules {
    /// The country code (digits, `"44"`) that completes a national number: one with the
    /// national trunk prefix `0` (`020 7183 8750`) or with no prefix at all. `None`: such
    /// entries are refused ([`NumberError::NoCountryCode`]).
    pub default_country_code: Option<String>,
    /// E.164 prefixes the campaign may dial (`"+1415"`, `"+44"`); empty: any. A number
    /// outside them is refused ([`NumberError::PrefixNotAllowed`]): the wrong-prefix check.
    pub allowed_prefixes: Vec<String>,
}

/// Why one entry of a list cannot be dialed. The messages quote the entry.
///
/// ```
/// use freya::campaign::NumberError;
/// let e = NumberError::TooLong { number: "+1234567890123456".into(), digits: 16 };
/// assert_eq!(e.to_string(), "\"+1234567890123456\" has 16 digits; E.164 allows at most 15");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NumberError {
    /// Nothing but spaces.
    #[error("empty entry")]
    Empty,
    /// A character that is neither a digit, a leading `+`, nor a separator (space `-` `.`
    /// `(` `)`).
    #[error("{entry:?}: {ch:?} at character {at} is not a digit or a separator")]
    BadCharacter {
        /// The entry as given.
        entry: String,
        /// The character.
        ch: char,
        /// Its position (1-based, in characters).
        at: usize,
    },
    /// Fewer than [`MIN_E164_DIGITS`] digits once the country code is in place.
    #[error("{number:?} has {digits} digits; E.164 needs at least {min}", min = MIN_E164_DIGITS)]
    TooShort {
        /// The number as normalised.
        number: String,
        /// Its digits.
        digits: usize,
    },
    /// More than [`MAX_E164_DIGITS`] digits.
    #[error("{number:?} has {digits} digits; E.164 allows at most {max}", max = MAX_E164_DIGITS)]
    TooLong {
        /// The number as normalised.
        number: String,
        /// Its digits.
        digits: usize,
    },
    /// A national number and no [`NumberRules::default_country_code`] to complete it.
    #[error(
        "{entry:?} has no country code (write it as +<country code>…, or set default_country_code)"
    )]
    NoCountryCode {
        /// The entry as given.
        entry: String,
    },
    /// `+0…`: no country code starts with 0.
    #[error("{number:?}: no country code starts with 0")]
    ZeroCountryCode {
        /// The number as normalised.
        number: String,
    },
    /// Outside [`NumberRules::allowed_prefixes`].
    #[error("{number:?} is outside the allowed prefixes {allowed}")]
    PrefixNotAllowed {
        /// The number as normalised.
        number: String,
        /// The allowed prefixes, comma-separated.
        allowed: String,
    },
    /// The same number (after normalising) appeared on an earlier line.
    #[error("{number:?} is already on line {first_line}")]
    Duplicate {
        /// The number as normalised.
        number: String,
        /// The earlier line (1-based).
        first_line: usize,
    },
    /// A `sip:`/`sips:` entry without a user and a host (`sip:user@host`), or with spaces
    /// or control characters.
    #[error("{entry:?} is not a SIP URI of the form sip:user@host")]
    BadUri {
        /// The entry as given.
        entry: String,
    },
    /// A setting of [`NumberRules`] itself is wrong (every entry is refused with it).
    #[error("number rules: {setting} = {value:?}: {reason}")]
    BadRule {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One refused entry. As JSON (the control API, events, and the bindings alike):
/// `{"line", "value", "kind", "message", "reason"}`: `kind` the reason's snake_case name,
/// `message` the reason in words, `reason` the [`NumberError`] with its fields.
///
/// ```
/// use freya::campaign::{validate_numbers, NumberRules};
/// let r = validate_numbers(&["12"], &NumberRules::default());
/// assert_eq!((r.rejected[0].line, r.rejected[0].value.as_str()), (1, "12"));
/// let json = serde_json::to_value(&r.rejected[0]).unwrap();
/// assert_eq!(json["kind"], json["reason"]["kind"]);
/// assert_eq!(json["message"], r.rejected[0].reason.to_string());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedNumber {
    /// The entry's line in the list (1-based).
    pub line: usize,
    /// The entry as given.
    pub value: String,
    /// Why it cannot be dialed.
    pub reason: NumberError,
}

impl Serialize for RejectedNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeStruct};
        // The reason's tag, as its own serde form names it (one source for the names).
        let reason = serde_json::to_value(&self.reason).map_err(S::Error::custom)?;
        let kind = reason.get("kind").cloned().unwrap_or_default();
        let mut s = serializer.serialize_struct("RejectedNumber", 5)?;
        s.serialize_field("line", &self.line)?;
        s.serialize_field("value", &self.value)?;
        s.serialize_field("kind", &kind)?;
        s.serialize_field("message", &self.reason.to_string())?;
        s.serialize_field("reason", &reason)?;
        s.end()
    }
}

/// A checked list: what can be dialed, in list order, and what cannot.
///
/// ```
/// use freya::campaign::{validate_numbers, NumberRules};
/// let r = validate_numbers(&["+14155550100", "sip:bob@192.0.2.7"], &NumberRules::default());
/// assert_eq!(r.valid, ["+14155550100", "sip:bob@192.0.2.7"]);
/// assert!(r.rejected.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NumberList {
    /// E.164 numbers (`+14155550100`) and SIP URIs, in the order given.
    pub valid: Vec<String>,
    /// The entries refused, with their lines.
    pub rejected: Vec<RejectedNumber>,
}

/// Checks every entry of `list` under `rules`: E.164 numbers normalised (separators out,
/// `00` → `+`, the national `0` replaced by the default country code), SIP URIs kept as they
/// are, duplicates (after normalising) refused. Never fails as a whole: a rule that is itself
/// wrong refuses every entry with [`NumberError::BadRule`].
pub fn validate_numbers<S: AsRef<str>>(list: &[S], rules: &NumberRules) -> NumberList {
    let mut out = NumberList::default();
    let rule_error = check_rules(rules).err();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for (i, entry) in list.iter().enumerate() {
        let line = i + 1;
        let value = entry.as_ref();
        let result = match &rule_error {
            Some(e) => Err(e.clone()),
            None => normalize_number(value, rules),
        }
        .and_then(|number| match seen.get(&number) {
            Some(&first_line) => Err(NumberError::Duplicate { number, first_line }),
            None => Ok(number),
        });
        match result {
            Ok(number) => {
                seen.insert(number.clone(), line);
                out.valid.push(number);
            }
            Err(reason) => out.rejected.push(RejectedNumber {
                line,
                value: value.to_owned(),
                reason,
            }),
        }
    }
    out
}

fn check_rules(rules: &NumberRules) -> Result<(), NumberError> {
    if let Some(cc) = &rules.default_country_code {
        let cc_digits = cc.strip_prefix('+').unwrap_or(cc);
        if cc_digits.is_empty()
            || cc_digits.len() > 3
            || !cc_digits.bytes().all(|b| b.is_ascii_digit())
            || cc_digits.starts_with('0')
        {
            return Err(NumberError::BadRule {
                setting: "default_country_code",
                value: cc.clone(),
                reason: "must be 1 to 3 digits, not starting with 0",
            });
        }
    }
    for p in &rules.allowed_prefixes {
        let digits = p.strip_prefix('+').unwrap_or(p);
        if digits.is_empty()
            || digits.len() > MAX_E164_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(NumberError::BadRule {
                setting: "allowed_prefixes",
                value: p.clone(),
                reason: "must be + and 1 to 15 digits",
            });
        }
    }
    Ok(())
}

/// One entry normalised: an E.164 number (`+` and digits) or the SIP URI as given.
///
/// # Errors
/// Every [`NumberError`] but `Duplicate` and `BadRule` (see [`validate_numbers`]).
///
/// ```
/// use freya::campaign::{normalize_number, NumberRules};
/// let us = NumberRules { default_country_code: Some("1".into()), ..Default::default() };
/// assert_eq!(normalize_number("(415) 555-0100", &us).unwrap(), "+14155550100");
/// assert!(normalize_number("(415) 555-0100", &NumberRules::default()).is_err());
/// ```
pub fn normalize_number(entry: &str, rules: &NumberRules) -> Result<String, NumberError> {
    let trimmed = entry.trim();
    if trimmed.is_empty() {
        return Err(NumberError::Empty);
    }
    let lower = trimmed.get(..5).map(str::to_ascii_lowercase);
    if lower
        .as_deref()
        .is_some_and(|p| p.starts_with("sip:") || p == "sips:")
    {
        return check_uri(trimmed, entry);
    }
    let mut plus = false;
    let mut digits = String::with_capacity(trimmed.len());
    for (i, ch) in trimmed.chars().enumerate() {
        match ch {
            '0'..='9' => digits.push(ch),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(NumberError::BadCharacter {
                    entry: entry.to_owned(),
                    ch,
                    at: i + 1,
                })
            }
        }
    }
    let national = |rest: &str| match &rules.default_country_code {
        Some(cc) => Ok(format!("{}{rest}", cc.strip_prefix('+').unwrap_or(cc))),
        None => Err(NumberError::NoCountryCode {
            entry: entry.to_owned(),
        }),
    };
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        national(rest)?
    } else {
        national(&digits)?
    };
    let number = format!("+{international}");
    let n = international.len();
    if international.starts_with('0') {
        return Err(NumberError::ZeroCountryCode { number });
    }
    if n < MIN_E164_DIGITS {
        return Err(NumberError::TooShort { number, digits: n });
    }
    if n > MAX_E164_DIGITS {
        return Err(NumberError::TooLong { number, digits: n });
    }
    if !rules.allowed_prefixes.is_empty()
        && !rules.allowed_prefixes.iter().any(|p| {
            let p = p.strip_prefix('+').unwrap_or(p);
            international.starts_with(p)
        })
    {
        return Err(NumberError::PrefixNotAllowed {
            number,
            allowed: rules.allowed_prefixes.join(", "),
        });
    }
    Ok(number)
}

/// `sip:user@host[…]`: a user and a host, no spaces or control characters.
fn check_uri(uri: &str, entry: &str) -> Result<String, NumberError> {
    let bad = || NumberError::BadUri {
        entry: entry.to_owned(),
    };
    let rest = uri.split_once(':').map(|(_, r)| r).ok_or_else(bad)?;
    let (user, host) = rest.split_once('@').ok_or_else(bad)?;
    if user.is_empty()
        || host.is_empty()
        || host.starts_with([';', '?', ':'])
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(uri.to_owned())
}

#[cfg(test)]
#[path = "numbers_tests.rs"]
mod tests;
