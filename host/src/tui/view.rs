//! How the terminal UI shows a [`ViewModel`] snapshot (see `model`): [`draw`] is a pure
//! function of it (no engine, no clock, no terminal), so the layout is tested with ratatui's
//! `TestBackend`.
//!
//! Layout, top to bottom: the track (title, artist, transport, progress), the cache map (warm
//! tier per variant, playhead marked), sound and output panels side by side, the queue, one
//! line for the latest notice, and the key help.

use std::time::Duration;

use hearth::Transport;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, List, ListItem, ListState, Padding, Paragraph};

pub use super::model::*;

const ACCENT: Color = Color::Cyan;
const ENHANCED: Color = Color::Magenta;
const DIM: Color = Color::DarkGray;
const PLAYHEAD: Color = Color::Yellow;
/// Width of the cache map's row labels.
const LABEL: usize = 10;

/// The keys, as shown in the help line.
const HELP: &[(&str, &str)] = &[
    ("space", "pause"),
    ("←/→", "±5 s"),
    ("⇧←/→", "±30 s"),
    ("0–9", "jump"),
    ("e", "enhance"),
    ("p/P", "preset"),
    ("[/]", "intensity"),
    ("+/−", "volume"),
    ("l", "loudness"),
    ("n/b", "next/prev"),
    ("w", "save queue"),
    ("q", "quit"),
];

/// Draws one frame.
pub fn draw(frame: &mut Frame, vm: &ViewModel) {
    let area = frame.area();
    let help = help_lines(area.width);
    let cache_rows = vm.cache.len().max(1) as u16;
    let [header, cache, panels, queue, notice, help_area] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Length(cache_rows + 3),
        Constraint::Length(7),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(help.len() as u16),
    ])
    .areas(area);
    draw_header(frame, header, vm);
    draw_cache(frame, cache, vm);
    let [sound, output] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(panels);
    draw_sound(frame, sound, vm);
    draw_output(frame, output, vm);
    draw_queue(frame, queue, vm);
    draw_notice(frame, notice, vm);
    frame.render_widget(Paragraph::new(help), help_area);
}

fn block(title: &str) -> Block<'_> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(DIM))
        .padding(Padding::horizontal(1))
        .title(Span::styled(
            format!(" {title} "),
            Style::new().fg(ACCENT).bold(),
        ))
}

