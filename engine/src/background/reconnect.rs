//! When the output supervisor tries to get back to the device, and when it looks whether the
//! system's default device changed: timing only, so it can be tested without a device.
//!
//! After a loss the engine plays into the null sink (the position keeps advancing) and tries
//! the wanted device again every [`RETRY_PERIOD`] — one attempt per period at most, counted
//! from the start of the previous attempt, and never back to back: an attempt that itself took
//! longer than the period (a sound server slow to answer) is followed by a pause of
//! [`MIN_PAUSE`], so the event pump it shares a thread with keeps running. Constant rather
//! than growing: a device that comes back is heard within one period, however long it was
//! gone, and a failing attempt costs about a millisecond (the backend refuses at once).
//!
//! Runs on: `hearth-events` (the supervisor calls it between pump polls).

use std::time::{Duration, Instant};

/// How often the supervisor tries to reopen a lost device.
pub(crate) const RETRY_PERIOD: Duration = Duration::from_millis(500);
/// The least time between the end of one attempt and the start of the next.
pub(crate) const MIN_PAUSE: Duration = Duration::from_millis(100);
/// How often the supervisor compares the system's default device with the one playing.
pub(crate) const DEFAULT_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// A schedule of attempts at a fixed period.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    period: Duration,
    next: Instant,
    attempts: u32,
}

impl Schedule {
    /// A schedule whose first attempt is due one `period` after `now`.
    pub fn new(now: Instant, period: Duration) -> Self {
        Schedule {
            period,
            next: now + period,
            attempts: 0,
        }
    }

    /// Whether an attempt is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Records an attempt that ran from `started` to `ended`: the next is due one period
    /// after `started`, and at least [`MIN_PAUSE`] after `ended`.
    pub fn attempted(&mut self, started: Instant, ended: Instant) {
        self.attempts = self.attempts.saturating_add(1);
        self.next = (started + self.period).max(ended + MIN_PAUSE);
    }

    /// Attempts made so far.
    #[cfg(test)]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a schedule with a fake device that refuses `failures` times, each attempt taking
    /// `cost`, polled every 5 ms like the pump; returns the attempt start times (ms from the
    /// loss) and when the device opened.
    fn drive(failures: u32, cost: Duration) -> (Vec<u64>, u64) {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(t0, RETRY_PERIOD);
        let mut starts = Vec::new();
        let mut now = t0;
        loop {
            if schedule.due(now) {
                starts.push(now.duration_since(t0).as_millis() as u64);
                let opened = schedule.attempts() >= failures;
                let ended = now + cost;
                schedule.attempted(now, ended);
                now = ended;
                if opened {
                    return (starts, now.duration_since(t0).as_millis() as u64);
                }
            }
            now += Duration::from_millis(5);
            assert!(
                now.duration_since(t0) < Duration::from_secs(60),
                "never opened"
            );
        }
    }

    #[test]
    fn a_device_that_fails_n_times_is_retried_every_period_and_opened_on_the_next_try() {
        let (starts, opened) = drive(7, Duration::from_millis(2));
        assert_eq!(
            starts.len(),
            8,
            "7 failures then the attempt that opens: {starts:?}"
        );
        for pair in starts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (500..=505).contains(&gap),
                "attempts {gap} ms apart (the period is 500 ms, polled every 5 ms): {starts:?}"
            );
        }
        // Back within one period (plus a poll) of the attempt that could succeed.
        assert!(opened <= 8 * 500 + 8 * 5 + 2, "opened after {opened} ms");
    }

    #[test]
    fn slow_attempts_are_never_back_to_back() {
        let (starts, _) = drive(4, Duration::from_millis(700));
        for pair in starts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= 800,
                "a 700 ms attempt then only {gap} ms: {starts:?}"
            );
        }
    }

    #[test]
    fn the_first_attempt_waits_one_period() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, RETRY_PERIOD);
        assert!(!s.due(t0 + Duration::from_millis(499)));
        assert!(s.due(t0 + RETRY_PERIOD));
    }
}
