//! The `cloutdesk` binary: the CLI and the HTTP service.

use clap::Parser;

fn main() -> std::process::ExitCode {
    huge_pages::ask();
    let cli = cloutdesk::cli::Cli::parse();
    match cloutdesk::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Transparent huge pages for the heap.
///
/// Where the system's THP mode is `madvise` (the default of many
/// distributions), a program's memory gets huge pages only where it asks;
/// otherwise a 1M-creator snapshot, the scoring buffers and the re-rank's
/// pools are faulted in 4 KiB at a time, and on a virtual machine each
/// first touch costs microseconds (the 10,000 x 1M re-rank took 69-73 s
/// with huge pages against 80-86 s without, and 8 fewer seconds of system
/// CPU: BENCHMARKS.md). glibc's malloc asks for them when its tunable
/// `glibc.malloc.hugetlb=1` is set, and tunables are read only at process
/// start: so the binary, before doing anything else, executes itself once
/// more with the tunable added (same arguments, same PID). Not done when
/// the tunable is already given (either value), when THP is not in
/// `madvise` mode, or when `CLOUTDESK_NO_HUGE_PAGES` is set; if the
/// execution fails, the run goes on as it is.
mod huge_pages {
    const TUNABLE: &str = "glibc.malloc.hugetlb";

    /// The `GLIBC_TUNABLES` value to execute again with, given the current
    /// one (`None`: set but not Unicode, left alone), the contents of
    /// `/sys/kernel/mm/transparent_hugepage/enabled` and whether the user
    /// opted out; `None`: run as it is.
    #[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
    pub(crate) fn tunables(current: Option<&str>, thp_mode: &str, opt_out: bool) -> Option<String> {
        let current = current?;
        if opt_out || current.contains(TUNABLE) || !thp_mode.contains("[madvise]") {
            return None;
        }
        Some(if current.is_empty() {
            format!("{TUNABLE}=1")
        } else {
            format!("{current}:{TUNABLE}=1")
        })
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub fn ask() {
        use std::os::unix::process::CommandExt;
        let current = match std::env::var("GLIBC_TUNABLES") {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => Some(String::new()),
            Err(std::env::VarError::NotUnicode(_)) => None,
        };
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        let opt_out = std::env::var_os("CLOUTDESK_NO_HUGE_PAGES").is_some();
        let Some(value) = tunables(current.as_deref(), &mode, opt_out) else {
            return;
        };
        let mut args = std::env::args_os();
        let Some(arg0) = args.next() else { return };
        // Returns only if the execution failed: go on without.
        let _ = std::process::Command::new("/proc/self/exe")
            .arg0(arg0)
            .args(args)
            .env("GLIBC_TUNABLES", value)
            .exec();
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn ask() {}
}

#[cfg(test)]
mod tests {
    use super::huge_pages::tunables;

    const MADVISE: &str = "always [madvise] never\n";

    #[test]
    fn huge_pages_are_asked_for_once_and_only_in_madvise_mode() {
        assert_eq!(
            tunables(Some(""), MADVISE, false).as_deref(),
            Some("glibc.malloc.hugetlb=1")
        );
        // Other tunables are kept.
        assert_eq!(
            tunables(Some("glibc.malloc.arena_max=2"), MADVISE, false).as_deref(),
            Some("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1")
        );
        // Already asked (by us or the user, either value): no second run.
        assert_eq!(
            tunables(Some("glibc.malloc.hugetlb=1"), MADVISE, false),
            None
        );
        assert_eq!(
            tunables(Some("glibc.malloc.hugetlb=0"), MADVISE, false),
            None
        );
        // THP always on, off, or unknown; opted out; a value not ours to edit.
        assert_eq!(tunables(Some(""), "[always] madvise never\n", false), None);
        assert_eq!(tunables(Some(""), "always madvise [never]\n", false), None);
        assert_eq!(tunables(Some(""), "", false), None);
        assert_eq!(tunables(Some(""), MADVISE, true), None);
        assert_eq!(tunables(None, MADVISE, false), None);
    }
}
