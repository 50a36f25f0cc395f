//! Smart lockout after AD FS Extranet Smart Lockout (SECURITY.md §1.5): separate counters
//! for familiar and unknown locations, so an attacker who drives the unknown counter over the
//! threshold does not lock the user out of their usual places. The counting itself is one
//! atomic statement in the store (`LockoutStore::reserve_attempt`), and the procedure that uses it
//! is in `authenticate`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub unknown_threshold: u32,
    pub familiar_threshold: u32,
    /// After this long without a failure, one more attempt is allowed (and the window restarts
    /// if it fails too).
    pub observation_window_ms: i64,
    /// Distinct names failing from one address within `spray_window_ms` before the address is
    /// throttled.
    pub spray_names: u32,
    pub spray_window_ms: i64,
}

impl Default for LockoutPolicy {
    /// Microsoft's guidance: window 30 minutes, threshold well below the directory's own.
    fn default() -> Self {
        LockoutPolicy {
            unknown_threshold: 10,
            familiar_threshold: 10,
            observation_window_ms: 30 * 60 * 1000,
            spray_names: 20,
            spray_window_ms: 10 * 60 * 1000,
        }
    }
}

/// Familiar only if every address the request presents is one the user signed in from.
pub fn is_familiar(presented: &[String], familiar: &[String]) -> bool {
    !presented.is_empty() && presented.iter().all(|ip| familiar.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiarity_needs_every_address() {
        let familiar = vec!["10.0.0.1".to_string()];
        assert!(is_familiar(&["10.0.0.1".into()], &familiar));
        assert!(
            !is_familiar(&["10.0.0.1".into(), "192.0.2.9".into()], &familiar),
            "a spoofed extra address does not help"
        );
        assert!(!is_familiar(&[], &familiar));
    }
}
