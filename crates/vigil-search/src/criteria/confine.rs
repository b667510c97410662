//! Confining a search to one compartment (a patient-context token sees only its patient's
//! compartment, as the R4 CompartmentDefinition defines it).
//!
//! The confinement is part of the query, not a check on its results: the searched resources,
//! and every resource a chain or `_has` looks into, must be in the compartment, so a criterion
//! can never match through another patient's data and paging and totals stay exact. For each
//! type:
//! - the compartment's own type (`Patient`) is confined to the one resource (`_id`);
//! - a type in the compartment is confined by the compartment's reference parameters (the same
//!   criterion as the compartment search `GET /Patient/123/Observation`);
//! - a type outside the compartment (Medication, Organization, Practitioner, ...) holds no
//!   data of a patient and is not confined.

use super::{Criterion, parse};
use crate::error::SearchError;
use crate::query::Confinement;
use std::collections::BTreeSet;

impl Confinement {
    /// A confinement to `compartment/id`.
    pub fn new(compartment: &str, id: &str) -> Self {
        Confinement {
            compartment: compartment.to_owned(),
            id: id.to_owned(),
        }
    }

    /// Whether resources of `resource_type` can hold data of the compartment (its own type, or
    /// a type the CompartmentDefinition lists with parameters).
    pub fn confines(&self, resource_type: &str) -> bool {
        resource_type == self.compartment
            || vigil_model::schema::compartment(&self.compartment)
                .is_some_and(|def| !def.params(resource_type).is_empty())
    }

    /// The criterion keeping resources of `resource_type` in the compartment; `None` when the
    /// type is not confined.
    fn criterion_for(&self, resource_type: &str) -> Result<Option<Criterion>, SearchError> {
        if resource_type == self.compartment {
            return Ok(Some(Criterion::Id(BTreeSet::from([self.id.clone()]))));
        }
        if !self.confines(resource_type) {
            return Ok(None);
        }
        parse::compartment(&self.compartment, &self.id, resource_type).map(Some)
    }

    /// The criterion keeping resources of `types` (every type when empty) in the compartment;
    /// `None` when none of them is confined.
    pub fn criterion(&self, types: &[String]) -> Result<Option<Criterion>, SearchError> {
        let every: Vec<String>;
        let types = if types.is_empty() {
            every = vigil_model::schema::r4()
                .resource_types()
                .map(str::to_owned)
                .collect();
            &every[..]
        } else {
            types
        };
        if let [only] = types {
            return self.criterion_for(only);
        }
        let mut per_type = Vec::with_capacity(types.len());
        let mut any = false;
        for resource_type in types {
            let criterion = self.criterion_for(resource_type)?;
            any |= criterion.is_some();
            per_type.push((resource_type.clone(), criterion.into_iter().collect()));
        }
        Ok(any.then_some(Criterion::PerType(per_type)))
    }

    /// The criteria of a search over `types` with the confinement added at the top and inside
    /// every chain and `_has`.
    pub fn apply(
        &self,
        types: &[String],
        criteria: Vec<Criterion>,
    ) -> Result<Vec<Criterion>, SearchError> {
        let mut confined = criteria
            .into_iter()
            .map(|criterion| self.nested(criterion))
            .collect::<Result<Vec<_>, _>>()?;
        confined.extend(self.criterion(types)?);
        Ok(confined)
    }

    /// `criterion` with the confinement added to what its chains and `_has` look into.
    fn nested(&self, criterion: Criterion) -> Result<Criterion, SearchError> {
        Ok(match criterion {
            Criterion::Chain {
                code,
                targets,
                inner,
            } => {
                let inner = self.inner(&targets, *inner)?;
                Criterion::Chain {
                    code,
                    targets,
                    inner: Box::new(inner),
                }
            }
            Criterion::Has {
                source_type,
                reference,
                inner,
            } => {
                let inner = self.inner(std::slice::from_ref(&source_type), *inner)?;
                Criterion::Has {
                    source_type,
                    reference,
                    inner: Box::new(inner),
                }
            }
            Criterion::All(list) => Criterion::All(
                list.into_iter()
                    .map(|c| self.nested(c))
                    .collect::<Result<_, _>>()?,
            ),
            other => other,
        })
    }

    fn inner(&self, types: &[String], inner: Criterion) -> Result<Criterion, SearchError> {
        let inner = self.nested(inner)?;
        Ok(match self.criterion(types)? {
            Some(confinement) => Criterion::All(vec![inner, confinement]),
            None => inner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn each_kind_of_type_is_confined_its_own_way() {
        let confinement = Confinement::new("Patient", "p1");
        assert_eq!(
            confinement.criterion(&types(&["Patient"])).unwrap(),
            Some(Criterion::Id(BTreeSet::from(["p1".to_owned()])))
        );
        let Some(Criterion::Rows(rows)) = confinement.criterion(&types(&["Observation"])).unwrap()
        else {
            panic!("Observation is confined by its compartment parameters");
        };
        assert!(rows.params.contains(&"subject".to_owned()));
        assert!(!rows.negated);
        assert_eq!(
            confinement.criterion(&types(&["Medication"])).unwrap(),
            None
        );
        let Some(Criterion::PerType(per_type)) = confinement
            .criterion(&types(&["Medication", "Observation"]))
            .unwrap()
        else {
            panic!("several types are confined type by type");
        };
        assert_eq!(per_type[0], ("Medication".to_owned(), Vec::new()));
        assert_eq!(per_type[1].0, "Observation");
        assert_eq!(per_type[1].1.len(), 1);
    }

    #[test]
    fn chains_and_has_are_confined_inside() {
        let confinement = Confinement::new("Patient", "p1");
        let chain = Criterion::Chain {
            code: "subject".into(),
            targets: types(&["Patient"]),
            inner: Box::new(Criterion::Has {
                source_type: "Condition".into(),
                reference: "subject".into(),
                inner: Box::new(Criterion::Id(BTreeSet::from(["c1".to_owned()]))),
            }),
        };
        let confined = confinement
            .apply(&types(&["Observation"]), vec![chain])
            .unwrap();
        assert_eq!(confined.len(), 2, "the chain and the top-level confinement");
        let Criterion::Chain { inner, .. } = &confined[0] else {
            panic!("still a chain");
        };
        let Criterion::All(parts) = inner.as_ref() else {
            panic!("the chained Patient is confined");
        };
        assert_eq!(
            parts[1],
            Criterion::Id(BTreeSet::from(["p1".to_owned()])),
            "the chained patient is the patient in context"
        );
        let Criterion::Has { inner, .. } = &parts[0] else {
            panic!("the _has is kept");
        };
        assert!(
            matches!(inner.as_ref(), Criterion::All(parts) if parts.len() == 2),
            "the Conditions looked into are confined too"
        );
    }
}
