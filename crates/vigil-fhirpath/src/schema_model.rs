//! [`TypeModel`] over `vigil-model`'s generated R4 schema: element types by JSON key (one hash
//! lookup), choice elements (`value[x]`), backbone types named by path, and the type hierarchy.

use crate::model::{ElementType, TypeModel};
use vigil_model::schema::{Schema, TypeKind};

/// The R4 type model from the generated schema.
#[derive(Debug, Clone, Copy)]
pub struct SchemaModel {
    schema: &'static Schema,
}

impl SchemaModel {
    /// The model over the embedded R4 schema.
    pub fn r4() -> Self {
        SchemaModel {
            schema: vigil_model::schema::r4(),
        }
    }
}

impl TypeModel for SchemaModel {
    fn element(&self, parent: &str, name: &str) -> Option<ElementType> {
        let ty = self.schema.type_def(parent)?;
        if let Some((element, code)) = ty.property(name) {
            return Some(if element.is_choice {
                ElementType::ChoiceVariant
            } else {
                ElementType::Single(code)
            });
        }
        let is_choice = ty
            .elements
            .iter()
            .any(|e| e.is_choice && e.name.strip_suffix("[x]") == Some(name));
        Some(if is_choice {
            ElementType::Choice
        } else {
            ElementType::Absent
        })
    }

    fn choice_types(&self, parent: &str, name: &str) -> Vec<&'static str> {
        let Some(ty) = self.schema.type_def(parent) else {
            return Vec::new();
        };
        ty.elements
            .iter()
            .filter(|e| e.is_choice && e.name.strip_suffix("[x]") == Some(name))
            .flat_map(|e| e.types.iter().map(|t| t.code.as_str()))
            .collect()
    }

    fn base_type(&self, type_name: &str) -> Option<&'static str> {
        self.schema.type_def(type_name)?.base.as_deref()
    }

    fn fhir_type(&self, name: &str) -> Option<&'static str> {
        self.schema.type_def(name).map(|t| t.name.as_str())
    }

    fn is_resource(&self, type_name: &str) -> bool {
        self.schema
            .type_def(type_name)
            .is_some_and(|t| t.kind == TypeKind::Resource)
    }
}