fn draw_header(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let state = match (vm.transport, vm.buffering) {
        (Transport::Playing, true) => {
            Span::styled(" ⟳ buffering… ", Style::new().fg(PLAYHEAD).bold())
        }
        (Transport::Playing, false) => {
            Span::styled(" ▶ playing ", Style::new().fg(Color::Green).bold())
        }
        (Transport::Paused, _) => Span::styled(" ❚❚ paused ", Style::new().fg(PLAYHEAD).bold()),
        (Transport::Stopped, _) => Span::styled(" ■ stopped ", Style::new().fg(DIM).bold()),
    };
    let block = block("Hearth").title_top(Line::from(state).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (title, sub, duration) = match &vm.track {
        Some(t) => {
            let sub = match (&t.artist, &t.album) {
                (Some(a), Some(b)) if a != b => format!("{a} · {b}"),
                (Some(a), _) => a.clone(),
                (None, Some(b)) => b.clone(),
                (None, None) => String::new(),
            };
            (t.title.clone(), sub, t.duration)
        }
        None => ("Nothing playing".to_string(), String::new(), None),
    };
    let time = format!(
        "{} / {}",
        clock(vm.position),
        duration.map_or_else(|| "--:--".to_string(), clock)
    );
    let bar_width = (inner.width as usize).saturating_sub(time.chars().count() + 2);
    let fraction = duration
        .filter(|d| !d.is_zero())
        .map_or(0.0, |d| vm.position.as_secs_f64() / d.as_secs_f64());
    let (done, rest) = split_bar(fraction, bar_width);
    let lines = vec![
        Line::from(Span::styled(title, Style::new().bold())),
        Line::from(Span::styled(sub, Style::new().fg(Color::Gray))),
        Line::from(vec![
            Span::styled(time, Style::new().bold()),
            Span::raw("  "),
            Span::styled("━".repeat(done), Style::new().fg(ACCENT)),
            Span::styled("─".repeat(rest), Style::new().fg(DIM)),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `fraction` of `width` cells filled: (filled, empty).
fn split_bar(fraction: f64, width: usize) -> (usize, usize) {
    let done = ((fraction.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    (done, width - done)
}

fn draw_cache(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let legend = Line::from(vec![
        Span::styled("█", Style::new().fg(ACCENT)),
        Span::styled(" cached  ", Style::new().fg(DIM)),
        Span::styled("░", Style::new().fg(DIM)),
        Span::styled(" not yet ", Style::new().fg(DIM)),
    ])
    .right_aligned();
    let block = block("Cache map · warm tier").title_top(legend);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if vm.cache.is_empty() {
        let text = if vm.cache_problem.is_some() {
            "cache unavailable: decoding on demand"
        } else {
            "waiting for the track to open…"
        };
        frame.render_widget(Paragraph::new(text).fg(DIM), inner);
        return;
    }
    // label, bar, " 100%"
    let bar_width = (inner.width as usize).saturating_sub(LABEL + 6).max(1);
    let playhead = vm
        .track
        .as_ref()
        .and_then(|t| t.duration)
        .filter(|d| !d.is_zero())
        .map(|d| {
            let f = (vm.position.as_secs_f64() / d.as_secs_f64()).clamp(0.0, 1.0);
            ((f * bar_width as f64) as usize).min(bar_width - 1)
        });
    let mut lines: Vec<Line> = vm
        .cache
        .iter()
        .map(|row| cache_line(row, bar_width, playhead))
        .collect();
    if let Some(col) = playhead {
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(LABEL + col)),
            Span::styled("▲", Style::new().fg(PLAYHEAD)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One variant's row: label, a cell per column (full, partly or not cached), percentage.
fn cache_line(row: &CacheRow, width: usize, playhead: Option<usize>) -> Line<'static> {
    let colour = if row.enhanced { ENHANCED } else { ACCENT };
    let n = row.chunks.len();
    let mut spans = vec![Span::styled(
        format!("{:<LABEL$}", truncate(&row.label, LABEL - 1)),
        Style::new().fg(Color::Gray),
    )];
    for col in 0..width {
        let (symbol, mut style) = match cell_fill(&row.chunks, col, width) {
            f if f >= 1.0 => ("█", Style::new().fg(colour)),
            f if f > 0.0 => ("▒", Style::new().fg(colour)),
            _ => ("░", Style::new().fg(DIM)),
        };
        if playhead == Some(col) {
            style = style.fg(PLAYHEAD).add_modifier(Modifier::BOLD);
        }
        spans.push(Span::styled(symbol, style));
    }
    let present = row.chunks.iter().filter(|&&c| c).count();
    let pct = (present * 100).checked_div(n).unwrap_or(0);
    spans.push(Span::styled(
        format!(" {pct:>3}%"),
        Style::new().fg(Color::Gray),
    ));
    Line::from(spans)
}

/// Share of the chunks under column `col` (of `width`) that are cached.
fn cell_fill(chunks: &[bool], col: usize, width: usize) -> f64 {
    let n = chunks.len();
    if n == 0 || width == 0 {
        return 0.0;
    }
    let lo = col * n / width;
    let hi = ((col + 1) * n / width).max(lo + 1).min(n);
    let cached = chunks[lo..hi].iter().filter(|&&c| c).count();
    cached as f64 / (hi - lo) as f64
}

fn field(name: &str) -> Span<'static> {
    Span::styled(format!("{name:<13}"), Style::new().fg(Color::Gray))
}

fn draw_sound(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let e = vm.enhancement;
    let on = if e.on {
        Span::styled("● on", Style::new().fg(Color::Green).bold())
    } else {
        Span::styled("○ off", Style::new().fg(DIM).bold())
    };
    let (i_done, i_rest) = split_bar(f64::from(e.intensity), 10);
    let (v_done, v_rest) = split_bar(f64::from(vm.volume) / 4.0, 10);
    let volume = if vm.volume <= 0.0 {
        "muted".to_string()
    } else {
        format!(
            "{:.0}% ({:+.1} dB)",
            vm.volume * 100.0,
            20.0 * vm.volume.log10()
        )
    };
    let lines = vec![
        Line::from(vec![field("Enhancement"), on]),
        Line::from(vec![
            field("Preset"),
            Span::styled(e.preset.name(), Style::new().fg(ENHANCED).bold()),
        ]),
        Line::from(vec![
            field("Intensity"),
            Span::styled("■".repeat(i_done), Style::new().fg(ENHANCED)),
            Span::styled("·".repeat(i_rest), Style::new().fg(DIM)),
            Span::raw(format!(" {:.1}", e.intensity)),
        ]),
        Line::from(vec![
            field("Volume"),
            Span::styled("■".repeat(v_done), Style::new().fg(ACCENT)),
            Span::styled("·".repeat(v_rest), Style::new().fg(DIM)),
            Span::raw(format!(" {volume}")),
        ]),
        Line::from(vec![
            field("Loudness"),
            Span::raw(match vm.normalize {
                (hearth::Normalize::Off, _) => "off (as recorded)".to_string(),
                (mode, gain) => format!("{mode} ({gain:+.1} dB)"),
            }),
        ]),
    ];
    let block = block("Sound");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_output(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let lines = match &vm.output {
        Some(o) => {
            let buffer = match o.buffer_frames {
                Some(b) if o.rate > 0 => format!(
                    " · {b} frames ({:.1} ms)",
                    f64::from(b) * 1000.0 / f64::from(o.rate)
                ),
                Some(b) => format!(" · {b} frames"),
                None => String::new(),
            };
            let underruns = if o.underruns == 0 {
                Span::styled("0", Style::new().fg(Color::Green))
            } else {
                Span::styled(o.underruns.to_string(), Style::new().fg(Color::Red).bold())
            };
            let load_style = |l: f32| {
                Style::new().fg(if l >= 0.8 {
                    Color::Red
                } else if l >= 0.5 {
                    Color::Yellow
                } else {
                    Color::Reset
                })
            };
            vec![
                Line::from(vec![
                    field("Device"),
                    Span::raw(o.name.clone()).bold(),
                    match &o.fallback {
                        Some(why) => {
                            Span::styled(format!(" ({why})"), Style::new().fg(Color::Yellow))
                        }
                        None => Span::raw(""),
                    },
                ]),
                Line::from(vec![
                    field("Format"),
                    Span::raw(format!("{} Hz{buffer}", o.rate)),
                ]),
                Line::from(vec![field("Underruns"), underruns]),
                Line::from(vec![
                    field("Load"),
                    Span::styled(
                        format!("{:.0}%", o.load_last * 100.0),
                        load_style(o.load_last),
                    ),
                    Span::styled(
                        format!(" (max {:.0}%)", o.load_max * 100.0),
                        load_style(o.load_max),
                    ),
                ]),
            ]
        }
        None => vec![Line::from(Span::styled(
            "opening the output…",
            Style::new().fg(DIM),
        ))],
    };
    let block = block("Output");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_queue(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let n = vm.queue.len();
    let title = format!("Queue · {n} track{}", if n == 1 { "" } else { "s" });
    let block = block(&title);
    let inner = block.inner(area);
    let width = inner.width as usize;
    let digits = n.max(1).to_string().len();
    let items: Vec<ListItem> = vm
        .queue
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let (mark, mark_style) = match (&row.status, row.current) {
                (RowStatus::Failed(_), _) => ("✗", Style::new().fg(Color::Red)),
                (_, true) => ("▶", Style::new().fg(Color::Green)),
                _ => (" ", Style::new()),
            };
            let (right, right_style) = match &row.status {
                RowStatus::Pending => ("…".to_string(), Style::new().fg(DIM)),
                RowStatus::Ready(d) => (clock(*d), Style::new().fg(Color::Gray)),
                RowStatus::Failed(_) => ("failed".to_string(), Style::new().fg(Color::Red)),
            };
            let mut title = row.title.clone();
            if let RowStatus::Failed(why) = &row.status {
                title = format!("{title}: {why}");
            }
            let left = format!("{mark} {:>digits$}  ", i + 1);
            let room = width.saturating_sub(left.chars().count() + right.chars().count() + 1);
            let title = truncate(&title, room);
            let pad = room.saturating_sub(title.chars().count());
            let title_style = match (&row.status, row.current) {
                (RowStatus::Failed(_), _) => Style::new().fg(Color::Red),
                (_, true) => Style::new().bold(),
                _ => Style::new(),
            };
            ListItem::new(Line::from(vec![
                Span::styled(left, mark_style),
                Span::styled(title, title_style),
                Span::raw(" ".repeat(pad + 1)),
                Span::styled(right, right_style),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(vm.queue.iter().position(|r| r.current));
    frame.render_stateful_widget(
        List::new(items)
            .block(block)
            .highlight_style(Style::new().bg(Color::Rgb(40, 40, 48))),
        area,
        &mut state,
    );
}

fn draw_notice(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let line = match (&vm.notice, &vm.cache_problem) {
        (Some(n), _) if n.error => Line::from(vec![
            Span::styled(" ✗ ", Style::new().fg(Color::Red).bold()),
            Span::styled(n.text.clone(), Style::new().fg(Color::Red)),
        ]),
        (Some(n), _) => Line::from(Span::styled(
            format!(" {}", n.text),
            Style::new().fg(Color::Gray),
        )),
        (None, Some(why)) => Line::from(Span::styled(
            format!(" cache unavailable ({why}): decoding on demand"),
            Style::new().fg(Color::Yellow),
        )),
        (None, None) => Line::default(),
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The help, packed into as few lines as the width allows (at most 3).
fn help_lines(width: u16) -> Vec<Line<'static>> {
    let width = width as usize;
    let mut lines: Vec<Vec<Span<'static>>> = vec![vec![Span::raw(" ")]];
    let mut used = 1;
    for (key, what) in HELP {
        let len = key.chars().count() + 1 + what.chars().count() + 2;
        if used + len > width && used > 1 {
            if lines.len() == 3 {
                break;
            }
            lines.push(vec![Span::raw(" ")]);
            used = 1;
        }
        if let Some(line) = lines.last_mut() {
            line.push(Span::styled(*key, Style::new().fg(ACCENT).bold()));
            line.push(Span::styled(format!(" {what}  "), Style::new().fg(DIM)));
        }
        used += len;
    }
    lines.into_iter().map(Line::from).collect()
}

/// "3:05", or "1:02:03" from an hour.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// At most `max` characters, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth::Preset;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn sample() -> ViewModel {
        ViewModel {
            track: Some(TrackView {
                title: "Embers at Dusk".into(),
                artist: Some("Hearth".into()),
                album: Some("Demos".into()),
                duration: Some(Duration::from_secs(40)),
            }),
            transport: Transport::Playing,
            buffering: false,
            position: Duration::from_secs(12),
            cache: vec![
                CacheRow {
                    label: "original".into(),
                    chunks: (0..40).map(|i| i < 20).collect(),
                    enhanced: false,
                },
                CacheRow {
                    label: "warm".into(),
                    chunks: (0..40).map(|i| i < 10).collect(),
                    enhanced: true,
                },
            ],
            enhancement: EnhancementView {
                on: true,
                preset: Preset::Warm,
                intensity: 0.7,
            },
            volume: 1.0,
            normalize: (hearth::Normalize::Track, -4.2),
            output: Some(OutputView {
                name: "null".into(),
                rate: 48_000,
                buffer_frames: Some(512),
                underruns: 3,
                load_last: 0.04,
                load_max: 0.25,
                fallback: None,
            }),
            cache_problem: None,
            queue: vec![
                QueueRow {
                    title: "Embers at Dusk · Hearth".into(),
                    status: RowStatus::Ready(Duration::from_secs(40)),
                    current: true,
                },
                QueueRow {
                    title: "broken.flac".into(),
                    status: RowStatus::Failed("not audio".into()),
                    current: false,
                },
                QueueRow {
                    title: "later.flac".into(),
                    status: RowStatus::Pending,
                    current: false,
                },
            ],
            notice: Some(Notice {
                text: "broken.flac: not audio".into(),
                error: true,
            }),
        }
    }

    /// Draws `vm` on a `w`×`h` test terminal and returns the screen's rows as text.
    fn render(vm: &ViewModel, w: u16, h: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| draw(f, vm)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buffer.cell((x, y)).map_or(" ", |c| c.symbol()))
                    .collect()
            })
            .collect()
    }

    fn row_with<'a>(screen: &'a [String], needle: &str) -> &'a str {
        screen
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", screen.join("\n")))
    }

    #[test]
    fn shows_every_part() {
        let screen = render(&sample(), 100, 30);
        let text = screen.join("\n");
        for needle in [
            "Embers at Dusk",
            "Hearth · Demos",
            "▶ playing",
            "0:12 / 0:40",
            "Cache map",
            "original",
            "Enhancement",
            "● on",
            "warm",
            "0.7",
            "100% (+0.0 dB)",
            "track (-4.2 dB)",
            "null",
            "48000 Hz · 512 frames (10.7 ms)",
            "Underruns",
            "4% (max 25%)",
            "Queue · 3 tracks",
            "broken.flac: not audio",
            "space pause",
            "q quit",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        // The current entry is marked, the failed one flagged, durations shown.
        assert!(row_with(&screen, "1  Embers at Dusk · Hearth").contains("▶"));
        assert!(row_with(&screen, "1  Embers at Dusk · Hearth").contains("0:40"));
        assert!(row_with(&screen, "2  broken.flac").contains("✗"));
        assert!(row_with(&screen, "3  later.flac").contains("…"));
    }

    #[test]
    fn cache_map_scales_chunks_and_marks_the_playhead() {
        let screen = render(&sample(), 100, 30);
        let original = row_with(&screen, "original  ");
        let full = original.matches('█').count();
        let empty = original.matches('░').count();
        // Half of the chunks are cached: half of the cells are full.
        assert!(full.abs_diff(empty) <= 2, "{original}");
        assert!(original.contains(" 50%"), "{original}");
        assert!(row_with(&screen, "warm      █").contains(" 25%"));
        // The marker sits under the playhead: 12 s of 40 s.
        let marker = row_with(&screen, "▲");
        let is_bar = |c: char| matches!(c, '█' | '▒' | '░');
        let bar_start = original.chars().position(is_bar).unwrap_or(0);
        let bar_width = original.chars().filter(|&c| is_bar(c)).count();
        let col = marker.chars().position(|c| c == '▲').unwrap_or(0);
        let expected = bar_start + bar_width * 12 / 40;
        assert!(
            col.abs_diff(expected) <= 1,
            "▲ at {col}, expected ≈ {expected}"
        );
    }

    #[test]
    fn cell_fill_covers_every_chunk() {
        let chunks = [true, false, true, true];
        // More columns than chunks: each column is one chunk.
        let cols: Vec<f64> = (0..8).map(|c| cell_fill(&chunks, c, 8)).collect();
        assert_eq!(cols, vec![1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        // Fewer columns: each column averages its chunks.
        assert_eq!(cell_fill(&chunks, 0, 2), 0.5);
        assert_eq!(cell_fill(&chunks, 1, 2), 1.0);
        assert_eq!(cell_fill(&[], 0, 2), 0.0);
    }

    #[test]
    fn states_and_labels_change_with_the_model() {
        let mut vm = sample();
        vm.transport = Transport::Paused;
        vm.enhancement.on = false;
        vm.volume = 0.0;
        vm.notice = None;
        vm.cache_problem = Some("disk full".into());
        if let Some(o) = vm.output.as_mut() {
            o.fallback = Some("none found".into());
        }
        let text = render(&vm, 100, 30).join("\n");
        assert!(text.contains("❚❚ paused"), "{text}");
        assert!(text.contains("○ off") && !text.contains("● on"), "{text}");
        assert!(text.contains("muted"), "{text}");
        assert!(text.contains("cache unavailable (disk full)"), "{text}");
        assert!(text.contains("null (none found)"), "{text}");

        vm.transport = Transport::Playing;
        vm.buffering = true;
        vm.track = None;
        vm.cache.clear();
        vm.output = None;
        let text = render(&vm, 100, 30).join("\n");
        assert!(text.contains("buffering"), "{text}");
        assert!(text.contains("Nothing playing"), "{text}");
        assert!(text.contains("opening the output"), "{text}");
    }

    #[test]
    fn small_and_narrow_terminals_do_not_panic() {
        let vm = sample();
        for (w, h) in [(20, 8), (40, 12), (60, 20), (1, 1), (200, 60)] {
            let screen = render(&vm, w, h);
            assert_eq!(screen.len(), h as usize);
        }
        // The help wraps rather than being cut.
        let narrow = render(&vm, 60, 30).join("\n");
        assert!(
            narrow.contains("space pause") && narrow.contains("q quit"),
            "{narrow}"
        );
    }

    #[test]
    fn long_queues_scroll_to_the_current_entry() {
        let mut vm = sample();
        vm.queue = (0..50)
            .map(|i| QueueRow {
                title: format!("Track {i}"),
                status: RowStatus::Ready(Duration::from_secs(200 + i)),
                current: i == 42,
            })
            .collect();
        let screen = render(&vm, 100, 30);
        assert!(row_with(&screen, "Track 42").contains("▶"));
    }

    #[test]
    fn clocks_and_truncation() {
        assert_eq!(clock(Duration::from_secs(0)), "0:00");
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("abc", 0), "");
    }
}
