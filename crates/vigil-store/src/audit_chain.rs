//! The audit log's hash chain: how an entry's hash is computed, and the verifier that walks
//! the log and names the first entry that does not fit.
//!
//! Each entry stores `prev_hash` (the hash of the entry before it, [`GENESIS`] for the first)
//! and `hash` = SHA-256 over a canonical encoding of its own fields and `prev_hash`
//! ([`entry_hash`]). Every backend computes them inside its serialized commit point (the
//! SQLite writer holds the only write transaction), so two units can never chain onto the same
//! predecessor. Positions are contiguous (1, 2, 3, ...), and the newest entry's position and
//! hash are kept as the chain head ([`crate::AuditHead`]) in the same commit, so removing the
//! newest entries is detected as well as altering, removing or reordering any other.
//!
//! The canonical encoding is a domain tag followed by each field as an 8-byte big-endian length
//! and its UTF-8 bytes, in a fixed order: position, recorded time (decimal), request id,
//! agent, action, outcome, entity, event, previous hash. Lengths make it unambiguous (no
//! separator can be forged inside a field).
//!
//! What the chain cannot stop: someone with raw write access to the database can rewrite the
//! whole tail and recompute every hash and the head, or truncate the log and the head
//! together. Only a copy of the head kept outside the database (`vigil audit verify` prints
//! it for the operator to record) shows that.

use sha2::{Digest, Sha256};

use crate::{AuditEntry, AuditHead, ChangeLog, StoreError};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"vigil-audit-v1";

/// The fields an entry's hash covers.
#[derive(Debug, Clone, Copy)]
pub struct HashedFields<'a> {
    /// Position in the log.
    pub seq: u64,
    /// Recorded time, microseconds since the Unix epoch.
    pub recorded_micros: i64,
    /// Request id.
    pub request_id: &'a str,
    /// Agent.
    pub agent: &'a str,
    /// Action.
    pub action: &'a str,
    /// Outcome.
    pub outcome: &'a str,
    /// Entity text.
    pub entity: &'a str,
    /// The event JSON.
    pub event: &'a str,
}

impl<'a> HashedFields<'a> {
    /// The hashed fields of a stored entry.
    pub fn of(entry: &'a AuditEntry) -> Self {
        let record = &entry.record;
        HashedFields {
            seq: entry.seq,
            recorded_micros: record.recorded_micros,
            request_id: &record.request_id,
            agent: &record.agent,
            action: &record.action,
            outcome: &record.outcome,
            entity: &record.entity,
            event: &record.event,
        }
    }
}

/// The hash of an entry (lower-case hex SHA-256) given the previous entry's hash.
pub fn entry_hash(fields: &HashedFields<'_>, prev_hash: &str) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(DOMAIN);
    field(fields.seq.to_string().as_bytes());
    field(fields.recorded_micros.to_string().as_bytes());
    field(fields.request_id.as_bytes());
    field(fields.agent.as_bytes());
    field(fields.action.as_bytes());
    field(fields.outcome.as_bytes());
    field(fields.entity.as_bytes());
    field(fields.event.as_bytes());
    field(prev_hash.as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The first entry that does not fit the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The position of the first broken (or missing) entry.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit record {} is broken: {}", self.seq, self.reason)
    }
}

/// An intact chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// How many entries it holds.
    pub count: u64,
    /// The newest entry (`None` for an empty log).
    pub head: Option<AuditHead>,
}

/// Walks the log oldest first: feed every entry to [`ChainVerifier::push`] in position order,
/// then call [`ChainVerifier::finish`] with the recorded head.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    count: u64,
    last_seq: u64,
    last_hash: String,
    anchor: Option<AuditHead>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            count: 0,
            last_seq: 0,
            last_hash: GENESIS.to_owned(),
            anchor: None,
        }
    }
}

impl ChainVerifier {
    /// A verifier at the start of the log.
    pub fn new() -> Self {
        ChainVerifier::default()
    }

    /// A verifier that also requires the entry at `anchor.seq` to have `anchor.hash`: a head
    /// recorded outside the database earlier, which any later log must extend (this catches a
    /// rewritten or truncated tail whose hashes and head were recomputed).
    pub fn with_anchor(anchor: AuditHead) -> Self {
        ChainVerifier {
            anchor: Some(anchor),
            ..ChainVerifier::default()
        }
    }

