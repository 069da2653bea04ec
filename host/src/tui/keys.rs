//! Keys and what they ask for: a pure mapping, tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Something the listener asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Pause or resume.
    TogglePause,
    /// Seek by this many seconds (negative: back).
    SeekBy(f64),
    /// Jump to this many tenths of the track (0–9).
    SeekTenths(u8),
    /// Enhancement on/off.
    ToggleEnhancement,
    /// The next preset (`true`) or the previous one.
    Preset(bool),
    /// Change the intensity by this much.
    Intensity(f32),
    /// Change the volume by this much.
    Volume(f32),
    /// Loudness normalisation off → track → album → off.
    CycleNormalize,
    /// Next entry.
    Next,
    /// Previous entry (or the start of this one).
    Previous,
    /// Save the queue as a playlist in the data directory.
    SavePlaylist,
    /// Leave.
    Quit,
}

/// Seconds for ←/→, and with shift.
pub const SEEK_SMALL: f64 = 5.0;
/// Seconds for shift+←/→.
pub const SEEK_LARGE: f64 = 30.0;
/// Intensity step for [ and ].
pub const INTENSITY_STEP: f32 = 0.1;
/// Volume step for + and −.
pub const VOLUME_STEP: f32 = 0.1;

/// The action for a key press (`None` for keys without one, and for releases).
pub fn action_for(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Action::Quit,
        _ if ctrl => return None,
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Left => Action::SeekBy(-if shift { SEEK_LARGE } else { SEEK_SMALL }),
        KeyCode::Right => Action::SeekBy(if shift { SEEK_LARGE } else { SEEK_SMALL }),
        KeyCode::Char(c @ '0'..='9') => Action::SeekTenths(c as u8 - b'0'),
        KeyCode::Char('e' | 'E') => Action::ToggleEnhancement,
        KeyCode::Char('p') => Action::Preset(true),
        KeyCode::Char('P') => Action::Preset(false),
        KeyCode::Char('[') => Action::Intensity(-INTENSITY_STEP),
        KeyCode::Char(']') => Action::Intensity(INTENSITY_STEP),
        KeyCode::Char('l' | 'L') => Action::CycleNormalize,
        KeyCode::Char('+' | '=') => Action::Volume(VOLUME_STEP),
        KeyCode::Char('-' | '_' | '−') => Action::Volume(-VOLUME_STEP),
        KeyCode::Char('n' | 'N') => Action::Next,
        KeyCode::Char('b' | 'B') => Action::Previous,
        KeyCode::Char('w' | 'W') => Action::SavePlaylist,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> Option<Action> {
        action_for(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn every_documented_key() {
        let none = KeyModifiers::NONE;
        let shift = KeyModifiers::SHIFT;
        let cases = [
            (KeyCode::Char(' '), none, Action::TogglePause),
            (KeyCode::Left, none, Action::SeekBy(-5.0)),
            (KeyCode::Right, none, Action::SeekBy(5.0)),
            (KeyCode::Left, shift, Action::SeekBy(-30.0)),
            (KeyCode::Right, shift, Action::SeekBy(30.0)),
            (KeyCode::Char('0'), none, Action::SeekTenths(0)),
            (KeyCode::Char('7'), none, Action::SeekTenths(7)),
            (KeyCode::Char('e'), none, Action::ToggleEnhancement),
            (KeyCode::Char('l'), none, Action::CycleNormalize),
            (KeyCode::Char('p'), none, Action::Preset(true)),
            (KeyCode::Char('P'), shift, Action::Preset(false)),
            (KeyCode::Char('['), none, Action::Intensity(-0.1)),
            (KeyCode::Char(']'), none, Action::Intensity(0.1)),
            (KeyCode::Char('+'), shift, Action::Volume(0.1)),
            (KeyCode::Char('='), none, Action::Volume(0.1)),
            (KeyCode::Char('-'), none, Action::Volume(-0.1)),
            (KeyCode::Char('n'), none, Action::Next),
            (KeyCode::Char('b'), none, Action::Previous),
            (KeyCode::Char('w'), none, Action::SavePlaylist),
            (KeyCode::Char('q'), none, Action::Quit),
            (KeyCode::Esc, none, Action::Quit),
            (KeyCode::Char('c'), KeyModifiers::CONTROL, Action::Quit),
        ];
        for (code, modifiers, want) in cases {
            assert_eq!(press(code, modifiers), Some(want), "{code:?} {modifiers:?}");
        }
    }

    #[test]
    fn other_keys_and_releases_do_nothing() {
        assert_eq!(press(KeyCode::Char('x'), KeyModifiers::NONE), None);
        assert_eq!(press(KeyCode::Char('e'), KeyModifiers::CONTROL), None);
        let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(action_for(release), None);
    }
}
