//! Terminal progress bars (indicatif) for the pipeline's long steps.

use std::sync::Mutex;
use std::time::Duration;

use cloutdesk_ingest::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Shows one bar (known total) or spinner (unknown) per stage.
#[derive(Debug, Default)]
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars {
            current: Mutex::new(None),
            quiet,
        }
    }

    /// A standalone bar for the CLI's own loops.
    pub fn bar(&self, msg: &str, total: u64) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:<28} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message(msg.to_string());
        pb
    }
}

impl Progress for Bars {
    fn start(&self, stage: &str, total: Option<u64>) {
        if self.quiet {
            return;
        }
        let pb = match total {
            Some(t) => self.bar(stage, t),
            None => {
                let pb = ProgressBar::new_spinner();
                pb.set_style(
                    ProgressStyle::with_template("{spinner} {msg:<28} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                pb.set_message(stage.to_string());
                pb.enable_steady_tick(Duration::from_millis(120));
                pb
            }
        };
        if let Ok(mut g) = self.current.lock() {
            if let Some(old) = g.take() {
                old.finish_and_clear();
            }
            *g = Some(pb);
        }
    }

    fn inc(&self, n: u64) {
        if let Ok(g) = self.current.lock() {
            if let Some(pb) = g.as_ref() {
                pb.inc(n);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut g) = self.current.lock() {
            if let Some(pb) = g.take() {
                pb.finish_and_clear();
            }
        }
    }
}
