//! One module per subcommand.

pub mod bench;
pub mod demo;
pub mod fhirpath;
pub mod import;
pub mod migrate;
pub mod reindex;
pub mod serve;

/// The search engine the service writes index rows and matches criteria with: the R4
/// registry plus every SearchParameter resource stored in the database (custom parameters take
/// effect at the next start; `vigil reindex` fills their index rows for existing data).
pub fn search_engine(store: &dyn vigil_store::Store) -> anyhow::Result<vigil_search::SearchEngine> {
    let mut registry = vigil_search::SearchParameterRegistry::r4();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = store.scan(
            Some("SearchParameter"),
            after.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
            200,
        )?;
        let Some(last) = page.last() else { break };
        after = Some((last.resource_type.clone(), last.id.clone()));
        for version in &page {
            let added = serde_json::from_str::<serde_json::Value>(&version.content)
                .map_err(|e| e.to_string())
                .and_then(|resource| registry.add_resource(&resource).map_err(|e| e.to_string()));
            if let Err(problem) = added {
                tracing::warn!(id = %version.id, %problem, "stored SearchParameter not usable; skipped");
            }
        }
        if page.len() < 200 {
            break;
        }
    }
    Ok(vigil_search::SearchEngine::new(
        registry,
        vigil_search::SearchOptions::default(),
    ))
}
