//! The audit trail's hash chain: each stored event carries
//! `hash = SHA-256(previous hash ‖ "\n" ‖ body)`, where `body` is the event's
//! JSON exactly as stored, and the cutover's state record carries the hash
//! of its newest event (the head), written in the same transaction.
//!
//! What that shows: an event changed, removed, reordered or inserted after
//! the fact breaks the chain at that event, and a trail cut short or rewritten
//! from some point on no longer ends at the recorded head. What it cannot
//! show: someone who can write the store may rewrite the whole trail and the
//! head together. Anchoring the head outside the store (a log sink, a ticket)
//! closes that; `cutover history ID --verify` prints the head for it.

use sha2::{Digest, Sha256};

/// The chain's starting point: the "previous hash" of a cutover's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored event as the chain sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub version: u64,
    pub index: u16,
    /// The event's JSON text, exactly as stored.
    pub body: String,
    /// The hash stored with it.
    pub hash: String,
}

/// A cutover's trail as stored: its events in `(version, index)` order and
/// the head its state record names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trail {
    pub head: String,
    pub records: Vec<Record>,
}

/// Whether an event at `place` (version, index) may follow one at
/// `previous` in a trail: the first is (1, 0), each next one the next index
/// or the next version's first. A trail where every event follows has no
/// hole and no repeat.
pub fn follows(previous: Option<(u64, u16)>, place: (u64, u16)) -> bool {
    match previous {
        None => place == (1, 0),
        Some((version, index)) => {
            index.checked_add(1).map(|next| (version, next)) == Some(place) || place == (version + 1, 0)
        }
    }
}

/// The hash of an event whose body is `body`, following `previous`.
pub fn link(previous: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_bytes());
    hex(&hasher.finalize())
}

/// SHA-256 of `bytes`, in lower-case hex (a plan's fingerprint).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// Hashes `bodies` in order after `previous`: what a store writes with a
/// commit's events. Returns each event's hash; the last is the new head.
pub fn seal<'a>(previous: &str, bodies: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut head = previous.to_owned();
    bodies
        .into_iter()
        .map(|body| {
            head = link(&head, body);
            head.clone()
        })
        .collect()
}

/// Where a trail stops adding up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("event {version}.{index} does not match its hash: it was changed, or an event before it was removed or inserted")]
    Event { version: u64, index: u16 },
    #[error("the trail ends at {found} but the cutover's state names {head} as its last event: events were removed or rewritten")]
    Head { head: String, found: String },
}

/// Checks every link and the head. Returns how many events were checked.
pub fn verify(trail: &Trail) -> Result<usize, Broken> {
    let mut previous = GENESIS.to_owned();
    for record in &trail.records {
        let expected = link(&previous, &record.body);
        if expected != record.hash {
            return Err(Broken::Event { version: record.version, index: record.index });
        }
        previous = expected;
    }
    if previous != trail.head {
        return Err(Broken::Head { head: trail.head.clone(), found: previous });
    }
    Ok(trail.records.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_follows_the_next_index_or_the_next_versions_first() {
        assert!(follows(None, (1, 0)));
        assert!(!follows(None, (2, 0)), "a trail starts at 1.0");
        assert!(follows(Some((3, 1)), (3, 2)) && follows(Some((3, 1)), (4, 0)));
        assert!(!follows(Some((3, 1)), (3, 1)), "a repeat");
        assert!(!follows(Some((3, 1)), (5, 0)) && !follows(Some((3, 1)), (4, 1)), "a hole");
        assert!(!follows(Some((3, u16::MAX)), (3, 0)), "no wrap");
    }

    fn trail(bodies: &[&str]) -> Trail {
        let hashes = seal(GENESIS, bodies.iter().copied());
        let records = bodies
            .iter()
            .zip(&hashes)
            .enumerate()
            .map(|(i, (body, hash))| Record {
                version: i as u64 + 1,
                index: 0,
                body: (*body).into(),
                hash: hash.clone(),
            })
            .collect();
        Trail { head: hashes.last().cloned().unwrap_or_else(|| GENESIS.into()), records }
    }

    #[test]
    fn the_hash_is_sha256_of_previous_newline_body() {
        // Independently: printf '%s\n%s' "$GENESIS" '{"a":1}' | sha256sum
        assert_eq!(link(GENESIS, r#"{"a":1}"#), "f21735afd2cd6af4fc5804b0045cebfd545aef8396d29d030c39cb8880b45b7f");
    }

    #[test]
    fn an_untouched_trail_verifies() {
        assert_eq!(verify(&trail(&["a", "b", "c"])), Ok(3));
        assert_eq!(verify(&trail(&[])), Ok(0));
    }

    #[test]
    fn a_changed_event_breaks_the_chain_where_it_was_changed() {
        let mut t = trail(&["a", "b", "c"]);
        t.records[1].body = "B".into();
        assert_eq!(verify(&t), Err(Broken::Event { version: 2, index: 0 }));
    }

    #[test]
    fn a_removed_event_breaks_the_chain_after_it() {
        let mut t = trail(&["a", "b", "c"]);
        t.records.remove(1);
        assert_eq!(verify(&t), Err(Broken::Event { version: 3, index: 0 }));
    }

    #[test]
    fn a_trail_cut_short_misses_its_head() {
        let mut t = trail(&["a", "b", "c"]);
        t.records.pop();
        assert!(matches!(verify(&t), Err(Broken::Head { .. })));
    }
}
