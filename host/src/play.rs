//! `hearth play`: build the engine from the settings, queue the paths, and hand over to the
//! terminal UI (a terminal on both ends), the JSON protocol (`--json`), or a plain headless
//! player (output not a terminal: one line per track, plays the queue to its end).

use std::io::IsTerminal;
use std::time::Duration;

use hearth::{Engine, EngineConfig, Event};

use crate::cli::PlayArgs;
use crate::config::{FileConfig, Settings};
use crate::failure::Failure;

/// Runs `hearth play` (and bare `hearth`).
pub fn run(
    cache_dir: Option<&std::path::Path>,
    args: &PlayArgs,
    file: &FileConfig,
) -> Result<(), Failure> {
    let settings = Settings::resolve(cache_dir, &args.opts, file)?;
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    // `--resume` / `resume = true`: the saved session instead of the demo (see session.rs).
    let restore = crate::session::for_resume(
        crate::config::Resume::resolve(args.resume_flag(), file),
        !args.paths.is_empty(),
    );
    let settings = match &restore {
        Some(r) => r.settings(settings, &args.opts, args.json || interactive),
        None => settings,
    };
    let mut problems = Vec::new();
    let paths = if let Some(r) = &restore {
        r.paths.clone()
    } else if args.paths.is_empty() {
        vec![crate::demo::path()?]
    } else {
        crate::paths::expand(&args.paths, &mut problems)
    };
    // Nothing playable and one reason (a playlist that cannot be read, say): that reason is
    // the error, in one line.
    if paths.is_empty()
        && let [only] = problems.as_slice()
    {
        return Err(Failure::BadInput(only.clone()));
    }
    for p in &problems {
        eprintln!("hearth: warning: {p}");
    }
    if paths.is_empty() {
        return Err(Failure::BadInput(
            "nothing to play: no audio files found".into(),
        ));
    }
    // A single missing file given by name is a usage error, not a playlist hiccup.
    if paths.len() == 1 && !paths[0].exists() {
        return Err(Failure::file(&paths[0], "No such file or directory"));
    }
    let engine = build_engine(&crate::session::engine_settings(&settings))?;
    if let Some(notice) = engine.output_fallback_notice() {
        eprintln!("hearth: {notice}");
    }
    let events = engine.events();
    // Media keys, the desktop's media widget and playerctl, whatever the mode below.
    #[cfg(target_os = "linux")]
    let _mpris = crate::mpris::start(&engine, &settings.cache.dir);
    let restored = match &restore {
        Some(r) => crate::session::restore(&engine, r, &settings)?,
        None => {
            for p in &paths {
                engine.enqueue(p).map_err(|e| Failure::other("queue", e))?;
            }
            None
        }
    };
    // The session is kept in every mode; `finish` makes the last write once the mode is done.
    let keeper = crate::session::Keeper::start(&engine, restored);
    let result = if args.json {
        crate::json::run(&engine, &events, &settings)
    } else if interactive {
        crate::tui::run(&engine, &events, &settings)
    } else {
        headless(&engine, &events)
    };
    keeper.finish();
    result
}

/// The engine for these settings (a device that cannot be opened falls back to the null sink,
/// which the engine reports as an event).
pub fn build_engine(s: &Settings) -> Result<Engine, Failure> {
    let config = EngineConfig {
        rate: s.rate,
        buffer_frames: s.buffer,
        cache: s.cache.clone(),
        enhance: s.enhance,
        preset: s.preset,
        intensity: s.intensity,
        volume: s.volume,
        track_crossfade: s.crossfade,
        normalize: s.normalize,
        ..EngineConfig::default()
    };
    Engine::builder()
        .config(config)
        .build(s.output.clone())
        .map_err(|e| match e {
            hearth::EngineError::Output(m) => Failure::BadInput(format!("output: {m}")),
            other => Failure::other("engine", other),
        })
}

/// Plays the queue to its end, printing a line per track and problems on stderr.
fn headless(engine: &Engine, events: &crossbeam_channel::Receiver<Event>) -> Result<(), Failure> {
    engine.play().map_err(|e| Failure::other("play", e))?;
    // After a fallback, the notice is printed already (see `run`), and the first device
    // announcement is the null sink it named.
    let notice = engine.output_fallback_notice();
    let mut skip_device = notice.is_some();
    loop {
        match events.recv_timeout(Duration::from_secs(1)) {
            Ok(Event::TrackStarted { path, meta, .. }) => {
                println!("{}", describe_track(&path, meta.as_ref()))
            }
            Ok(Event::Error { message, .. }) => {
                if notice.as_ref() != Some(&message) {
                    eprintln!("hearth: {message}")
                }
            }
            Ok(Event::Device { name, rate, .. }) => {
                if !std::mem::take(&mut skip_device) {
                    eprintln!("hearth: output: {name} at {rate} Hz")
                }
            }
            Ok(Event::DeviceLost { name, reason }) => {
                eprintln!("hearth: output {name} lost ({reason}); retrying every 0.5 s")
            }
            Ok(Event::DeviceRestored { name, reason }) => {
                eprintln!("hearth: playing on {name} again ({reason})")
            }
            Ok(Event::QueueEnded) => return Ok(()),
            Ok(_) | Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                // Every entry failed: nothing will ever play.
                let q = engine.queue();
                if !q.is_empty()
                    && q.iter()
                        .all(|e| matches!(e.status, hearth::EntryStatus::Failed(_)))
                {
                    return Err(Failure::BadInput("nothing playable in the queue".into()));
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// "Title — Artist (3:25)" or the file name.
pub fn describe_track(path: &std::path::Path, meta: Option<&hearth::TrackMeta>) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match meta {
        Some(m) => {
            let title = m.info.tags.title.clone().unwrap_or(name);
            let d = m.duration.as_secs();
            match &m.info.tags.artist {
                Some(a) => format!("{title} — {a} ({}:{:02})", d / 60, d % 60),
                None => format!("{title} ({}:{:02})", d / 60, d % 60),
            }
        }
        None => name,
    }
}
