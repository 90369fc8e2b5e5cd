//! Forwarded actions (DESIGN §9 "Any instance serves everything"): a responder action posted to an
//! instance that does not lead the incident's partition is written to the shared store and applied
//! by the owning leader. [`ForwardedAction`] is the row that leader applies; [`Verdict`] is its
//! engine's answer, stored beside the row in the same transaction as the incident change, and
//! turned back into the same HTTP answer on the posting instance.

use super::{Action, Incident};

/// A forwarded action as the owning leader reads it (`forwarded_actions`, migration 0002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedAction {
    /// The row id.
    pub id: i64,
    /// The incident acted on.
    pub incident_id: String,
    /// The action.
    pub action: Action,
    /// The actor the posting instance authenticated (`station:ms-1`, `dispatcher:duty`).
    pub actor: String,
    /// The note, composed and bounded by the posting instance.
    pub note: String,
}

/// What the owning leader's engine answered to a forwarded action.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Applied (or a repeat that changed nothing): the incident as it now is.
    Applied(Box<Incident>),
    /// No such incident (the reason as the API words it).
    NotFound(String),
    /// The lifecycle forbids the action (the transition error's text).
    Conflict(String),
    /// The owning engine had stopped.
    Unavailable(String),
    /// The owning engine failed (the detail stays in its log).
    Internal(String),
}

impl Verdict {
    /// The stored `result_code`.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Applied(_) => "ok",
            Verdict::NotFound(_) => "not_found",
            Verdict::Conflict(_) => "conflict",
            Verdict::Unavailable(_) => "unavailable",
            Verdict::Internal(_) => "internal",
        }
    }

    /// The stored `result_reason` (empty when applied).
    pub fn reason(&self) -> &str {
        match self {
            Verdict::Applied(_) => "",
            Verdict::NotFound(r) | Verdict::Conflict(r) | Verdict::Unavailable(r) | Verdict::Internal(r) => r,
        }
    }

    /// The stored `result_incident` (JSON), when applied.
    pub fn incident_json(&self) -> Result<Option<String>, serde_json::Error> {
        match self {
            Verdict::Applied(inc) => serde_json::to_string(inc).map(Some),
            _ => Ok(None),
        }
    }

    /// The verdict of stored columns; why not when they do not make one.
    pub fn decode(code: &str, reason: &str, incident: Option<&str>) -> Result<Verdict, String> {
        let reason = reason.to_owned();
        match code {
            "ok" => {
                let json = incident.ok_or("result_code ok without result_incident")?;
                serde_json::from_str(json)
                    .map(|i| Verdict::Applied(Box::new(i)))
                    .map_err(|e| format!("result_incident: {e}"))
            }
            "not_found" => Ok(Verdict::NotFound(reason)),
            "conflict" => Ok(Verdict::Conflict(reason)),
            "unavailable" => Ok(Verdict::Unavailable(reason)),
            "internal" => Ok(Verdict::Internal(reason)),
            other => Err(format!("unknown result_code `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_decodes_from_the_columns_it_is_stored_as() {
        for v in [
            Verdict::NotFound("no incident INC-1".into()),
            Verdict::Conflict("cannot ack a resolved fire".into()),
            Verdict::Unavailable("the alert engine has stopped".into()),
            Verdict::Internal("store".into()),
        ] {
            let json = v.incident_json().expect("encodes");
            assert_eq!(Verdict::decode(v.code(), v.reason(), json.as_deref()), Ok(v.clone()));
        }
        assert!(Verdict::decode("ok", "", None).is_err(), "applied without the incident");
        assert!(Verdict::decode("maybe", "", None).is_err());
    }
}
