//! One module per subcommand.

pub mod bench;
pub mod demo;
pub mod fhirpath;
pub mod migrate;
pub mod serve;

/// The search engine the service writes index rows and matches criteria with.
pub fn search_engine() -> vigil_search::SearchEngine {
    vigil_search::SearchEngine::r4()
}
