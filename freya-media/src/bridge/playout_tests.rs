//! Tests of the playout queue ([`Playout`](super::Playout)): frames, markers, bounds, and
//! the one-byte G.711 stores against the sample store.

use super::*;
use proptest::prelude::*;

fn ramp(from: i16, n: usize) -> Vec<i16> {
    (0..n as i16).map(|i| from + i).collect()
}

#[test]
fn frames_come_out_in_order_without_loss() {
    let mut p: Playout<&str> = Playout::new(8000, Storage::Pcm);
    p.push(&ramp(0, 100));
    p.push(&ramp(100, 250));
    let mut f = [0; FRAME_SAMPLES];
    assert_eq!(p.take_frame(&mut f), 160);
    assert_eq!(f.to_vec(), ramp(0, 160));
    assert_eq!(p.take_frame(&mut f), 160);
    assert_eq!(f.to_vec(), ramp(160, 160));
    // 30 left: held one tick, then played padded.
    assert_eq!(p.take_frame(&mut f), 0);
    assert_eq!(p.take_frame(&mut f), 30);
    assert_eq!(&f[..30], &ramp(320, 30)[..]);
    assert!(f[30..].iter().all(|&s| s == 0));
    assert_eq!(p.len(), 0);
}

#[test]
fn a_partial_completed_in_time_is_not_split() {
    let mut p: Playout<()> = Playout::new(8000, Storage::Pcm);
    let mut f = [0; FRAME_SAMPLES];
    p.push(&ramp(0, 80));
    assert_eq!(p.take_frame(&mut f), 0);
    p.push(&ramp(80, 80));
    assert_eq!(p.take_frame(&mut f), 160);
    assert_eq!(f.to_vec(), ramp(0, 160));
}

#[test]
fn release_sends_a_partial_at_once() {
    let mut p: Playout<()> = Playout::new(8000, Storage::Pcm);
    let mut f = [0; FRAME_SAMPLES];
    p.push(&ramp(0, 10));
    p.release_partial();
    assert_eq!(p.take_frame(&mut f), 10);
}

#[test]
fn overflow_drops_the_oldest_and_passes_markers() {
    let mut p = Playout::new(320, Storage::Pcm);
    p.push(&ramp(0, 300));
    p.mark("m1");
    assert_eq!(p.push(&ramp(300, 100)), 80);
    assert_eq!(p.len(), 320);
    assert_eq!(
        p.pop_reached(),
        None,
        "m1 sits after sample 300, 80..300 not played yet"
    );
    let mut f = [0; FRAME_SAMPLES];
    p.take_frame(&mut f);
    assert_eq!(f[0], 80);
    assert_eq!(p.pop_reached(), None);
    p.take_frame(&mut f);
    assert_eq!(p.pop_reached(), Some("m1"));
}

#[test]
fn clear_returns_markers_and_empties() {
    let mut p = Playout::new(8000, Storage::Pcm);
    p.push(&ramp(0, 500));
    p.mark(1);
    p.push(&ramp(0, 100));
    p.mark(2);
    assert_eq!(p.clear(), (600, vec![1, 2]));
    let mut f = [0; FRAME_SAMPLES];
    assert_eq!(p.take_frame(&mut f), 0);
    p.mark(3);
    assert_eq!(
        p.pop_reached(),
        Some(3),
        "a mark on an empty queue is reached at once"
    );
}

#[test]
fn growth_follows_the_level_in_steps_and_an_emptied_queue_is_freed() {
    // 1 s bound (8,000 samples). A level of 2,500 samples (312 ms) holds 3,200 (the
    // next 100 ms step), where doubling would hold 4,096.
    let mut p: Playout<u8> = Playout::new(8000, Storage::Pcm);
    assert_eq!(p.capacity(), 0, "no memory before the agent speaks");
    for _ in 0..15 {
        p.push(&[1; 160]);
    }
    p.push(&[1; 100]);
    assert_eq!(p.len(), 2500);
    assert!(
        p.capacity() >= 2500 && p.capacity() < 2500 + GROW_STEP,
        "{}",
        p.capacity()
    );
    // Held within the bound plus one push at any level.
    for _ in 0..100 {
        p.push(&[2; 320]);
    }
    assert_eq!(p.len(), 8000);
    assert!(p.capacity() <= 8000 + GROW_STEP, "{}", p.capacity());
    // Drained: the memory goes back.
    let mut out = [0i16; FRAME_SAMPLES];
    while p.take_frame(&mut out) > 0 {}
    assert_eq!(p.len(), 0);
    assert_eq!(p.capacity(), 0);
    // A small level keeps its one step (no churn at 20-40 ms of lead).
    p.push(&[3; 320]);
    assert_eq!(p.take_frame(&mut out), 160);
    assert_eq!(p.take_frame(&mut out), 160);
    assert!(p.capacity() > 0 && p.capacity() <= GROW_STEP);
    // Barge-in frees a grown queue too.
    p.push(&[4; 4000]);
    let (dropped, _) = p.clear();
    assert_eq!(dropped, 4000);
    assert_eq!(p.capacity(), 0);
}

