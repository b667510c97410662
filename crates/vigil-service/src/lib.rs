//! The one door between callers (REST, ingest, CDS, web, CLI) and the store.
