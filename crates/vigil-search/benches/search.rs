//! Search benchmark at >= 1M resources (see tools/bench-search): loads the generated NDJSON
//! into a SQLite store once (index rows extracted by the engine, as at write time), then runs
//! ten common clinical queries with varying patients at concurrency 1 and 16 and prints
//! p50/p99 latency and requests per second as a Markdown table, plus the query plan of the
//! slowest query.
//!
//! `VIGIL_BENCH_DATA` (NDJSON), `VIGIL_BENCH_DB` (store directory, reused when loaded),
//! `VIGIL_BENCH_SECONDS` (per query and concurrency, default 5).

use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_search::{SearchEngine, SearchRequest, SearchScope};
use vigil_store::sqlite::{SqliteOptions, SqliteStore};
use vigil_store::{NewVersion, ResourceStore, WriteMethod};

const LAST_UPDATED_MICROS: i64 = 1_600_000_000_000_000;

fn env_path(name: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(name).map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(default)
        },
        Into::into,
    )
}

fn version(engine: &SearchEngine, line: &str) -> Option<NewVersion> {
    let mut resource: Value = serde_json::from_str(line).ok()?;
    resource["meta"]["lastUpdated"] = Value::from("2020-09-13T12:26:40Z");
    let resource_type = resource["resourceType"].as_str()?.to_owned();
    let id = resource["id"].as_str()?.to_owned();
    let index = engine.index_rows(&resource_type, &resource).ok()?;
    Some(NewVersion {
        resource_type,
        id,
        version_id: 1,
        last_updated_micros: LAST_UPDATED_MICROS,
        method: WriteMethod::Create,
        content: resource.to_string(),
        index,
    })
}

/// Resources per unit of work while loading. Small units are faster: the store runs each unit
/// in a savepoint, and closing every statement inside it costs time proportional to what the
/// savepoint has already written (measured: 5,000 per unit loads ~130/s, 250 per unit far faster).
const BATCH: usize = 250;

