//! Search parameters over time: [`FhirService::open`] builds the search engine from the R4
//! definitions plus the SearchParameter resources stored, and reindexing recomputes the index
//! rows of every current resource with the present definitions (after custom SearchParameter
//! resources were added), without writing new versions.

use crate::{FhirService, RequestContext, ServiceConfig, ServiceError};
use serde_json::Value;
use std::sync::Arc;
use vigil_search::{SearchEngine, SearchOptions, SearchParameterRegistry};
use vigil_store::Store;

/// What a reindex did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReindexReport {
    /// Resources whose index rows were rewritten.
    pub reindexed: u64,
    /// Resources skipped because they changed (or were deleted) while the reindex ran: their
    /// writer stored fresh rows already.
    pub skipped: u64,
}

const PAGE: usize = 500;

/// The database setting that switches the full-text index (`on`/`off`; absent is off).
const FULL_TEXT_SETTING: &str = "full-text";

impl FhirService {
    /// A service over `store` whose search engine knows the R4 parameters plus every
    /// SearchParameter resource stored in it (custom parameters take effect at the next
    /// open; [`FhirService::reindex`] fills their index rows for existing data). A stored
    /// SearchParameter the registry cannot use is logged and skipped.
    pub fn open(store: Arc<dyn Store>, config: ServiceConfig) -> Result<Self, ServiceError> {
        let mut registry = SearchParameterRegistry::r4();
        let mut after: Option<(String, String)> = None;
        loop {
            let page = store.scan(
                Some("SearchParameter"),
                after.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
                PAGE,
            )?;
            let Some(last) = page.last() else { break };
            after = Some((last.resource_type.clone(), last.id.clone()));
            for version in &page {
                let added = serde_json::from_str::<Value>(&version.content)
                    .map_err(|e| e.to_string())
                    .and_then(|resource| {
                        registry.add_resource(&resource).map_err(|e| e.to_string())
                    });
                if let Err(problem) = added {
                    tracing::warn!(id = %version.id, %problem, "stored SearchParameter not usable; skipped");
                }
            }
            if page.len() < PAGE {
                break;
            }
        }
        let options = SearchOptions {
            full_text: store.setting(FULL_TEXT_SETTING)?.as_deref() == Some("on"),
            ..SearchOptions::default()
        };
        let search = SearchEngine::new(registry, options);
        Ok(FhirService::new(store, Arc::new(search), config))
    }

    /// Whether this service keeps the full-text index behind `_content`/`_text`.
    pub fn full_text(&self) -> bool {
        self.search.options().full_text
    }

    /// Switches the database's full-text index on or off for every process that opens it
    /// from now on (the `full-text` setting). This service keeps its present engine: open a
    /// new one ([`FhirService::open`]) and [`FhirService::reindex`] to build or drop the
    /// full-text rows of the resources already stored, as `vigil reindex --full-text` does.
    pub fn set_full_text(&self, context: &RequestContext, on: bool) -> Result<(), ServiceError> {
        let value = if on { "on" } else { "off" };
        self.run_unit_as(&crate::feed::change_context(context), |tx| {
            Ok(tx.set_setting(FULL_TEXT_SETTING, value)?)
        })
    }

    /// Rewrites the index rows of every current resource, a page at a time: rows are extracted
    /// outside the writer lock, then one unit of work per page replaces them for the resources
    /// whose version did not change meanwhile. `progress` gets the running count.
    pub fn reindex(&self, mut progress: impl FnMut(u64)) -> Result<ReindexReport, ServiceError> {
        let mut report = ReindexReport::default();
        let mut after: Option<(String, String)> = None;
        loop {
            let page = self.store.scan(
                None,
                after.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
                PAGE,
            )?;
            let Some(last) = page.last() else { break };
            after = Some((last.resource_type.clone(), last.id.clone()));
            let mut rows = Vec::with_capacity(page.len());
            for version in &page {
                let resource: Value = serde_json::from_str(&version.content).map_err(|e| {
                    ServiceError::internal(format!(
                        "stored {}/{} unreadable: {e}",
                        version.resource_type, version.id
                    ))
                })?;
                rows.push((
                    version,
                    self.search.index_rows(&version.resource_type, &resource)?,
                ));
            }
            let (done, skipped) =
                self.run_unit_as(&vigil_store::ChangeContext::system("reindex"), |tx| {
                    let (mut done, mut skipped) = (0u64, 0u64);
                    for (version, index) in rows {
                        let unchanged = tx
                            .current(&version.resource_type, &version.id)?
                            .is_some_and(|current| {
                                current.meta.version_id == version.meta.version_id
                                    && !current.meta.deleted
                            });
                        if unchanged
                            && tx.replace_index(&version.resource_type, &version.id, index)?
                        {
                            done += 1;
                        } else {
                            skipped += 1;
                        }
                    }
                    Ok((done, skipped))
                })?;
            report.reindexed += done;
            report.skipped += skipped;
            progress(report.reindexed + report.skipped);
            if page.len() < PAGE {
                break;
            }
        }
        Ok(report)
    }
}
