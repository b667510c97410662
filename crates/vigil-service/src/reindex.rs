//! Reindexing: recompute the search index rows of every current resource with the search
//! engine's present definitions (after the registry changed, e.g. custom SearchParameter
//! resources were added), without writing new versions.

use crate::{FhirService, ServiceError};
use serde_json::Value;

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

impl FhirService {
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
            let (done, skipped) = self.run_unit(|tx| {
                let (mut done, mut skipped) = (0u64, 0u64);
                for (version, index) in rows {
                    let unchanged = tx
                        .current(&version.resource_type, &version.id)?
                        .is_some_and(|current| {
                            current.meta.version_id == version.meta.version_id
                                && !current.meta.deleted
                        });
                    if unchanged && tx.replace_index(&version.resource_type, &version.id, index)? {
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
