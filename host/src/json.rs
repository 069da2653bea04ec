//! `hearth play --json`: a line-based JSON control protocol, in the spirit of mpv's JSON IPC.
//!
//! Commands arrive on stdin, one JSON object per line; events leave on stdout, one per line.
//! Every command is answered with `{"event":"ack","cmd":...}` (with any data it asked for) or
//! `{"event":"error",...}`; a line that is not a command gets an error and the player keeps
//! going. Commands may carry an `"id"`, echoed in the answer. The full list is in the README.
//!
//! The player exits on `{"cmd":"quit"}`, or once stdin is closed and the queue has ended.

use std::io::{BufRead, Write};
use std::time::Duration;

use crossbeam_channel::{Receiver, select};
use hearth::{Engine, EntryId, EntryStatus, Event, Preset, Transport};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::failure::Failure;

/// Runs the protocol until `quit` (or end of input and of the queue).
pub fn run(engine: &Engine, events: &Receiver<Event>, settings: &Settings) -> Result<(), Failure> {
    let (lines_tx, lines) = crossbeam_channel::unbounded::<Option<String>>();
    std::thread::Builder::new()
        .name("hearth-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                match line {
                    Ok(l) => {
                        if lines_tx.send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = lines_tx.send(None);
        })
        .map_err(|e| Failure::other("stdin", e))?;
    let mut out = Out::new();
    // A resumed session that was paused stays paused until the client says `play`.
    if !settings.start_paused {
        engine.play().map_err(|e| Failure::other("play", e))?;
    }
    let input_open = true;
    let mut queue_ended = false;
    loop {
        select! {
            recv(events) -> e => match e {
                Ok(event) => {
                    if matches!(event, Event::QueueEnded) {
                        queue_ended = true;
                    }
                    if let Some(v) = event_json(engine, &event) {
                        out.line(&v);
                    }
                    if queue_ended && !input_open {
                        return Ok(());
                    }
                }
                Err(_) => return Ok(()),
            },
            recv(lines) -> l => match l {
                Ok(Some(line)) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match handle(engine, &line) {
                        Reply::Ack(v) => out.line(&v),
                        Reply::Error(v) => out.line(&v),
                        Reply::Quit(v) => {
                            out.line(&v);
                            return Ok(());
                        }
                    }
                    if matches!(engine.transport(), Transport::Playing) {
                        queue_ended = false;
                    }
                }
                Ok(None) | Err(_) => {
                    if queue_ended || engine.queue().is_empty() {
                        return Ok(());
                    }
                    // Keep playing; nothing more will arrive on this channel.
                    let (_, never) = crossbeam_channel::bounded::<Option<String>>(0);
                    return drain_until_end(engine, events, &mut out, never);
                }
            },
        }
    }
}