#[test]
fn pause_keeps_the_queue() {
    let mut p: Playout<()> = Playout::new(8000, Storage::Pcm);
    p.push(&ramp(0, 160));
    p.paused = true;
    let mut f = [0; FRAME_SAMPLES];
    assert_eq!(p.take_frame(&mut f), 0);
    p.paused = false;
    assert_eq!(p.take_frame(&mut f), 160);
    assert_eq!(p.retain_markers(|_| true), 0);
}

fn decode(law: G711Law, codes: &[u8]) -> Vec<i16> {
    let mut pcm = Vec::new();
    law.decode_into(codes, &mut pcm);
    pcm
}

const LAWS: [G711Law; 2] = [G711Law::Ulaw, G711Law::Alaw];

#[test]
fn g711_stores_play_the_decode_of_their_codes() {
    // Every code, several times over, so a wrong table or a shifted position shows.
    let codes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    for law in LAWS {
        let mut p = Playout::new(480, Storage::Law(law));
        let mut f = [0; FRAME_SAMPLES];
        // A partial waits a tick, then goes out whole once completed.
        assert_eq!(p.push_codes(law, &codes[..100]), 0);
        assert_eq!(p.take_frame(&mut f), 0);
        assert_eq!(p.push_codes(law, &codes[100..300]), 0);
        assert_eq!(p.take_frame(&mut f), 160);
        assert_eq!(f.to_vec(), decode(law, &codes[..160]), "{law:?}");
        // Over the 480 bound: codes 160..320 go, and the marker after 300 with them.
        p.mark("a");
        assert_eq!(p.push_codes(law, &codes[300..800]), 160);
        assert_eq!(p.pop_reached(), Some("a"));
        assert_eq!(p.take_frame(&mut f), 160);
        assert_eq!(f.to_vec(), decode(law, &codes[320..480]), "{law:?}");
        p.mark("b");
        assert_eq!(p.take_frame(&mut f), 160);
        assert_eq!(f.to_vec(), decode(law, &codes[480..640]), "{law:?}");
        assert_eq!(p.pop_reached(), None);
        // Barge-in, then a released partial plays at once, padded with zeros.
        assert_eq!(p.clear(), (160, vec!["b"]));
        p.push_codes(law, &codes[800..810]);
        p.release_partial();
        assert_eq!(p.take_frame(&mut f), 10);
        assert_eq!(&f[..10], &decode(law, &codes[800..810])[..]);
        assert!(f[10..].iter().all(|&s| s == 0));
        assert_eq!(p.stored_as(), Storage::Law(law), "never widened");
    }
}

#[test]
fn g711_stores_hold_half_the_bytes_of_a_sample_store() {
    for law in LAWS {
        let mut codes = Playout::<()>::new(8000, Storage::Law(law));
        let mut pcm = Playout::<()>::new(8000, Storage::Pcm);
        let frame: Vec<u8> = (0..160).map(|i| i as u8).collect();
        // 20 ms messages up to 20, 160, 200 and 240 ms queued, then past the 1 s bound
        // (held within the bound plus one push).
        for (frames, samples) in [(1, 800), (7, 1600), (2, 1600), (2, 2400), (60, 8160)] {
            for _ in 0..frames {
                codes.push_codes(law, &frame);
                pcm.push(&decode(law, &frame));
            }
            assert_eq!(codes.len(), pcm.len());
            assert_eq!(
                codes.capacity(),
                samples,
                "{law:?} at {} samples",
                codes.len()
            );
            assert_eq!(pcm.capacity(), samples);
            assert_eq!(codes.capacity_bytes(), samples);
            assert_eq!(pcm.capacity_bytes(), 2 * samples);
        }
        // Drained, both give their memory back.
        let mut f = [0; FRAME_SAMPLES];
        while codes.take_frame(&mut f) > 0 {}
        while pcm.take_frame(&mut f) > 0 {}
        assert_eq!((codes.capacity_bytes(), pcm.capacity_bytes()), (0, 0));
    }
}