/// Loads the NDJSON: two threads extract, the caller writes units of [`BATCH`] resources.
fn load(engine: &SearchEngine, store: &SqliteStore, data: &std::path::Path) -> usize {
    let file = std::fs::File::open(data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .collect();
    let started = Instant::now();
    let mut loaded = 0;
    for chunk in lines.chunks(BATCH) {
        let halves = chunk.split_at(chunk.len() / 2);
        let versions: Vec<NewVersion> = std::thread::scope(|scope| {
            let first = scope.spawn(|| {
                halves
                    .0
                    .iter()
                    .filter_map(|l| version(engine, l))
                    .collect::<Vec<_>>()
            });
            let mut second: Vec<NewVersion> =
                halves.1.iter().filter_map(|l| version(engine, l)).collect();
            let mut all = first.join().unwrap_or_default();
            all.append(&mut second);
            all
        });
        loaded += versions.len();
        store
            .write(Box::new(move |tx| {
                for version in versions {
                    tx.put(version)?;
                }
                Ok(())
            }))
            .expect("write");
        if loaded % 100_000 < BATCH {
            eprintln!(
                "loaded {loaded} in {:.0?} ({:.0}/s)",
                started.elapsed(),
                loaded as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!("loaded {loaded} resources in {:.1?}", started.elapsed());
    loaded
}

struct Query {
    name: &'static str,
    resource_type: &'static str,
    /// `{p}` is a patient id, `{f}` its family name, `{i}` its MRN.
    template: &'static str,
}

const QUERIES: [Query; 10] = [
    Query {
        name: "Observation by patient + code",
        resource_type: "Observation",
        template: "patient={p}&code=http://loinc.org|8867-4",
    },
    Query {
        name: "Observation by patient + date range",
        resource_type: "Observation",
        template: "patient={p}&date=ge2018-01-01&date=lt2020-01-01",
    },
    Query {
        name: "Patient by name",
        resource_type: "Patient",
        template: "name={f}",
    },
    Query {
        name: "Patient by identifier",
        resource_type: "Patient",
        template: "identifier={i}",
    },
    Query {
        name: "Patient by birthdate",
        resource_type: "Patient",
        template: "birthdate={b}",
    },
    Query {
        name: "Encounter by patient, sorted by date",
        resource_type: "Encounter",
        template: "patient={p}&_sort=-date",
    },
    Query {
        name: "Encounter by patient + _include",
        resource_type: "Encounter",
        template: "patient={p}&_include=Encounter:service-provider&_include=Encounter:practitioner",
    },
    Query {
        name: "Observation, chain patient.identifier",
        resource_type: "Observation",
        template: "patient.identifier={i}&code=http://loinc.org|29463-7",
    },
    Query {
        name: "Patient _has Condition (diabetes) + name",
        resource_type: "Patient",
        template: "_has:Condition:patient:code=44054006&name={f}",
    },
    Query {
        name: "Condition by patient, active",
        resource_type: "Condition",
        template: "patient={p}&clinical-status=active",
    },
];

#[derive(Clone)]
struct PatientFacts {
    id: String,
    family: String,
    identifier: String,
    birth: String,
}

fn patients(store: &SqliteStore) -> Vec<PatientFacts> {
    let mut out = Vec::new();
    let mut after: Option<(String, String)> = None;
    while out.len() < 400 {
        let page = store
            .scan(
                Some("Patient"),
                after.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
                100,
            )
            .expect("scan");
        let Some(last) = page.last() else { break };
        after = Some((last.resource_type.clone(), last.id.clone()));
        for version in &page {
            let Ok(p) = serde_json::from_str::<Value>(&version.content) else {
                continue;
            };
            let identifier = p["identifier"]
                .as_array()
                .and_then(|ids| ids.iter().find(|i| i["type"]["coding"][0]["code"] == "MR"));
            let (Some(family), Some(identifier), Some(birth)) = (
                p["name"][0]["family"].as_str(),
                identifier,
                p["birthDate"].as_str(),
            ) else {
                continue;
            };
            out.push(PatientFacts {
                id: version.id.clone(),
                family: family.to_owned(),
                identifier: format!(
                    "{}|{}",
                    identifier["system"].as_str().unwrap_or(""),
                    identifier["value"].as_str().unwrap_or("")
                ),
                birth: birth.to_owned(),
            });
        }
    }
    out
}

fn query_string(template: &str, p: &PatientFacts) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    template
        .replace("{p}", &p.id)
        .replace("{f}", &encode(&p.family))
        .replace("{i}", &encode(&p.identifier))
        .replace("{b}", &p.birth)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

/// Runs one query for `seconds` on `threads` threads; (p50, p99, req/s, mean matches).
fn measure(
    engine: &SearchEngine,
    store: &SqliteStore,
    query: &Query,
    people: &[PatientFacts],
    threads: usize,
    seconds: f64,
) -> (Duration, Duration, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut matches = 0;
                    let mut n = t * 7919;
                    while Instant::now() < deadline {
                        let person = &people[n % people.len()];
                        n += 1;
                        let text = query_string(query.template, person);
                        let begin = Instant::now();
                        let request = SearchRequest::from_query(
                            SearchScope::Type(query.resource_type.into()),
                            &text,
                            false,
                        )
                        .expect("request");
                        let result = engine.search(store, &request).expect("search");
                        latencies.push(begin.elapsed());
                        matches += result.matches.len();
                    }
                    (latencies, matches)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all: Vec<Duration> = results
        .iter()
        .flat_map(|(l, _)| l.iter().copied())
        .collect();
    let matches: usize = results.iter().map(|(_, m)| m).sum();
    all.sort();
    let count = all.len().max(1);
    (
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.len() as f64 / elapsed,
        matches as f64 / count as f64,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let data = env_path("VIGIL_BENCH_DATA", "bench-data/search-1m.ndjson");
    let db = env_path("VIGIL_BENCH_DB", "bench-data/search-db");
    if !data.exists() && !db.exists() {
        println!(
            "skipping: no benchmark data at {} (run tools/bench-search/generate.py)",
            data.display()
        );
        return;
    }
    let seconds: f64 = std::env::var("VIGIL_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let engine = Arc::new(SearchEngine::r4());
    std::fs::create_dir_all(&db).expect("db dir");
    {
        // Bulk load with a page cache that holds the indexes (the default 32 MiB makes every
        // batch rewrite pages scattered over the whole index), then reopen with defaults.
        let options = SqliteOptions {
            read_connections: 1,
            cache_size_kib: 6 * 1024 * 1024,
            ..SqliteOptions::default()
        };
        let loader = SqliteStore::open(&db, options).expect("open store");
        let existing = loader
            .query_count("SELECT count(*) FROM resource r", &[])
            .expect("count");
        if existing == 0 {
            load(&engine, &loader, &data);
        }
        loader.close().expect("close");
    }
    let options = SqliteOptions {
        read_connections: 16,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&db, options).expect("open store");
    let total = store
        .query_count("SELECT count(*) FROM resource r WHERE r.deleted = 0", &[])
        .expect("count");
    let people = patients(&store);
    println!(
        "{total} resources; {} patients in the query pool; {seconds} s per query and concurrency\n",
        people.len()
    );
    println!(
        "| query | matches (mean) | c=1 p50 | c=1 p99 | c=1 req/s | c=16 p50 | c=16 p99 | c=16 req/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut slowest = (Duration::ZERO, 0);
    for (at, query) in QUERIES.iter().enumerate() {
        let (p50, p99, rate, matches) = measure(&engine, &store, query, &people, 1, seconds);
        let (p50_16, p99_16, rate_16, _) = measure(&engine, &store, query, &people, 16, seconds);
        if p99 > slowest.0 {
            slowest = (p99, at);
        }
        println!(
            "| {} `{}?{}` | {matches:.1} | {:.2} ms | {:.2} ms | {rate:.0} | {:.2} ms | {:.2} ms | {rate_16:.0} |",
            query.name,
            query.resource_type,
            query.template,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            p50_16.as_secs_f64() * 1e3,
            p99_16.as_secs_f64() * 1e3,
        );
    }
    let query = &QUERIES[slowest.1];
    println!(
        "\nslowest at c=1 by p99: {} (`{}?{}`)",
        query.name, query.resource_type, query.template
    );
    explain(&engine, &db, query, &people[0]);
}

/// Prints the page query of `query` and SQLite's plan for it (same SQLite as the store).
fn explain(engine: &SearchEngine, db: &std::path::Path, query: &Query, person: &PatientFacts) {
    let text = query_string(query.template, person);
    let request =
        SearchRequest::from_query(SearchScope::Type(query.resource_type.into()), &text, false)
            .expect("request");
    let (sql, values) = engine.page_sql(&request).expect("sql");
    println!("\n```sql\n{sql}\n```\n");
    let conn = rusqlite::Connection::open_with_flags(
        db.join("vigil.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let mut statement = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("prepare");
    let mut rows = statement
        .query(rusqlite::params_from_iter(values.iter()))
        .expect("explain");
    println!("```");
    while let Ok(Some(row)) = rows.next() {
        let parent: i64 = row.get(1).unwrap_or_default();
        let detail: String = row.get(3).unwrap_or_default();
        println!("{parent:>4} {detail}");
    }
    println!("```");
}