/// After stdin closed: forward events until the queue ends.
fn drain_until_end(
    engine: &Engine,
    events: &Receiver<Event>,
    out: &mut Out,
    _never: Receiver<Option<String>>,
) -> Result<(), Failure> {
    loop {
        match events.recv_timeout(Duration::from_millis(500)) {
            Ok(e) => {
                let end = matches!(e, Event::QueueEnded);
                if let Some(v) = event_json(engine, &e) {
                    out.line(&v);
                }
                if end {
                    return Ok(());
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if engine.transport() == Transport::Stopped && engine.position().is_none() {
                    return Ok(());
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

struct Out {
    stdout: std::io::Stdout,
}

impl Out {
    fn new() -> Self {
        Out {
            stdout: std::io::stdout(),
        }
    }

    fn line(&mut self, v: &Value) {
        let mut lock = self.stdout.lock();
        let _ = writeln!(lock, "{v}");
        let _ = lock.flush();
    }
}

enum Reply {
    Ack(Value),
    Error(Value),
    Quit(Value),
}

fn error(cmd: Option<&str>, id: Option<&Value>, message: impl std::fmt::Display) -> Reply {
    let mut v = json!({"event": "error", "message": message.to_string()});
    if let Some(c) = cmd {
        v["cmd"] = json!(c);
    }
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    Reply::Error(v)
}

/// Handles one command line.
fn handle(engine: &Engine, line: &str) -> Reply {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return error(
                None,
                None,
                format!("malformed command line ({e}): {}", truncate(line)),
            );
        }
    };
    let id = v.get("id");
    let Some(cmd) = v.get("cmd").and_then(Value::as_str) else {
        return error(None, id, "a command needs a \"cmd\" string");
    };
    let ack = |extra: Value| {
        let mut a = json!({"event": "ack", "cmd": cmd});
        if let (Some(obj), Value::Object(e)) = (a.as_object_mut(), extra) {
            obj.extend(e);
        }
        if let Some(id) = id {
            a["id"] = id.clone();
        }
        Reply::Ack(a)
    };
    let num = |key: &str| v.get(key).and_then(Value::as_f64);
    let result: Result<Value, String> = (|| {
        let eng = |r: Result<(), hearth::EngineError>| r.map_err(|e| e.to_string());
        match cmd {
            "play" => eng(engine.play()).map(|_| json!({})),
            "pause" => eng(engine.pause()).map(|_| json!({})),
            "toggle" => eng(engine.toggle_pause()).map(|_| json!({})),
            "stop" => eng(engine.stop()).map(|_| json!({})),
            "next" => eng(engine.next()).map(|_| json!({})),
            "previous" => eng(engine.previous()).map(|_| json!({})),
            "seek" => {
                if let Some(s) = num("seconds") {
                    if !(s.is_finite() && s >= 0.0) {
                        return Err(format!("seconds must be ≥ 0, not {s}"));
                    }
                    eng(engine.seek(Duration::from_secs_f64(s))).map(|_| json!({"seconds": s}))
                } else if let Some(r) = num("relative") {
                    if !r.is_finite() {
                        return Err("relative must be a number".into());
                    }
                    eng(engine.seek_relative(r)).map(|_| json!({"relative": r}))
                } else {
                    Err("seek needs \"seconds\" (absolute) or \"relative\"".into())
                }
            }
            "enhance" => {
                let on = v
                    .get("on")
                    .and_then(Value::as_bool)
                    .ok_or("enhance needs \"on\": true or false")?;
                engine.set_enhancement(on);
                Ok(json!({"on": on}))
            }
            "preset" => {
                let name = v
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("preset needs \"name\"")?;
                let p: Preset = name
                    .parse()
                    .map_err(|e: hearth::UnknownPreset| e.to_string())?;
                engine.set_preset(p);
                Ok(json!({"name": p.name()}))
            }
            "intensity" => {
                let x = num("value").ok_or("intensity needs \"value\" (0.0–1.0)")?;
                if !(0.0..=1.0).contains(&x) {
                    return Err(format!("intensity {x} is outside 0.0–1.0"));
                }
                engine.set_intensity(x as f32);
                Ok(json!({"value": x}))
            }
            "normalize" => {
                let mode = v
                    .get("mode")
                    .and_then(Value::as_str)
                    .ok_or("normalize needs \"mode\": \"off\", \"track\" or \"album\"")?;
                let n: hearth::Normalize = mode
                    .parse()
                    .map_err(|e: hearth::UnknownNormalize| e.to_string())?;
                engine.set_normalize(n);
                Ok(json!({"mode": n.name()}))
            }
            "volume" => {
                let x = num("value").ok_or("volume needs \"value\" (0.0–4.0)")?;
                if !(0.0..=4.0).contains(&x) {
                    return Err(format!("volume {x} is outside 0.0–4.0"));
                }
                engine.set_volume(x as f32);
                Ok(json!({"value": x}))
            }
            "enqueue" | "load" => {
                let path = v
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or("needs \"path\"")?;
                let id = if cmd == "load" {
                    engine.load(path)
                } else {
                    engine.enqueue(path)
                }
                .map_err(|e| e.to_string())?;
                Ok(json!({"entry": id.0, "path": path}))
            }
            "play_entry" => {
                let e = v
                    .get("entry")
                    .and_then(Value::as_u64)
                    .ok_or("play_entry needs \"entry\"")?;
                eng(engine.play_entry(EntryId(e))).map(|_| json!({"entry": e}))
            }
            "save" => {
                let path = v
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or("save needs \"path\" (a .m3u8 file)")?;
                let n = crate::playlist::save_queue(engine, std::path::Path::new(path))
                    .map_err(|e| e.to_string())?;
                Ok(json!({"path": path, "entries": n}))
            }
            "queue" => Ok(json!({"queue": queue_json(engine)})),
            "status" => Ok(status_json(engine)),
            "stats" => {
                Ok(json!({"stats": serde_json::to_value(engine.cache_stats()).unwrap_or_default()}))
            }
            "quit" => Ok(json!({})),
            other => Err(format!("unknown command '{other}'")),
        }
    })();
    match result {
        Ok(extra) if cmd == "quit" => match ack(extra) {
            Reply::Ack(a) => Reply::Quit(a),
            r => r,
        },
        Ok(extra) => ack(extra),
        Err(m) => error(Some(cmd), id, m),
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 120 {
        let mut cut = 120;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &s[..cut])
    } else {
        s.to_string()
    }
}

fn queue_json(engine: &Engine) -> Value {
    let current = engine.current();
    Value::Array(
        engine
            .queue()
            .iter()
            .map(|e| {
                let (status, duration, title, artist) = match &e.status {
                    EntryStatus::Pending => ("pending", None, None, None),
                    EntryStatus::Ready(m) => (
                        "ready",
                        Some(m.duration.as_secs_f64()),
                        m.info.tags.title.clone(),
                        m.info.tags.artist.clone(),
                    ),
                    EntryStatus::Failed(_) => ("failed", None, None, None),
                };
                json!({
                    "entry": e.id.0, "path": e.path.display().to_string(), "status": status,
                    "duration": duration, "title": title, "artist": artist,
                    "current": Some(e.id) == current,
                })
            })
            .collect(),
    )
}

fn status_json(engine: &Engine) -> Value {
    let (on, preset, intensity) = engine.enhancement();
    let (entry, seconds) = engine
        .position()
        .map_or((None, 0.0), |(e, t)| (Some(e.0), t.as_secs_f64()));
    let output = engine.output_info();
    let stats = engine.output_stats();
    json!({
        "state": transport_name(engine.transport()),
        "entry": entry,
        "seconds": seconds,
        "enhance": on, "preset": preset.name(), "intensity": intensity,
        "volume": engine.volume(),
        "normalize": engine.normalize().name(),
        "normalize_gain_db": round3(f64::from(engine.normalize_gain_db())),
        "rate": engine.rate(),
        "output": output.as_ref().map(|o| o.name.clone()),
        "buffer": output.as_ref().and_then(|o| o.buffer_frames),
        "underruns": stats.as_ref().map(|s| s.underruns()),
    })
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Playing => "playing",
        Transport::Paused => "paused",
        Transport::Stopped => "stopped",
    }
}

/// An event as a protocol line (`None` for events the protocol does not carry).
pub fn event_json(engine: &Engine, e: &Event) -> Option<Value> {
    Some(match e {
        Event::Position {
            entry,
            seconds,
            duration,
        } => {
            json!({"event": "position", "entry": entry.0, "seconds": round3(*seconds), "duration": duration})
        }
        Event::TrackStarted { entry, path, meta } => {
            let tags = meta.as_ref().map(|m| &m.info.tags);
            json!({
                "event": "track", "entry": entry.0, "path": path.display().to_string(),
                "title": tags.and_then(|t| t.title.clone()), "artist": tags.and_then(|t| t.artist.clone()),
                "duration": meta.as_ref().map(|m| m.duration.as_secs_f64()),
            })
        }
        Event::TrackEnded { entry } => json!({"event": "track_end", "entry": entry.0}),
        Event::QueueEnded => json!({"event": "queue_end"}),
        Event::TrackReady { entry, meta } => json!({
            "event": "ready", "entry": entry.0, "path": meta.info.path.display().to_string(),
            "duration": meta.duration.as_secs_f64(), "title": meta.info.tags.title, "artist": meta.info.tags.artist,
        }),
        Event::Buffering { entry, seconds } => {
            json!({"event": "buffering", "entry": entry.0, "seconds": round3(*seconds)})
        }
        Event::Recovered { entry } => json!({"event": "recovered", "entry": entry.0}),
        Event::Seeked {
            entry,
            seconds,
            latency,
        } => json!({
            "event": "seeked", "entry": entry.0, "seconds": round3(*seconds),
            "latency_ms": round3(latency.as_secs_f64() * 1000.0),
        }),
        Event::Transport { state } => json!({"event": "state", "state": transport_name(*state)}),
        Event::Enhancement {
            on,
            preset,
            intensity,
        } => {
            json!({"event": "enhancement", "on": on, "preset": preset.name(), "intensity": intensity})
        }
        Event::CacheProgress {
            entry,
            track,
            variant,
            present,
            total,
        } => json!({
            "event": "cache", "entry": entry.map(|e| e.0), "track": track.to_string(),
            "variant": variant.to_string(), "present": present, "total": total,
        }),
        Event::CacheStatus { healthy, reason } => {
            json!({"event": "cache_status", "healthy": healthy, "reason": reason})
        }
        Event::Underrun { total } => json!({"event": "underrun", "total": total}),
        Event::Device {
            name,
            rate,
            buffer_frames,
        } => {
            json!({"event": "device", "name": name, "rate": rate, "buffer": buffer_frames})
        }
        Event::DeviceLost { name, reason } => {
            json!({"event": "device_lost", "name": name, "reason": reason})
        }
        Event::DeviceRestored { name, reason } => {
            json!({"event": "device_restored", "name": name, "reason": reason})
        }
        Event::Error { entry, message } => {
            json!({"event": "error", "entry": entry.map(|e| e.0), "message": message})
        }
        _ => {
            let _ = engine;
            return None;
        }
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
