//! A directory sync's progress on a terminal (indicatif, on stderr): how many users and
//! groups have been read, then the writing. Drawn only when stderr is a terminal, so that
//! scripts, pipes and `--json` see nothing of it.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tessera_directory::SyncStep;

pub struct SyncBar {
    bar: ProgressBar,
    source: String,
}

impl SyncBar {
    pub fn new(source: &str) -> SyncBar {
        let target =
            if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("{source}: connecting"));
        bar.enable_steady_tick(Duration::from_millis(120));
        SyncBar { bar, source: source.to_string() }
    }

    pub fn show(&self, step: SyncStep) {
        let said = match step {
            SyncStep::Users(n) => format!("{}: {n} users read", self.source),
            SyncStep::Groups(n) => format!("{}: users read, {n} groups read", self.source),
            SyncStep::Writing => format!("{}: read; planning and writing", self.source),
        };
        self.bar.set_message(said);
    }
}

impl Drop for SyncBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
