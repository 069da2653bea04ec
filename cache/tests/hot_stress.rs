//! Stress of the lock-free hand-off between the filler and the renderer: the hot tier's slots
//! circulate between two threads (producer fills and sends, consumer checks and gives back)
//! for `HEARTH_STRESS_OPS` slots (default 2 000 000; `cargo test --release` makes tens of
//! millions quick). Every slot must arrive whole (every sample carries its sequence number,
//! and so does the slot's `start`), in order, exactly once, and every slot must come home: none lost, none
//! duplicated, none torn.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use hearth_cache::Variant;
use hearth_cache::hot::{HotConfig, HotKey, hot_tier};

fn ops() -> u64 {
    std::env::var("HEARTH_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

#[test]
fn slots_cross_threads_millions_of_times_whole_in_order_and_none_lost() {
    const FRAMES: u32 = 16;
    const SLOTS: usize = 6;
    let total = ops();
    let (mut producer, mut consumer) = hot_tier(HotConfig {
        chunk_frames: FRAMES,
        slots: SLOTS,
    });
    let done = Arc::new(AtomicBool::new(false));

    let consumer_done = Arc::clone(&done);
    let renderer = thread::spawn(move || {
        let mut expected = 0u64;
        let mut held = Vec::new();
        while expected < total {
            let Some(slot) = consumer.receive() else {
                std::hint::spin_loop();
                continue;
            };
            assert_eq!(slot.start, expected, "out of order or duplicated");
            assert_eq!(u64::from(slot.key.index), expected % u64::from(u32::MAX));
            let want = (expected % 1_000_003) as f32;
            assert!(
                slot.samples().iter().all(|&v| v == want),
                "slot {expected} torn"
            );
            expected += 1;
            // Hold a couple of slots for a while, as a renderer holds current and next.
            held.push(slot);
            if held.len() > 2 || expected == total {
                for s in held.drain(..) {
                    if let Err(s) = consumer.give_back(s) {
                        panic!("return queue full with slot {}", s.start);
                    }
                }
            }
        }
        consumer_done.store(true, Ordering::Release);
    });

    let mut sent = 0u64;
    while sent < total {
        producer.reclaim(|_| {});
        let Some(mut slot) = producer.take_free() else {
            std::hint::spin_loop();
            continue;
        };
        slot.key = HotKey {
            entry: 1,
            index: (sent % u64::from(u32::MAX)) as u32,
            variant: Variant::Original,
        };
        slot.start = sent;
        slot.frames = FRAMES;
        slot.buffer_mut().fill((sent % 1_000_003) as f32);
        producer.send(slot);
        sent += 1;
    }
    renderer
        .join()
        .unwrap_or_else(|_| panic!("the consumer thread failed"));
    assert!(done.load(Ordering::Acquire));
    // Every slot comes home.
    producer.reclaim(|_| {});
    assert_eq!(producer.free_count(), SLOTS, "slots lost");
}