#[test]
fn audio_in_another_form_is_widened_never_quantised() {
    // Samples off the G.711 grid (a μ-law round trip changes each of them).
    let off_grid = [1i16, 3, -5, 1001, 12345, -32767];
    assert!(off_grid
        .iter()
        .all(|&x| ulaw_decode(crate::codec::ulaw_encode(x)) != x));
    let mut p: Playout<()> = Playout::new(8000, Storage::Law(G711Law::Ulaw));
    p.push_codes(G711Law::Ulaw, &[0x00, 0x80]);
    p.push(&off_grid);
    assert_eq!(p.stored_as(), Storage::Pcm);
    p.push_codes(G711Law::Alaw, &[0xD5]);
    p.release_partial();
    let mut f = [0; FRAME_SAMPLES];
    assert_eq!(p.take_frame(&mut f), 9);
    let mut want = decode(G711Law::Ulaw, &[0x00, 0x80]);
    want.extend_from_slice(&off_grid);
    want.push(alaw_decode(0xD5));
    assert_eq!(&f[..9], &want[..]);
    // Emptied: the queue is back to the leg's one-byte form.
    assert_eq!(p.stored_as(), Storage::Law(G711Law::Ulaw));
    assert_eq!(p.capacity(), 0);
    // A sample store takes codes decoded, and its samples pass as they came.
    let mut p: Playout<()> = Playout::new(8000, Storage::Pcm);
    p.push(&off_grid);
    p.push_codes(G711Law::Alaw, &[0x55]);
    p.release_partial();
    assert_eq!(p.take_frame(&mut f), 7);
    assert_eq!(&f[..6], &off_grid[..]);
    assert_eq!(f[6], alaw_decode(0x55));
    assert_eq!(p.stored_as(), Storage::Pcm);
}

#[derive(Debug, Clone)]
enum Op {
    Push(Vec<u8>),
    Take,
    Mark,
    Release,
    Pause(bool),
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..400).prop_map(Op::Push),
        1 => proptest::collection::vec(any::<u8>(), 400..3000).prop_map(Op::Push),
        5 => Just(Op::Take),
        1 => Just(Op::Mark),
        1 => Just(Op::Release),
        1 => any::<bool>().prop_map(Op::Pause),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    /// Random codes in random chunk sizes with takes, marks, pauses and clears between:
    /// a code store behaves exactly as a sample store fed the decoded samples (frames,
    /// drop counts, markers, clears), in half the bytes.
    #[test]
    fn a_code_store_plays_as_a_sample_store_fed_the_decode(
        law in prop_oneof![Just(G711Law::Ulaw), Just(G711Law::Alaw)],
        max in 160usize..2400,
        ops in proptest::collection::vec(op(), 0..80),
    ) {
        let mut codes = Playout::new(max, Storage::Law(law));
        let mut pcm = Playout::new(max, Storage::Pcm);
        let (mut fa, mut fb) = ([0; FRAME_SAMPLES], [0; FRAME_SAMPLES]);
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Push(c) => prop_assert_eq!(codes.push_codes(law, &c), pcm.push(&decode(law, &c))),
                Op::Take => {
                    prop_assert_eq!(codes.take_frame(&mut fa), pcm.take_frame(&mut fb));
                    prop_assert_eq!(fa, fb);
                }
                Op::Mark => {
                    codes.mark(i);
                    pcm.mark(i);
                }
                Op::Release => {
                    codes.release_partial();
                    pcm.release_partial();
                }
                Op::Pause(on) => (codes.paused, pcm.paused) = (on, on),
                Op::Clear => prop_assert_eq!(codes.clear(), pcm.clear()),
            }
            loop {
                let reached = codes.pop_reached();
                prop_assert_eq!(reached, pcm.pop_reached());
                if reached.is_none() {
                    break;
                }
            }
            prop_assert_eq!(codes.len(), pcm.len());
            prop_assert_eq!(codes.capacity(), pcm.capacity());
            prop_assert_eq!(2 * codes.capacity_bytes(), pcm.capacity_bytes());
            prop_assert_eq!(codes.stored_as(), Storage::Law(law));
        }
        // Played out to the end, the rest matches too.
        codes.paused = false;
        pcm.paused = false;
        codes.release_partial();
        pcm.release_partial();
        while pcm.len() > 0 {
            prop_assert_eq!(codes.take_frame(&mut fa), pcm.take_frame(&mut fb));
            prop_assert_eq!(fa, fb);
        }
        prop_assert_eq!(codes.len(), 0);
    }
}