    /// Checks the next entry: its position follows the previous one, it names the previous
    /// hash, and its own hash matches its fields.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        let expected = self.last_seq + 1;
        if entry.seq != expected {
            return Err(ChainBreak {
                seq: expected,
                reason: format!(
                    "it is missing (the next record present is {}): records were removed or \
                     reordered",
                    entry.seq
                ),
            });
        }
        let broken = |reason: &str| ChainBreak {
            seq: entry.seq,
            reason: reason.to_owned(),
        };
        let (Some(prev_hash), Some(hash)) = (&entry.prev_hash, &entry.hash) else {
            return Err(broken(
                "it carries no hash (written before the chain existed)",
            ));
        };
        if *prev_hash != self.last_hash {
            return Err(broken(if entry.seq == 1 {
                "its previous hash is not the chain's start: records before it were removed"
            } else {
                "its previous hash does not match the record before it: a record was removed, \
                 replaced or reordered"
            }));
        }
        if entry_hash(&HashedFields::of(entry), prev_hash) != *hash {
            return Err(broken(
                "its content does not match its hash: it was altered",
            ));
        }
        if let Some(anchor) = self.anchor.as_ref().filter(|a| a.seq == entry.seq)
            && anchor.hash != *hash
        {
            return Err(broken(
                "it does not match the head recorded outside the database: it or a record \
                 before it was rewritten",
            ));
        }
        self.count += 1;
        self.last_seq = entry.seq;
        self.last_hash = hash.clone();
        Ok(())
    }

    /// Checks the end of the log against the head recorded with the newest entry.
    pub fn finish(self, head: Option<&AuditHead>) -> Result<ChainSummary, ChainBreak> {
        if let Some(anchor) = self.anchor.as_ref().filter(|a| a.seq > self.last_seq) {
            return Err(ChainBreak {
                seq: self.last_seq + 1,
                reason: format!(
                    "it is missing: the head recorded outside the database is record {}, the \
                     log ends at {}",
                    anchor.seq, self.last_seq
                ),
            });
        }
        match head {
            None if self.count == 0 => Ok(ChainSummary {
                count: 0,
                head: None,
            }),
            None => Err(ChainBreak {
                seq: self.last_seq,
                reason: "the chain head is missing from the database".to_owned(),
            }),
            Some(head) if head.seq > self.last_seq => Err(ChainBreak {
                seq: self.last_seq + 1,
                reason: format!(
                    "it is missing: the chain head records {} entries, the log ends at {}",
                    head.seq, self.last_seq
                ),
            }),
            Some(head) if head.seq < self.last_seq || head.hash != self.last_hash => {
                Err(ChainBreak {
                    seq: head.seq.min(self.last_seq),
                    reason: "it does not match the chain head recorded with it".to_owned(),
                })
            }
            Some(head) => Ok(ChainSummary {
                count: self.count,
                head: Some(head.clone()),
            }),
        }
    }
}

/// Entries read per page by [`verify`].
const VERIFY_PAGE: usize = 1000;

