//! The interactive terminal player (ratatui + crossterm).
//!
//! - `view.rs`: the [`view::ViewModel`] snapshot and `draw`, a pure function of it;
//! - `session.rs`: the UI's memory between frames, engine events in, key actions out;
//! - `keys.rs`: which key asks for what.
//!
//! The loop: take the engine's events, gather a view model, draw it (about 30 times a second;
//! ratatui sends only the cells that changed), then wait up to a frame for keys.
//!
//! The terminal is always given back (raw mode off, alternate screen left, cursor shown): on
//! quit and on error by a guard's `Drop`, on a panic by a hook that restores it before the panic
//! message is printed. Nothing is printed to stdout or stderr while the UI is up (logs go to a
//! file in this mode, see `logging.rs`).
//!
//! Runs on: the main thread.

mod keys;
mod model;
mod session;
mod view;

use std::io::{Stdout, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use crossterm::event::{self as term_event, Event as TermEvent};
use crossterm::{cursor, execute, terminal};
use hearth::{Engine, Event};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::config::Settings;
use crate::failure::Failure;
use keys::Action;
use session::Session;

/// Time between frames (~30 per second).
const FRAME: Duration = Duration::from_millis(33);

/// The terminal is in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// A panic restored the terminal: the UI must not draw again.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Runs the terminal UI until the listener quits or the queue has played out.
pub fn run(engine: &Engine, events: &Receiver<Event>, settings: &Settings) -> Result<(), Failure> {
    let guard = TerminalGuard::enter().map_err(|e| Failure::other("terminal", e))?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))
        .map_err(|e| Failure::other("terminal", e))?;
    let result = run_loop(&mut terminal, engine, events, settings.start_paused);
    drop(terminal);
    drop(guard);
    if PANICKED.load(Ordering::SeqCst) {
        return Err(Failure::Other(
            "internal error: a thread panicked (see the message above)".into(),
        ));
    }
    result
}

fn run_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    engine: &Engine,
    events: &Receiver<Event>,
    start_paused: bool,
) -> Result<(), Failure> {
    let mut session = Session::new(engine);
    // A resumed session that was paused stays paused until the listener presses space.
    if !start_paused && let Err(e) = engine.play() {
        session.error(format!("play: {e}"));
    }
    let term_err = |e: std::io::Error| Failure::other("terminal", e);
    // Test hook (debug builds): panic once the UI is up, to prove the terminal is restored.
    let panic_for_test =
        cfg!(debug_assertions) && std::env::var_os("HEARTH_TUI_TEST_PANIC").is_some();
    loop {
        for event in events.try_iter() {
            session.on_event(event);
        }
        let view = session.view(Instant::now());
        if let Some(why) = session.nothing_playable() {
            return Err(Failure::BadInput(format!("nothing playable: {why}")));
        }
        if session.queue_ended() {
            return Ok(());
        }
        if !ACTIVE.load(Ordering::SeqCst) {
            return Ok(()); // a panic elsewhere gave the terminal back
        }
        terminal.draw(|f| view::draw(f, &view)).map_err(term_err)?;
        if panic_for_test && view.track.is_some() {
            panic!("HEARTH_TUI_TEST_PANIC is set");
        }

        // Wait up to a frame for input, then take everything that is waiting.
        let mut timeout = FRAME;
        while term_event::poll(timeout).map_err(term_err)? {
            timeout = Duration::ZERO;
            match term_event::read().map_err(term_err)? {
                TermEvent::Key(key) => match keys::action_for(key) {
                    Some(Action::Quit) => return Ok(()),
                    Some(action) => session.on_action(action),
                    None => {}
                },
                TermEvent::Resize(..) => terminal.autoresize().map_err(term_err)?,
                _ => {}
            }
        }
    }
}

/// Raw mode and the alternate screen while it lives.
#[derive(Debug)]
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> std::io::Result<TerminalGuard> {
        install_panic_hook();
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, a failure part-way is undone by the guard's drop.
        let guard = TerminalGuard;
        terminal::enable_raw_mode()?;
        execute!(stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back, once (later calls do nothing).
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(stdout(), terminal::LeaveAlternateScreen, cursor::Show);
    }
}

/// Restores the terminal before any panic message is printed (on any thread: a message drawn
/// over the UI in raw mode would be unreadable), then tells the UI to stop.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.load(Ordering::SeqCst) {
                PANICKED.store(true, Ordering::SeqCst);
                restore();
            }
            previous(info);
        }));
    });
}
