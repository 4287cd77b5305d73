//! The words of an event's error, and whether it is about a credential.

use super::*;

pub(super) fn cred_failure_re() -> &'static Regex {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)unauthori[sz]ed|credential|forbidden|permission denied|access denied|not authori[sz]ed|invalid (api[ _-]?)?(token|key)|authenticat|expired token|token (is )?(invalid|expired)|\b40[13]\b").expect("failure regex")
    });
    &RE
}

/// The error of one event: (is an error, is a credential failure, text). Whether it is an
/// error is [`Event::is_error`]'s rule, the one every output uses; this adds the words and
/// whether the failure is about a credential. `started` gives the argv of a started exec by
/// its seq (for an exit recorded as its own event).
pub(super) fn error_of(
    typed: &Typed,
    started: impl Fn(u64) -> Option<String>,
) -> (bool, bool, String) {
    if let Some(r) = typed.result.as_ref().filter(|r| r.is_error()) {
        let text = [r.error_text().unwrap_or_default(), r.output_text()]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        return (true, cred_failure_re().is_match(&text), text);
    }
    if let Some(x) = typed.exec.as_ref().filter(|x| x.is_error()) {
        // The recorder writes a process's end as its own exec event (`exit_of_seq`).
        let argv = match x.exit_of_seq {
            Some(s) => started(s).unwrap_or_default(),
            None => x.argv().join(" "),
        };
        let how = match (x.exit, &x.signal) {
            (Some(c), _) => format!("exited {c}"),
            (None, Some(sig)) => format!("was killed by {sig}"),
            (None, None) => "failed".to_string(),
        };
        return (true, false, format!("`{}` {how}", truncate(&argv, 80)));
    }
    if let Some(a) = typed.api.as_ref().filter(|a| a.is_error()) {
        let text = match (a.status, &a.error) {
            (Some(status), _) => format!(
                "HTTP {status}: {}",
                a.response_body.as_deref().unwrap_or_default()
            ),
            (None, Some(e)) => format!("no response: {e}"),
            (None, None) => "no response".to_string(),
        };
        let cred = matches!(a.status, Some(401 | 403)) || cred_failure_re().is_match(&text);
        return (true, cred, text);
    }
    (false, false, String::new())
}
