//! Which tracks of a warming request the cache can keep, as a pure function of their sizes,
//! when they were last used and the limits — the counterpart of [`crate::warm::evict`] for a
//! run that adds many tracks at once (`hearth cache warm DIR`).
//!
//! Warming a selection larger than the budget track after track would have each new file
//! evict the least recently used track — one warmed a moment before in the same run — and end
//! with the cache holding an arbitrary tail of the selection. Choosing up front what fits, and
//! holding it while it is warmed ([`crate::WarmStore::hold`]), keeps the whole of that choice.
//!
//! Runs on: whichever thread plans the run (pure: no locks, no I/O).

/// What the choice needs to know about one requested track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Bytes its warm files will take once warm (those already cached included).
    pub bytes: u64,
    /// When it was last used (played or warmed), as the index orders accesses
    /// (`(ms since the Unix epoch, sequence)`); `None` if the cache has never seen it.
    pub last_used: Option<(u64, u64)>,
}

/// The choice: indices into the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    /// The tracks to warm, in the order to warm them.
    pub chosen: Vec<usize>,
    /// The tracks that do not fit, in the order they were considered.
    pub left_out: Vec<usize>,
}

/// Chooses what to warm out of `wanted` within `budget_bytes` and `max_tracks`.
///
/// Order: the tracks used before, most recently first (what was played lately is what the
/// user is most likely to play again), then the others in the order given (an album's or a
/// playlist's own order). Each track is taken if it still fits beside those taken before it;
/// one that does not is left out and the next is tried, so a short track later in the order
/// may still use the room a long one could not.
pub fn choose(wanted: &[Wanted], budget_bytes: u64, max_tracks: usize) -> Fit {
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    // Stable: ties and never-used tracks keep the order given.
    order.sort_by_key(|&i| match wanted[i].last_used {
        Some(at) => (0, std::cmp::Reverse(at)),
        None => (1, std::cmp::Reverse((0, 0))),
    });
    let mut fit = Fit::default();
    let mut bytes = 0u64;
    for i in order {
        let after = bytes.saturating_add(wanted[i].bytes);
        if after <= budget_bytes && fit.chosen.len() < max_tracks {
            bytes = after;
            fit.chosen.push(i);
        } else {
            fit.left_out.push(i);
        }
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(bytes: u64, last_used: Option<u64>) -> Wanted {
        Wanted {
            bytes,
            last_used: last_used.map(|ms| (ms, 0)),
        }
    }

    #[test]
    fn recently_used_first_then_in_order_skipping_what_does_not_fit() {
        let wanted = [
            w(40, None),
            w(30, Some(5)),
            w(50, None),
            w(20, None),
            w(10, Some(9)),
        ];
        // 10 (used at 9) + 30 (used at 5) + 40 = 80; 50 does not fit; 20 does.
        let fit = choose(&wanted, 100, 100);
        assert_eq!(fit.chosen, vec![4, 1, 0, 3]);
        assert_eq!(fit.left_out, vec![2]);
    }

    #[test]
    fn everything_fits_in_the_order_given_when_nothing_was_used() {
        let wanted = [w(1, None), w(2, None), w(3, None)];
        let fit = choose(&wanted, 6, 100);
        assert_eq!(fit.chosen, vec![0, 1, 2]);
        assert!(fit.left_out.is_empty());
    }

    #[test]
    fn the_track_cap_and_a_track_larger_than_the_budget() {
        let wanted = [w(1, None), w(1000, None), w(1, None), w(1, None)];
        let fit = choose(&wanted, 100, 2);
        assert_eq!(fit.chosen, vec![0, 2]);
        assert_eq!(fit.left_out, vec![1, 3]);
        assert_eq!(choose(&[], 0, 0), Fit::default());
    }

    #[test]
    fn sequence_orders_uses_within_a_millisecond() {
        let a = Wanted {
            bytes: 10,
            last_used: Some((7, 1)),
        };
        let b = Wanted {
            bytes: 10,
            last_used: Some((7, 2)),
        };
        assert_eq!(choose(&[a, b], 10, 10).chosen, vec![1]);
    }
}
