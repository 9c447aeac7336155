//! The dialplan: which route takes a call (sans-IO, pure). Routes are tried in config
//! order; a route matches when each condition it names holds — the context the call
//! entered, the called number (exact or a `*`-terminated prefix), the
//! `X-Freya-Workflow-Id` — and a route naming none matches everything (the default).

use crate::config::Route;

/// What routing looks at.
///
/// ```
/// use freya::routing::CallFacts;
/// let f = CallFacts { context: "from-trunk", called: Some("+14155550100"), workflow_id: None };
/// assert_eq!(f.called, Some("+14155550100"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallFacts<'a> {
    /// The context of the trunk or endpoint the call came from.
    pub context: &'a str,
    /// The called number (the To user; else the Request-URI user).
    pub called: Option<&'a str>,
    /// The `X-Freya-Workflow-Id` header's value.
    pub workflow_id: Option<&'a str>,
}

/// The first route in `routes` that matches `facts`.
///
/// ```
/// use freya::config::Route;
/// use freya::routing::{route, CallFacts};
/// let r = |name: &str, called: Option<&str>, wf: Option<&str>| Route { name: name.into(), context: None,
///     called: called.map(Into::into), workflow_id: wf.map(Into::into), agents: Some("a".into()),
///     uri: None, trunk: None, record: false };
/// let routes = [r("by-wf", None, Some("wf-7")), r("uk", Some("+44*"), None), r("default", None, None)];
/// let f = |called, wf| CallFacts { context: "from-trunk", called, workflow_id: wf };
/// assert_eq!(route(&routes, &f(Some("+4420"), Some("wf-7"))).unwrap().name, "by-wf");
/// assert_eq!(route(&routes, &f(Some("+4420"), None)).unwrap().name, "uk");
/// assert_eq!(route(&routes, &f(Some("+1415"), None)).unwrap().name, "default");
/// ```
pub fn route<'r>(routes: &'r [Route], facts: &CallFacts<'_>) -> Option<&'r Route> {
    routes.iter().find(|r| matches(r, facts))
}

fn matches(r: &Route, f: &CallFacts<'_>) -> bool {
    if r.context.as_deref().is_some_and(|c| c != f.context) {
        return false;
    }
    if let Some(want) = r.workflow_id.as_deref() {
        if f.workflow_id != Some(want) {
            return false;
        }
    }
    if let Some(pattern) = r.called.as_deref() {
        let Some(called) = f.called else {
            return false;
        };
        let ok = match pattern.strip_suffix('*') {
            Some(prefix) => called.starts_with(prefix),
            None => called == pattern,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str) -> Route {
        Route {
            name: name.into(),
            context: None,
            called: None,
            workflow_id: None,
            agents: Some("a".into()),
            uri: None,
            trunk: None,
            record: false,
        }
    }

    #[test]
    fn every_named_condition_must_hold() {
        let routes = [
            Route {
                context: Some("from-internal".into()),
                ..r("internal")
            },
            Route {
                called: Some("+14155550100".into()),
                workflow_id: Some("wf".into()),
                ..r("both")
            },
            Route {
                called: Some("+1*".into()),
                ..r("us")
            },
        ];
        let f = |context, called, workflow_id| CallFacts {
            context,
            called,
            workflow_id,
        };
        assert_eq!(
            route(&routes, &f("from-internal", None, None))
                .unwrap()
                .name,
            "internal"
        );
        assert_eq!(
            route(&routes, &f("from-trunk", Some("+14155550100"), Some("wf")))
                .unwrap()
                .name,
            "both"
        );
        assert_eq!(
            route(&routes, &f("from-trunk", Some("+14155550100"), None))
                .unwrap()
                .name,
            "us"
        );
        assert_eq!(route(&routes, &f("from-trunk", Some("+4420"), None)), None);
        assert_eq!(route(&routes, &f("from-trunk", None, None)), None);
    }
}
