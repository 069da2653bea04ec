//! Eviction policy: which tracks to remove, as a pure function of the index and the limits.
//!
//! Tracks (with all their variants) are removed, never single chunks: first every track not
//! accessed for longer than the time-to-live, then least recently used tracks until the warm
//! files fit the byte budget and the track count fits the cap. Pinned tracks (the one playing
//! and the next in the queue) are never removed; the store does not create a file that could
//! only fit by removing them (that variant plays from decode-on-demand instead).
//!
//! Runs on: whichever thread calls into the store (control or filler), inside its lock.

use std::time::Duration;

use crate::chunk::TrackId;

/// What the policy needs to know about one track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The track.
    pub track: TrackId,
    /// Bytes of its warm files.
    pub bytes: u64,
    /// Last access, ms since the Unix epoch.
    pub last_access_ms: u64,
    /// Access sequence number (orders accesses within one millisecond).
    pub last_access_seq: u64,
    /// Never evict it.
    pub pinned: bool,
}

/// The limits to keep to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Byte budget for the warm files.
    pub budget_bytes: u64,
    /// Track cap.
    pub max_tracks: usize,
    /// Time-to-live since the last access.
    pub ttl: Duration,
}

/// The tracks to evict, in the order to evict them.
pub fn plan(candidates: &[Candidate], now_ms: u64, limits: &Limits) -> Vec<TrackId> {
    let ttl_ms = u64::try_from(limits.ttl.as_millis()).unwrap_or(u64::MAX);
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by_key(|c| (c.last_access_ms, c.last_access_seq, c.track));
    let mut evict = Vec::new();
    let mut kept = Vec::new();
    for c in order {
        if !c.pinned && now_ms.saturating_sub(c.last_access_ms) > ttl_ms {
            evict.push(c.track);
        } else {
            kept.push(c);
        }
    }
    let mut bytes: u64 = kept.iter().map(|c| c.bytes).sum();
    let mut count = kept.len();
    for c in kept {
        if bytes <= limits.budget_bytes && count <= limits.max_tracks {
            break;
        }
        if c.pinned {
            continue;
        }
        evict.push(c.track);
        bytes -= c.bytes;
        count -= 1;
    }
    evict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u64, bytes: u64, at: u64, pinned: bool) -> Candidate {
        Candidate {
            track: TrackId(id),
            bytes,
            last_access_ms: at,
            last_access_seq: 0,
            pinned,
        }
    }

    const DAY: u64 = 86_400_000;

    fn limits(budget: u64, max: usize) -> Limits {
        Limits {
            budget_bytes: budget,
            max_tracks: max,
            ttl: Duration::from_millis(30 * DAY),
        }
    }

    #[test]
    fn expired_first_then_least_recently_used_skipping_pins() {
        let now = 100 * DAY;
        let cs = [
            c(1, 10, now - 40 * DAY, false), // expired
            c(2, 10, now - 50 * DAY, true),  // expired but pinned
            c(3, 10, now - 3, false),
            c(4, 10, now - 5, true),
            c(5, 10, now - 4, false),
            c(6, 10, now - 1, false),
        ];
        assert_eq!(plan(&cs, now, &limits(1000, 100)), vec![TrackId(1)]);
        // 50 bytes kept after expiry; a 30-byte budget removes the two oldest unpinned.
        assert_eq!(
            plan(&cs, now, &limits(30, 100)),
            vec![TrackId(1), TrackId(5), TrackId(3)]
        );
        assert_eq!(
            plan(&cs, now, &limits(1000, 3)),
            vec![TrackId(1), TrackId(5), TrackId(3)]
        );
        // Only pins left: over budget, but nothing more to evict.
        assert_eq!(
            plan(&cs, now, &limits(0, 0)),
            vec![TrackId(1), TrackId(5), TrackId(3), TrackId(6)]
        );
    }

    #[test]
    fn sequence_breaks_ties_within_a_millisecond() {
        let mut a = c(9, 10, 5, false);
        a.last_access_seq = 2;
        let mut b = c(1, 10, 5, false);
        b.last_access_seq = 3;
        assert_eq!(plan(&[b, a], 5, &limits(10, 10)), vec![TrackId(9)]);
    }
}
