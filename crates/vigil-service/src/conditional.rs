//! The one conditional resolver: none / one / many for conditional create (`If-None-Exist`),
//! update, patch, delete and conditional references (`Patient?identifier=...`), on every path
//! (REST, transaction and batch entries, `vigil import`).
//!
//! Resolution ([`Unit::resolve`] inside a unit of work, so the answer cannot change before the
//! write; [`FhirService::resolve_committed`] against committed data, for the references of a
//! transaction or an import) gives a [`Resolution`]; [`decide`] maps it, per interaction, to
//! what happens, in one table:
//!
//! | interaction | no match            | one match                                  | several |
//! |-------------|---------------------|--------------------------------------------|---------|
//! | create      | create              | return the match unchanged                 | 412     |
//! | update      | create (body id)    | update the match; body id differing → 400  | 412     |
//! | patch       | 404                 | patch the match                            | 412     |
//! | delete      | nothing             | delete the match                           | 412     |
//! | reference   | 404                 | refer to the match                         | 412     |

use crate::authz::{Access, Action};
use crate::{FhirService, RequestContext, ServiceError, ServiceErrorKind, Unit};
use vigil_model::IssueType;

/// Which conditional interaction is resolving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    /// Conditional create (`If-None-Exist`, `ifNoneExist`).
    Create,
    /// Conditional update (`PUT Type?criteria`).
    Update,
    /// Conditional patch (`PATCH Type?criteria`).
    Patch,
    /// Conditional delete (`DELETE Type?criteria`).
    Delete,
    /// A conditional reference inside a resource (`Patient?identifier=...`).
    Reference,
}

/// How many resources match the criteria.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// None.
    None,
    /// Exactly this one.
    One(String),
    /// More than one.
    Many,
}

/// What a conditional interaction does, decided from its [`Resolution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create a new resource.
    Create,
    /// Act on this existing resource (update, patch, delete, refer to it; for a create,
    /// return it unchanged).
    Existing(String),
    /// Nothing to do (a conditional delete that matched nothing).
    Nothing,
}

/// The table of the module documentation. `body_id` is the id the client put in the
/// resource, if any (only an update compares it).
pub fn decide(
    interaction: Conditional,
    resolution: Resolution,
    body_id: Option<&str>,
    resource_type: &str,
    criteria: &str,
) -> Result<Decision, ServiceError> {
    match (interaction, resolution) {
        (_, Resolution::Many) => Err(ServiceError::new(
            ServiceErrorKind::PreconditionFailed,
            IssueType::MultipleMatches,
            format!("more than one {resource_type} matches the criteria '{criteria}'"),
        )),
        (Conditional::Create | Conditional::Update, Resolution::None) => Ok(Decision::Create),
        (Conditional::Delete, Resolution::None) => Ok(Decision::Nothing),
        (Conditional::Patch | Conditional::Reference, Resolution::None) => {
            Err(ServiceError::not_found(format!(
                "no {resource_type} matches the criteria '{criteria}'; a conditional {} needs exactly one",
                if interaction == Conditional::Patch {
                    "patch"
                } else {
                    "reference"
                }
            )))
        }
        (Conditional::Update, Resolution::One(found))
            if body_id.is_some_and(|body_id| body_id != found) =>
        {
            Err(ServiceError::invalid(
                format!(
                    "the id in the body ('{}') differs from the matching resource's id ('{found}')",
                    body_id.unwrap_or_default()
                ),
                &format!("{resource_type}.id"),
            ))
        }
        (_, Resolution::One(found)) => Ok(Decision::Existing(found)),
    }
}

fn check_criteria(criteria: &str) -> Result<(), ServiceError> {
    if criteria.trim().is_empty() {
        return Err(ServiceError::new(
            ServiceErrorKind::PreconditionFailed,
            IssueType::Processing,
            "a conditional interaction needs search criteria",
        ));
    }
    Ok(())
}

fn resolution(ids: Vec<String>) -> Resolution {
    let mut ids = ids.into_iter();
    match (ids.next(), ids.next()) {
        (None, _) => Resolution::None,
        (Some(id), None) => Resolution::One(id),
        (Some(_), Some(_)) => Resolution::Many,
    }
}

