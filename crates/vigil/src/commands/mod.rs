//! One module per subcommand.

pub mod audit;
pub mod bench;
pub mod client;
pub mod demo;
pub mod fhirpath;
pub mod hl7;
pub mod import;
pub mod migrate;
pub mod reindex;
pub mod serve;
pub mod user;
