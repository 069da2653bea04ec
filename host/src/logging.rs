//! Logging with `tracing`: warnings by default, `-v`/`RUST_LOG` for more. Logs go to stderr —
//! except under the terminal UI, where they would draw over the screen: then to `--log-file`,
//! or `hearth.log` in the cache directory.

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber. Never fails the program: logging is best effort.
pub fn init(verbose: u8, log_file: Option<&Path>, tui: bool, cache_dir: &Path) {
    // Hearth's own crates (every target starting with "hearth") at the chosen level; the
    // libraries underneath (symphonia logs a failed probe as an error, say) stay quiet unless
    // asked for with -v, so an error a user caused is still one readable line.
    let directives = match verbose {
        0 => "hearth=warn",
        1 => "hearth=info,warn",
        2 => "hearth=debug,info",
        _ => "hearth=trace,debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let file = log_file
        .map(Path::to_path_buf)
        .or_else(|| tui.then(|| cache_dir.join("hearth.log")));
    match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                Ok(f) => {
                    let _ = tracing_subscriber::fmt()
                        .with_env_filter(filter)
                        .with_writer(std::sync::Mutex::new(f))
                        .with_ansi(false)
                        .try_init();
                }
                Err(_) if tui => {} // nowhere safe to log: stay silent rather than draw over the UI
                Err(_) => {
                    let _ = tracing_subscriber::fmt()
                        .with_env_filter(filter)
                        .with_writer(std::io::stderr)
                        .try_init();
                }
            }
        }
        None => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .try_init();
        }
    }
}
