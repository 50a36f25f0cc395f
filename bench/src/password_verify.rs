//! The cost of one argon2id password verification at Tessera's parameters: the floor of a
//! sign-in's latency and what bounds logins per core. Median of 41 verifications.
//!
//! `--threads N`: N threads verify at once (one per core is what Tessera's password gate
//! allows), and the line also gives the rate of all of them together and the core time one
//! verification takes when they share the machine's memory bandwidth: the bound the form and
//! WS-Trust benchmarks hold Tessera to.
//!
//! Run: `bench/run`. SECURITY.md's goal of at least 15 password logins per second per vCPU
//! means at most about 66 ms a verification.

use std::time::{Duration, Instant};

use tessera_auth::password::{hash_password, verify_password};

const PASSWORD: &str = "correct horse battery staple";
const ROUNDS: usize = 41;

fn verify_rounds(hash: &str) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let ok = verify_password(PASSWORD, hash).map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if !ok {
            return Err("verification failed".into());
        }
    }
    Ok(times)
}

fn threads_argument() -> Result<usize, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => Ok(1),
        (Some("--threads"), Some(n)) => n.parse().ok().filter(|n| *n >= 1).ok_or(format!("bad thread count {n:?}")),
        _ => Err("usage: password-verify [--threads N]".into()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = threads_argument()?;
    let hash = hash_password(PASSWORD)?;
    let params = hash.split('$').nth(3).unwrap_or_default().to_string();
    let started = Instant::now();
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        let running: Vec<_> = (0..threads).map(|_| scope.spawn(|| verify_rounds(&hash))).collect();
        running
            .into_iter()
            .map(|t| t.join().map_err(|_| "a verifying thread panicked".to_string())?)
            .collect::<Result<Vec<_>, String>>()
    })?
    .concat();
    let wall = started.elapsed();
    times.sort();
    let median = times[times.len() / 2];
    let per_second = 1.0 / median.as_secs_f64();
    print!(
        "argon2id {params}: one verification {:.1} ms (median of {}), {per_second:.0} per second per core",
        median.as_secs_f64() * 1e3,
        times.len()
    );
    if threads > 1 {
        print!("; {threads} at once: {:.1} per second together", times.len() as f64 / wall.as_secs_f64());
    }
    println!();
    if per_second < 15.0 {
        return Err(format!("{per_second:.1} verifications a second is under the 15 per vCPU goal").into());
    }
    Ok(())
}
