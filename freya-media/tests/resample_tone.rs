//! A 1 kHz tone through the resampler keeps its frequency (measured by zero crossings) and
//! comes back with at least 40 dB SNR (issue 4: "8→16→8 kHz keeps its frequency and ≥ 40 dB
//! SNR"), for every pair of supported rates.

use std::f64::consts::PI;

use freya_media::codec::{Resampler, SampleRate};

const TONE_HZ: f64 = 1000.0;
const AMPLITUDE: f64 = 16384.0; // -6 dBFS

fn tone(rate: SampleRate, seconds: f64) -> Vec<i16> {
    let n = (f64::from(rate.hz()) * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate.hz());
            (AMPLITUDE * (2.0 * PI * TONE_HZ * t).sin()).round() as i16
        })
        .collect()
}

/// Runs `input` through a fresh resampler, flushing the tail.
fn resample(input: &[i16], from: SampleRate, to: SampleRate) -> (Vec<i16>, usize) {
    let mut r = Resampler::new(from, to).unwrap();
    let mut out = Vec::new();
    // Feed in 20 ms RTP-sized pieces, as the media path does.
    for piece in input.chunks(from.samples_per_ms() * 20) {
        r.process(piece, &mut out).unwrap();
    }
    r.flush(&mut out).unwrap();
    (out, r.delay())
}

/// Frequency from the mean distance between rising zero crossings (linearly interpolated).
fn zero_crossing_frequency(signal: &[i16], rate: SampleRate) -> f64 {
    let mut crossings = Vec::new();
    for (i, pair) in signal.windows(2).enumerate() {
        let (a, b) = (f64::from(pair[0]), f64::from(pair[1]));
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 + a / (a - b));
        }
    }
    assert!(
        crossings.len() > 10,
        "too few zero crossings: {}",
        crossings.len()
    );
    let periods = (crossings.len() - 1) as f64;
    let samples = crossings[crossings.len() - 1] - crossings[0];
    f64::from(rate.hz()) * periods / samples
}

/// SNR of `signal` against the best-fitting sinusoid at `TONE_HZ` (least squares on sin, cos
/// and DC): everything that is not the tone counts as noise. Also returns the fit's amplitude.
fn snr_db(signal: &[i16], rate: SampleRate) -> (f64, f64) {
    let w = 2.0 * PI * TONE_HZ / f64::from(rate.hz());
    let (mut ss, mut cc, mut sc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let n = signal.len() as f64;
    let mean = signal.iter().map(|&y| f64::from(y)).sum::<f64>() / n;
    for (i, &y) in signal.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let y = f64::from(y) - mean;
        ss += s * s;
        cc += c * c;
        sc += s * c;
        ys += y * s;
        yc += y * c;
    }
    let det = ss * cc - sc * sc;
    let a = (ys * cc - yc * sc) / det;
    let b = (yc * ss - ys * sc) / det;
    let (mut signal_power, mut noise_power) = (0.0, 0.0);
    for (i, &y) in signal.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let fit = a * s + b * c;
        signal_power += fit * fit;
        let e = f64::from(y) - mean - fit;
        noise_power += e * e;
    }
    (
        10.0 * (signal_power / noise_power).log10(),
        (a * a + b * b).sqrt(),
    )
}

/// The steady-state part: skip the filter's start-up and the flushed tail.
fn steady(signal: &[i16], rate: SampleRate) -> &[i16] {
    let ms = rate.samples_per_ms();
    &signal[100 * ms..signal.len() - 100 * ms]
}

fn check_round_trip(base: SampleRate, other: SampleRate) {
    let input = tone(base, 2.0);
    let (there, delay_there) = resample(&input, base, other);
    let (back, delay_back) = resample(&there, other, base);

    let f_there = zero_crossing_frequency(steady(&there, other), other);
    let f_back = zero_crossing_frequency(steady(&back, base), base);
    assert!(
        (f_there - TONE_HZ).abs() < 0.5,
        "{base:?}->{other:?}: {f_there} Hz"
    );
    assert!(
        (f_back - TONE_HZ).abs() < 0.5,
        "{base:?}->{other:?}->{base:?}: {f_back} Hz"
    );

    let (snr, amplitude) = snr_db(steady(&back, base), base);
    assert!(
        snr >= 40.0,
        "{base:?}->{other:?}->{base:?}: SNR {snr:.1} dB"
    );
    let gain_db = 20.0 * (amplitude / AMPLITUDE).log10();
    assert!(
        gain_db.abs() < 0.5,
        "{base:?}->{other:?}->{base:?}: gain {gain_db:.2} dB"
    );

    // The reported delays line the output up with the input sample for sample.
    let total_delay = delay_there * base.hz() as usize / other.hz() as usize + delay_back;
    let aligned: Vec<i16> = back[total_delay..]
        .iter()
        .zip(&input)
        .map(|(&y, &x)| y.saturating_sub(x))
        .collect();
    let skip = 100 * base.samples_per_ms();
    let err_power: f64 = aligned[skip..input.len() - total_delay - skip]
        .iter()
        .map(|&e| f64::from(e).powi(2))
        .sum::<f64>();
    let sig_power: f64 = input[skip..input.len() - total_delay - skip]
        .iter()
        .map(|&x| f64::from(x).powi(2))
        .sum();
    let aligned_snr = 10.0 * (sig_power / err_power).log10();
    assert!(
        aligned_snr >= 40.0,
        "{base:?}->{other:?}->{base:?}: SNR against the delayed input {aligned_snr:.1} dB"
    );
    println!(
        "{:>5} -> {:>5} -> {:>5} Hz: {f_back:.3} Hz, SNR {snr:.1} dB (aligned {aligned_snr:.1} dB), gain {gain_db:+.3} dB, delay {total_delay} samples",
        base.hz(),
        other.hz(),
        base.hz()
    );
}

#[test]
fn tone_8k_16k_8k_keeps_frequency_and_40_db_snr() {
    check_round_trip(SampleRate::Hz8000, SampleRate::Hz16000);
}

#[test]
fn tone_round_trips_between_every_pair_of_rates() {
    for base in SampleRate::ALL {
        for other in SampleRate::ALL {
            if base != other {
                check_round_trip(base, other);
            }
        }
    }
}