/// `NAME=SYSTEM|VALUE` (or `NAME=VALUE` without a system) as conditional criteria: the token
/// escaped for search (`\ | , $`) and then URL-encoded, so a space, `&`, `+` or `%` in a
/// system or value reaches the search as written.
pub fn token_criteria(name: &str, system: Option<&str>, value: &str) -> String {
    fn escape(text: &str, out: &mut String) {
        for c in text.chars() {
            if matches!(c, '\\' | '|' | ',' | '$') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    let mut token = String::with_capacity(value.len() + system.map_or(0, str::len) + 1);
    if let Some(system) = system {
        escape(system, &mut token);
        token.push('|');
    }
    escape(value, &mut token);
    format!(
        "{name}={}",
        form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    )
}

impl Unit<'_> {
    /// Resolves conditional criteria inside this unit (seeing its own writes). The criteria
    /// are a search of `resource_type`, so the authorizer is asked for [`Action::Search`].
    pub fn resolve(
        &mut self,
        resource_type: &str,
        criteria: &str,
    ) -> Result<Resolution, ServiceError> {
        check_criteria(criteria)?;
        self.allow(&Access::to_type(Action::Search, resource_type))?;
        let ids = self.service.search.matching_ids_in(
            self.tx,
            resource_type,
            criteria,
            2,
            crate::confine::confinement(self.context).as_ref(),
        )?;
        Ok(resolution(ids))
    }

    /// Resolves and decides in one step (see [`decide`]).
    pub fn resolve_for(
        &mut self,
        interaction: Conditional,
        resource_type: &str,
        criteria: &str,
        body_id: Option<&str>,
    ) -> Result<Decision, ServiceError> {
        let found = self.resolve(resource_type, criteria)?;
        decide(interaction, found, body_id, resource_type, criteria)
    }
}

impl FhirService {
    /// Resolves conditional criteria against committed data (conditional references of a
    /// transaction or an import, resolved before their unit of work).
    pub fn resolve_committed(
        &self,
        context: &RequestContext,
        resource_type: &str,
        criteria: &str,
    ) -> Result<Resolution, ServiceError> {
        self.check_type(resource_type)?;
        check_criteria(criteria)?;
        self.allow(context, &Access::to_type(Action::Search, resource_type))?;
        let ids = self.search.matching_ids_confined(
            self.store.as_ref(),
            resource_type,
            criteria,
            2,
            crate::confine::confinement(context).as_ref(),
        )?;
        Ok(resolution(ids))
    }

    /// A conditional reference `resource_type?criteria` as `Type/id` of the one committed
    /// resource it matches.
    pub fn resolve_reference(
        &self,
        context: &RequestContext,
        resource_type: &str,
        criteria: &str,
    ) -> Result<String, ServiceError> {
        let found = self.resolve_committed(context, resource_type, criteria)?;
        match decide(Conditional::Reference, found, None, resource_type, criteria)? {
            Decision::Existing(id) => Ok(format!("{resource_type}/{id}")),
            Decision::Create | Decision::Nothing => Err(ServiceError::internal(
                "a conditional reference decided to create",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module's table, row by row: every interaction × {0, 1, 2 matches} × {body id
    /// absent, equal to the match, different}.
    #[test]
    fn one_table_for_every_conditional_interaction() {
        use Conditional::*;
        let resolutions = [
            Resolution::None,
            Resolution::One("m".to_owned()),
            Resolution::Many,
        ];
        for interaction in [Create, Update, Patch, Delete, Reference] {
            for resolution in &resolutions {
                for body_id in [None, Some("m"), Some("other")] {
                    let decided =
                        decide(interaction, resolution.clone(), body_id, "Patient", "x=1");
                    let expected: Result<Decision, (ServiceErrorKind, IssueType)> =
                        match (interaction, resolution, body_id) {
                            (_, Resolution::Many, _) => Err((
                                ServiceErrorKind::PreconditionFailed,
                                IssueType::MultipleMatches,
                            )),
                            (Create | Update, Resolution::None, _) => Ok(Decision::Create),
                            (Delete, Resolution::None, _) => Ok(Decision::Nothing),
                            (Patch | Reference, Resolution::None, _) => {
                                Err((ServiceErrorKind::NotFound, IssueType::NotFound))
                            }
                            (Update, Resolution::One(_), Some("other")) => {
                                Err((ServiceErrorKind::Invalid, IssueType::Invalid))
                            }
                            (_, Resolution::One(id), _) => Ok(Decision::Existing(id.clone())),
                        };
                    let got = decided.map_err(|e| (e.kind(), e.issues()[0].code));
                    assert_eq!(got, expected, "{interaction:?} {resolution:?} {body_id:?}");
                }
            }
        }
    }

    #[test]
    fn token_criteria_escape_then_encode() {
        assert_eq!(
            token_criteria("identifier", Some("urn:x:GOOD HEALTH"), "a|b&c"),
            "identifier=urn%3Ax%3AGOOD+HEALTH%7Ca%5C%7Cb%26c"
        );
        assert_eq!(token_criteria("identifier", None, "7"), "identifier=7");
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(token_criteria("identifier", Some("s p"), "v,1").as_bytes())
                .into_owned()
                .collect();
        assert_eq!(decoded, [("identifier".to_owned(), "s p|v\\,1".to_owned())]);
    }

    #[test]
    fn empty_criteria_are_refused() {
        assert_eq!(
            check_criteria("  ").map_err(|e| e.kind()),
            Err(ServiceErrorKind::PreconditionFailed)
        );
        assert_eq!(resolution(vec!["a".into(), "b".into()]), Resolution::Many);
    }
}
