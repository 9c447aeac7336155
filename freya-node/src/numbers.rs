//! `validateNumbers`: a campaign's phone list checked before anything is dialed, over
//! [`freya::campaign::validate_numbers`] (ITU-T E.164 normalisation, SIP URIs kept as given).
//!
//! Only the shape changes here: the Rust `NumberRules` becomes a camelCase options object, and
//! each refused entry's [`NumberError`] is handed over as its message (`to_string()`), its
//! `kind` and, in `reason`, the error exactly as serde serializes it (the same JSON as in Rust
//! and Python).

use freya::campaign::{self, NumberError, NumberRules};
use napi::bindgen_prelude::Object;
use napi::{Env, Error, JsValue, Result, Status, ValueType};
use napi_derive::napi;

/// The keys of the `rules` object. Any other key is refused, as the Rust `NumberRules` denies
/// unknown fields: a misspelt `allowedPrefixes` must not silently allow every prefix.
const RULE_KEYS: [&str; 2] = ["defaultCountryCode", "allowedPrefixes"];

/// A checked phone list: what can be dialed, in list order, and what cannot.
#[napi(object)]
pub struct NumberList {
    /// E.164 numbers (`"+14155550100"`) and SIP URIs, normalised, in the order given.
    pub valid: Vec<String>,
    /// The entries refused, with their lines.
    pub rejected: Vec<RejectedNumber>,
}

/// One refused entry of a phone list.
#[napi(object)]
pub struct RejectedNumber {
    /// The entry's line in the list (1-based: `numbers[line - 1]`).
    pub line: u32,
    /// The entry as given.
    pub value: String,
    /// Why it was refused, in snake_case: `"bad_character"`, `"duplicate"`, `"bad_rule"`, …
    pub kind: String,
    /// The reason in words, quoting the entry.
    pub message: String,
    /// The reason as serde serializes it in Rust: `{ kind, ...the variant's fields }`
    /// (snake_case keys, e.g. `{ kind: "duplicate", number, first_line }`).
    pub reason: serde_json::Value,
}

/// Checks a campaign's phone list before dialing: each entry normalised to E.164
/// (`"+1 (415) 555-0100"` → `"+14155550100"`, `00` → `+`, a national number completed with
/// `rules.defaultCountryCode`) or kept as a SIP URI; duplicates, letters, numbers outside
/// `rules.allowedPrefixes` and the like are refused with their line. Never throws for a bad
/// entry or a bad rule value (a bad rule refuses every entry with kind `"bad_rule"`); throws a
/// `TypeError` (`code` `"ERR_INVALID_ARG_VALUE"`) when `rules` has a key other than
/// `defaultCountryCode` and `allowedPrefixes`, and (`"ERR_INVALID_ARG_TYPE"`) when `rules` is
/// not an object or a rule not a string / an array of strings.
#[napi]
pub fn validate_numbers(
    env: Env,
    numbers: Vec<String>,
    rules: Option<Object<'_>>,
) -> Result<NumberList> {
    let rules = match rules.map(|obj| read_rules(&obj)).transpose() {
        Ok(rules) => rules.unwrap_or_default(),
        Err(RuleError { code, message }) => {
            env.throw_type_error(&message, Some(code))?;
            return Err(Error::new(Status::PendingException, message));
        }
    };
    let checked = campaign::validate_numbers(&numbers, &rules);
    let rejected = checked
        .rejected
        .into_iter()
        .map(|r| {
            let (kind, reason) = describe(&r.reason)?;
            Ok(RejectedNumber {
                // A JS array has fewer than 2^32 elements, so a line always fits.
                line: u32::try_from(r.line).map_err(|_| {
                    Error::new(Status::GenericFailure, format!("line {} past 2^32", r.line))
                })?,
                value: r.value,
                kind,
                message: r.reason.to_string(),
                reason,
            })
        })
        .collect::<Result<_>>()?;
    Ok(NumberList {
        valid: checked.valid,
        rejected,
    })
}

/// A `rules` object that cannot be read: the Node error code and the message of the
/// `TypeError` thrown for it.
struct RuleError {
    code: &'static str,
    message: String,
}

/// The Rust `NumberRules` from the JS options object; `null`/`undefined` values are the defaults.
fn read_rules(obj: &Object<'_>) -> std::result::Result<NumberRules, RuleError> {
    let wrong_type = |what: &str| RuleError {
        code: "ERR_INVALID_ARG_TYPE",
        message: format!("validateNumbers: rules{what}"),
    };
    // napi hands any value over as an `Object`: a number would have no keys and silently
    // become the default rules, a string or an array would have keys "0", "1", ….
    let is_plain_object = obj.to_unknown().get_type().ok() == Some(ValueType::Object)
        && obj.is_array().ok() == Some(false);
    if !is_plain_object {
        return Err(wrong_type(" must be an object"));
    }
    let keys = Object::keys(obj).map_err(|e| wrong_type(&format!(": {}", e.reason)))?;
    if let Some(key) = keys.iter().find(|k| !RULE_KEYS.contains(&k.as_str())) {
        return Err(RuleError {
            code: "ERR_INVALID_ARG_VALUE",
            message: format!(
                "validateNumbers: unknown rule {key:?} (the rules are {})",
                RULE_KEYS.join(", ")
            ),
        });
    }
    let default_country_code = obj
        .get::<Option<String>>("defaultCountryCode")
        .map_err(|_| wrong_type(".defaultCountryCode must be a string"))?
        .flatten();
    let allowed_prefixes = obj
        .get::<Option<Vec<String>>>("allowedPrefixes")
        .map_err(|_| wrong_type(".allowedPrefixes must be an array of strings"))?
        .flatten()
        .unwrap_or_default();
    Ok(NumberRules {
        default_country_code,
        allowed_prefixes,
    })
}

/// `reason` as serde serializes it (`{"kind": …, …fields}`) and its `kind` tag, taken from that
/// serialization so that it can never differ from Rust's.
fn describe(reason: &NumberError) -> Result<(String, serde_json::Value)> {
    let fail = |what: String| Error::new(Status::GenericFailure, format!("{reason:?}: {what}"));
    let json = serde_json::to_value(reason).map_err(|e| fail(e.to_string()))?;
    match json.get("kind") {
        Some(serde_json::Value::String(kind)) => Ok((kind.clone(), json)),
        _ => Err(fail("serialized without a \"kind\"".into())),
    }
}
