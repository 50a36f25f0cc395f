//! The cost of one argon2id password verification at Tessera's parameters: the floor of a
//! sign-in's latency and what bounds logins per core. Median of 41 verifications.
//!
//! Run: `bench/run`. SECURITY.md's goal of at least 15 password logins per second per vCPU
//! means at most about 66 ms a verification.

use std::time::{Duration, Instant};

use tessera_auth::password::{hash_password, verify_password};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hash = hash_password("correct horse battery staple")?;
    let params = hash.split('$').nth(3).unwrap_or_default().to_string();
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..41 {
        let started = Instant::now();
        let ok = verify_password("correct horse battery staple", &hash)?;
        times.push(started.elapsed());
        if !ok {
            return Err("verification failed".into());
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let per_second = 1.0 / median.as_secs_f64();
    println!(
        "argon2id {params}: one verification {:.1} ms (median of 41), {per_second:.0} per second per core",
        median.as_secs_f64() * 1e3
    );
    if per_second < 15.0 {
        return Err(format!("{per_second:.1} verifications a second is under the 15 per vCPU goal").into());
    }
    Ok(())
}
