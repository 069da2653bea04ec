use super::*;

fn sample(dir: &Path) -> Saved {
    Saved {
        queue: vec![dir.join("one.flac"), dir.join("twö – 2.flac")],
        current: Some(1),
        position: Duration::from_millis(75_250),
        paused: true,
        enhance: false,
        preset: Preset::Warm,
        intensity: 0.4,
        volume: 0.7,
    }
}

#[test]
fn a_session_round_trips_through_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/hearth/session.json");
    let s = sample(dir.path());
    write(&path, &s).unwrap();
    assert_eq!(load(&path), Loaded::Found(s.clone()));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["position_seconds"], 75.25);
    assert_eq!(v["preset"], "warm");
    // Overwriting replaces it whole.
    let t = Saved {
        current: None,
        paused: false,
        ..s
    };
    write(&path, &t).unwrap();
    assert_eq!(load(&path), Loaded::Found(t));
}

#[test]
fn writes_are_atomic_and_leave_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.json");
    for _ in 0..3 {
        write(&path, &sample(dir.path())).unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["session.json"]);
    // A write that cannot happen (the target is a directory) fails, leaves the directory
    // as it was and no temporary file behind.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir_all(blocked.join("session.json")).unwrap();
    assert!(write(&blocked.join("session.json"), &sample(dir.path())).is_err());
    let left: Vec<_> = std::fs::read_dir(&blocked).unwrap().collect();
    assert_eq!(left.len(), 1);
    // A killed writer's old temporary file is cleared when a keeper starts; a fresh one
    // (another Hearth writing right now) is left alone.
    let stale = dir.path().join(".session.json.abc123.tmp");
    std::fs::write(&stale, "{").unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let fresh = dir.path().join(".session.json.def456.tmp");
    std::fs::write(&fresh, "{").unwrap();
    remove_stale_temporaries(&path);
    assert!(!stale.exists());
    assert!(fresh.exists());
}

#[test]
fn damaged_files_are_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample(dir.path()).to_json();
    let edit = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replacen(from, to, 1)
    };
    let cases: Vec<(String, &str)> = vec![
        ("{\"version\": 1, \"queue\": [".into(), "not JSON"),
        (String::new(), "not JSON"),
        ("[1, 2, 3]".into(), "version"),
        ("{}".into(), "version"),
        (edit("\"version\": 1", "\"version\": 2"), "version 2"),
        (edit("\"version\": 1", "\"version\": \"1\""), "version"),
        (
            edit("\"paused\": true", "\"paused\": \"yes\""),
            "invalid type",
        ),
        (
            edit(
                "\"position_seconds\": 75.25",
                "\"position_seconds\": \"75\"",
            ),
            "invalid type",
        ),
        (
            edit("\"position_seconds\": 75.25", "\"position_seconds\": -3.0"),
            "position",
        ),
        (edit("\"current\": 1", "\"current\": 7"), "current"),
        (edit("\"current\": 1", "\"current\": -1"), "invalid value"),
        (
            edit("\"intensity\": 0.4", "\"intensity\": 1.5"),
            "intensity",
        ),
        (edit("\"volume\": 0.7", "\"volume\": 9"), "volume"),
        (
            edit("\"preset\": \"warm\"", "\"preset\": \"loudest\""),
            "preset",
        ),
        (edit("\"enhance\": false,", ""), "missing field"),
    ];
    for (text, want) in cases {
        let why = Saved::parse(&text).err().unwrap_or_default();
        assert!(
            why.contains(want),
            "{text:?}: {why:?} should mention {want}"
        );
        // One line, naming the file.
        let path = dir.path().join("session.json");
        std::fs::write(&path, &text).unwrap();
        let loaded = load(&path);
        assert_eq!(loaded, Loaded::Damaged(why.clone()));
        let line = notice(&path, &loaded, Resume::Config).unwrap_or_default();
        assert!(
            line.contains("is damaged") && line.contains("session.json"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
    std::fs::write(dir.path().join("session.json"), [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(
        load(&dir.path().join("session.json")),
        Loaded::Damaged(_)
    ));
}

#[test]
fn a_missing_session_is_said_only_when_asked_for_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.json");
    assert_eq!(load(&path), Loaded::Missing);
    assert!(notice(&path, &Loaded::Missing, Resume::Flag).is_some());
    assert_eq!(notice(&path, &Loaded::Missing, Resume::Config), None);
}

#[test]
fn gone_files_are_reported_once_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = ["a.flac", "b.flac", "c.flac"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    for f in &files {
        std::fs::write(f, b"x").unwrap();
    }
    let saved = |current| Saved {
        queue: files.clone(),
        current,
        position: Duration::from_secs(42),
        ..sample(dir.path())
    };
    // All there: unchanged.
    let mut lines = Vec::new();
    let r = check(saved(Some(1)), &mut |l| lines.push(l)).unwrap();
    assert_eq!(
        (r.current, r.position, r.paths.len()),
        (1, Duration::from_secs(42), 3)
    );
    assert!(lines.is_empty());
    // The current one gone: the next remaining one, at 0 s.
    std::fs::remove_file(&files[1]).unwrap();
    let r = check(saved(Some(1)), &mut |l| lines.push(l)).unwrap();
    assert_eq!(r.paths, [files[0].clone(), files[2].clone()]);
    assert_eq!((r.current, r.position), (1, Duration::ZERO));
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("b.flac"), "{lines:?}");
    // Another one gone before the current one: the position stays.
    let r = check(saved(Some(2)), &mut |_| {}).unwrap();
    assert_eq!((r.current, r.position), (1, Duration::from_secs(42)));
    // The last one (current) gone: from the top.
    std::fs::remove_file(&files[2]).unwrap();
    let r = check(saved(Some(2)), &mut |_| {}).unwrap();
    assert_eq!(
        (r.current, r.position, r.paths.len()),
        (0, Duration::ZERO, 1)
    );
    // All gone: nothing to restore, said.
    std::fs::remove_file(&files[0]).unwrap();
    let mut lines = Vec::new();
    assert_eq!(check(saved(Some(0)), &mut |l| lines.push(l)), None);
    assert_eq!(lines.len(), 4, "{lines:?}");
}

#[test]
fn flags_win_over_the_session_and_paused_needs_controls() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.flac"), b"x").unwrap();
    std::fs::write(dir.path().join("twö – 2.flac"), b"x").unwrap();
    let r = check(sample(dir.path()), &mut |_| {}).unwrap();
    let base = Settings::resolve(
        Some(dir.path()),
        &PlaybackOpts::default(),
        &crate::config::FileConfig::default(),
    )
    .unwrap();
    let s = r.settings(base, &PlaybackOpts::default(), true);
    assert_eq!(
        (s.enhance, s.preset, s.intensity, s.volume, s.start_paused),
        (false, Preset::Warm, 0.4, 0.7, true)
    );
    assert_eq!(engine_settings(&s).volume, 0.0);
    // `--volume 0.2` on the command line: the flag's value stays.
    let flags = PlaybackOpts {
        volume: Some(0.2),
        ..PlaybackOpts::default()
    };
    let with_flag = Settings::resolve(
        Some(dir.path()),
        &flags,
        &crate::config::FileConfig::default(),
    )
    .unwrap();
    let s = r.settings(with_flag, &flags, false);
    assert_eq!((s.volume, s.start_paused), (0.2, false));
    assert_eq!(engine_settings(&s).volume, 0.2);
}