/// Reads the whole log of `log` oldest first and checks it against its recorded head: the
/// outer error is a storage fault, the inner one the first broken entry.
///
/// The head is read before the entries: an entry appended while verifying lies beyond it and
/// is not checked (the next run checks it), and never looks like tampering.
///
/// With `anchor` (a head printed by an earlier run and kept elsewhere), the entry at its
/// position must still carry its hash.
pub fn verify(
    log: &dyn ChangeLog,
    anchor: Option<AuditHead>,
) -> Result<Result<ChainSummary, ChainBreak>, StoreError> {
    let head = log.audit_head()?;
    let end = head.as_ref().map_or(0, |head| head.seq);
    let mut verifier = anchor.map_or_else(ChainVerifier::new, ChainVerifier::with_anchor);
    let mut after = 0;
    loop {
        let page = log.audit_after(after, VERIFY_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in page
            .iter()
            .filter(|entry| entry.seq <= end || head.is_none())
        {
            if let Err(broken) = verifier.push(entry) {
                return Ok(Err(broken));
            }
        }
        if after >= end && head.is_some() {
            break;
        }
    }
    Ok(verifier.finish(head.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditRecord;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let record = AuditRecord {
                    recorded_micros: seq as i64 * 1000,
                    request_id: format!("r{seq}"),
                    agent: "user:alice".into(),
                    action: "read".into(),
                    outcome: "0".into(),
                    entity: format!("Patient/{seq}"),
                    event: "{}".into(),
                    keys: Vec::new(),
                };
                let mut entry = AuditEntry {
                    seq,
                    record,
                    prev_hash: Some(prev.clone()),
                    hash: None,
                };
                let hash = entry_hash(&HashedFields::of(&entry), &prev);
                entry.hash = Some(hash.clone());
                prev = hash;
                entry
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], head: Option<AuditHead>) -> Result<ChainSummary, ChainBreak> {
        let mut verifier = ChainVerifier::new();
        for entry in entries {
            verifier.push(entry)?;
        }
        verifier.finish(head.as_ref())
    }

    fn head_of(entries: &[AuditEntry]) -> Option<AuditHead> {
        entries.last().map(|e| AuditHead {
            seq: e.seq,
            hash: e.hash.clone().unwrap_or_default(),
        })
    }

    #[test]
    fn hash_is_sha256_hex_and_depends_on_every_field() {
        let entries = chain(1);
        let fields = HashedFields::of(&entries[0]);
        let base = entry_hash(&fields, GENESIS);
        assert_eq!(base.len(), 64);
        assert!(base.bytes().all(|b| b.is_ascii_hexdigit()));
        let variants = [
            HashedFields { seq: 2, ..fields },
            HashedFields {
                recorded_micros: 1,
                ..fields
            },
            HashedFields {
                request_id: "x",
                ..fields
            },
            HashedFields {
                agent: "x",
                ..fields
            },
            HashedFields {
                action: "x",
                ..fields
            },
            HashedFields {
                outcome: "4",
                ..fields
            },
            HashedFields {
                entity: "x",
                ..fields
            },
            HashedFields {
                event: "x",
                ..fields
            },
        ];
        for variant in variants {
            assert_ne!(entry_hash(&variant, GENESIS), base, "{variant:?}");
        }
        assert_ne!(entry_hash(&fields, "1"), base);
        // Length prefixes: moving bytes between fields changes the hash.
        let a = HashedFields {
            agent: "ab",
            action: "c",
            ..fields
        };
        let b = HashedFields {
            agent: "a",
            action: "bc",
            ..fields
        };
        assert_ne!(entry_hash(&a, GENESIS), entry_hash(&b, GENESIS));
    }

    #[test]
    fn intact_chain_verifies() {
        let entries = chain(5);
        let summary = verify(&entries, head_of(&entries)).expect("intact");
        assert_eq!(summary.count, 5);
        assert_eq!(summary.head, head_of(&entries));
        assert_eq!(verify(&[], None).expect("empty").count, 0);
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_broken_entry() {
        let entries = chain(5);
        let head = head_of(&entries);
        let mut altered = entries.clone();
        altered[2].record.event = "{\"x\":1}".into();
        assert_eq!(verify(&altered, head.clone()).unwrap_err().seq, 3);

        let mut middle = entries.clone();
        middle.remove(2);
        assert_eq!(verify(&middle, head.clone()).unwrap_err().seq, 3);

        let first = entries[1..].to_vec();
        assert_eq!(verify(&first, head.clone()).unwrap_err().seq, 1);

        let last = entries[..4].to_vec();
        assert_eq!(verify(&last, head.clone()).unwrap_err().seq, 5);
        // Without the head, the last removal is still caught by a missing or stale head.
        assert!(verify(&last, None).is_err());

        // Swapping the content of two entries (positions kept).
        let mut swapped = entries.clone();
        let (a, b) = (swapped[1].record.clone(), swapped[2].record.clone());
        swapped[1].record = b;
        swapped[2].record = a;
        assert_eq!(verify(&swapped, head.clone()).unwrap_err().seq, 2);

        // A tail rewritten with recomputed hashes and head passes alone, but not against a head
        // kept outside.
        let mut rewritten = entries.clone();
        rewritten.truncate(3);
        let rewritten_head = head_of(&rewritten);
        assert!(verify(&rewritten, rewritten_head.clone()).is_ok());
        let outside = head_of(&entries).unwrap();
        let mut anchored = ChainVerifier::with_anchor(outside.clone());
        for entry in &rewritten {
            anchored.push(entry).unwrap();
        }
        assert_eq!(anchored.finish(rewritten_head.as_ref()).unwrap_err().seq, 4);
        let mut forged = entries.clone();
        forged[4].record.event = "{\"forged\":true}".into();
        forged[4].hash = Some(entry_hash(
            &HashedFields::of(&forged[4]),
            forged[4].prev_hash.as_deref().unwrap(),
        ));
        let mut anchored = ChainVerifier::with_anchor(outside);
        let error = forged
            .iter()
            .try_for_each(|e| anchored.push(e))
            .unwrap_err();
        assert_eq!(error.seq, 5);

        // Renumbered to close the gap after a removal.
        let mut renumbered = middle.clone();
        for (i, entry) in renumbered.iter_mut().enumerate() {
            entry.seq = i as u64 + 1;
        }
        assert_eq!(verify(&renumbered, head).unwrap_err().seq, 3);
    }
}
