use super::*;

fn texts(entries: &[RawEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.text.as_str()).collect()
}

#[test]
fn formats_by_extension_any_case() {
    assert_eq!(format_of(Path::new("a/List.M3U8")), Some(Format::M3u));
    assert_eq!(format_of(Path::new("x.m3u")), Some(Format::M3u));
    assert_eq!(format_of(Path::new("x.PLS")), Some(Format::Pls));
    assert_eq!(format_of(Path::new("x.flac")), None);
    assert_eq!(format_of(Path::new("m3u")), None);
}

#[test]
fn m3u_entries_titles_comments_and_blank_lines() {
    let text = "#EXTM3U\n\n# a comment\n#EXTINF:123,Artist - Song, with comma\nsong.flac\n\
                #EXTGRP:whatever\nno title.mp3\n#EXTINF:-1 tvg-id=\"x\",Radio\n  spaced.ogg  \n";
    let e = parse_m3u(text).unwrap();
    assert_eq!(texts(&e), ["song.flac", "no title.mp3", "spaced.ogg"]);
    assert_eq!(e[0].title.as_deref(), Some("Artist - Song, with comma"));
    assert_eq!(e[0].line, 5);
    assert_eq!(e[1].title, None, "a title belongs to the next entry only");
    assert_eq!(e[2].title.as_deref(), Some("Radio"));
}

#[test]
fn bom_and_crlf_and_cr_only() {
    let bytes = b"\xEF\xBB\xBF#EXTM3U\r\n#EXTINF:1,T\r\na.flac\r\nb.flac\r\n";
    let (text, enc) = decode(bytes).unwrap();
    assert_eq!(enc, Encoding::Utf8);
    let e = parse_m3u(&text).unwrap();
    assert_eq!(texts(&e), ["a.flac", "b.flac"]);
    assert_eq!(e[0].line, 3);
    // A BOM with no header: the first entry's name must not carry it.
    let (text, _) = decode(b"\xEF\xBB\xBFfirst.flac\n").unwrap();
    assert_eq!(texts(&parse_m3u(&text).unwrap()), ["first.flac"]);
    // Classic Mac OS line ends.
    assert_eq!(
        texts(&parse_m3u("a.flac\rb.flac\r").unwrap()),
        ["a.flac", "b.flac"]
    );
}

#[test]
fn latin1_falls_back_byte_to_char() {
    // "Été.mp3" in ISO 8859-1: not valid UTF-8.
    let (text, enc) = decode(b"#EXTM3U\n\xC9t\xE9.mp3\n").unwrap();
    assert_eq!(enc, Encoding::Latin1);
    assert_eq!(texts(&parse_m3u(&text).unwrap()), ["Été.mp3"]);
    // Valid UTF-8 stays UTF-8.
    let (text, enc) = decode("Été.mp3\n".as_bytes()).unwrap();
    assert_eq!((text.as_str(), enc), ("Été.mp3\n", Encoding::Utf8));
}

#[cfg(unix)]
#[test]
fn latin1_names_on_disk_are_found_by_their_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"\xC9t\xE9.flac");
    std::fs::write(dir.path().join(name), b"x").unwrap();
    let list = dir.path().join("old.m3u");
    std::fs::write(&list, b"\xC9t\xE9.flac\n").unwrap();
    let items = read(&list).unwrap();
    assert_eq!(items[0].target, Target::Path(dir.path().join(name)));
}

#[test]
fn utf16_with_bom_and_binary_files() {
    let mut bytes = vec![0xFF, 0xFE];
    for u in "a.flac\r\nÉ.flac\r\n".encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    let (text, enc) = decode(&bytes).unwrap();
    assert_eq!(enc, Encoding::Utf16);
    assert_eq!(texts(&parse_m3u(&text).unwrap()), ["a.flac", "É.flac"]);
    assert!(matches!(decode(b"fLaC\0\0\x01"), Err(ReadError::Binary)));
    assert!(matches!(decode(&[0xFF, 0xFE, 1]), Err(ReadError::BadUtf16)));
}

#[test]
fn hls_manifests_are_streams() {
    let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nseg0.ts\n";
    let err = parse_m3u(text).unwrap_err();
    assert!(
        err.to_string().contains("streams are not supported"),
        "{err}"
    );
}

#[test]
fn pls_orders_by_number_with_titles() {
    let text = "[playlist]\r\nNumberOfEntries=3\r\nFile2=b.mp3\r\nTitle2=Bee\r\nfile10=j.mp3\r\n\
                File1=a.mp3\r\nLength1=100\r\n; comment\r\nFile3=\r\nVersion=2\r\n";
    let e = parse_pls(text).unwrap();
    assert_eq!(texts(&e), ["a.mp3", "b.mp3", "j.mp3"]);
    assert_eq!(e[1].title.as_deref(), Some("Bee"));
    assert_eq!(e[0].title, None);
    assert_eq!(e[0].line, 6);
}

#[test]
fn pls_ignores_other_sections_and_needs_its_own() {
    let text = "[other]\nFile1=x.mp3\n[playlist]\nFile1=a.mp3\n";
    assert_eq!(texts(&parse_pls(text).unwrap()), ["a.mp3"]);
    assert!(matches!(parse_pls("hello\n"), Err(ReadError::NotPls)));
    assert!(
        parse_pls("[playlist]\nNumberOfEntries=0\n")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn relative_absolute_and_windows_paths() {
    let base = Path::new("/music/lists");
    assert_eq!(
        target_of("a b/Été.flac", base),
        Target::Path("/music/lists/a b/Été.flac".into())
    );
    assert_eq!(
        target_of("../album/01.flac", base),
        Target::Path("/music/album/01.flac".into())
    );
    assert_eq!(
        target_of("/abs/x.flac", base),
        Target::Path("/abs/x.flac".into())
    );
    #[cfg(unix)]
    {
        assert_eq!(
            target_of("..\\album\\01.mp3", base),
            Target::Path("/music/album/01.mp3".into())
        );
        // A `/` says it is a Unix path: a backslash in it is part of a name.
        assert_eq!(
            target_of("./odd\\name.mp3", base),
            Target::Path("/music/lists/odd\\name.mp3".into())
        );
    }
    // `Artist: Title` is a file name, not a URL.
    assert_eq!(
        target_of("Artist: Title.mp3", base),
        Target::Path("/music/lists/Artist: Title.mp3".into())
    );
}

#[test]
fn urls_are_streams() {
    let base = Path::new("/m");
    for url in [
        "http://radio.example/stream",
        "HTTPS://x.example/a.mp3",
        "rtsp://cam/1",
        "mms://old/radio",
    ] {
        assert_eq!(target_of(url, base), Target::Stream(url.into()), "{url}");
    }
}

#[test]
fn file_urls_are_percent_decoded() {
    let base = Path::new("/m");
    assert_eq!(
        target_of("file:///home/u/M%C3%BAsica/a%20b%25.flac", base),
        Target::Path("/home/u/Música/a b%.flac".into())
    );
    assert_eq!(
        target_of("FILE://localhost/x/y.flac", base),
        Target::Path("/x/y.flac".into())
    );
    assert_eq!(
        target_of("file:/x/y.flac", base),
        Target::Path("/x/y.flac".into())
    );
    assert_eq!(
        target_of("file:///x/%23y.flac#frag", base),
        Target::Path("/x/#y.flac".into())
    );
    assert!(matches!(
        target_of("file://server/share/a.flac", base),
        Target::Invalid(why) if why.contains("another host")
    ));
    // A stray `%` is kept.
    assert_eq!(
        target_of("file:///x/100%.flac", base),
        Target::Path("/x/100%.flac".into())
    );
}

#[cfg(unix)]
#[test]
fn file_urls_carry_any_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let Target::Path(p) = target_of("file:///x/%FF.flac", Path::new("/")) else {
        panic!("not a path");
    };
    assert_eq!(p.as_os_str().as_bytes(), b"/x/\xFF.flac");
    // And `file_url` writes them back.
    assert_eq!(file_url(&p), "file:///x/%FF.flac");
}

#[test]
fn relative_paths_for_saving() {
    let rel = |t: &str, b: &str| relative_path(Path::new(t), Path::new(b));
    assert_eq!(rel("/a/b/c.flac", "/a/b"), Some("c.flac".into()));
    assert_eq!(rel("/a/x/c.flac", "/a/b"), Some("../x/c.flac".into()));
    assert_eq!(rel("/a/b/c.flac", "/a/b/d/e"), Some("../../c.flac".into()));
    assert_eq!(
        rel("/home/u/m.flac", "/tmp/lists"),
        None,
        "only the root in common"
    );
    assert_eq!(rel("/a", "/a"), None);
    assert_eq!(rel("a/c.flac", "/a"), None);
}

#[test]
fn rendering_escapes_what_would_not_read_back() {
    let dir = Path::new("/nonexistent-hearth-test/lists");
    let entry = |p: &str, secs, label: &str| SaveEntry {
        path: p.into(),
        seconds: secs,
        label: label.into(),
    };
    let text = render_m3u8(
        &[
            entry(
                "/nonexistent-hearth-test/music/Été 1.flac",
                Some(150.4),
                "A - T",
            ),
            entry("/elsewhere/x.flac", None, "x"),
            entry(
                "/nonexistent-hearth-test/lists/#1.flac",
                Some(2.6),
                "two\nlines",
            ),
            entry("/nonexistent-hearth-test/lists/a\\b.flac", None, "b"),
            entry("/nonexistent-hearth-test/lists/new\nline.flac", None, "n"),
        ],
        dir,
        dir,
    );
    assert_eq!(
        text,
        "#EXTM3U\n\
         #EXTINF:150,A - T\n../music/Été 1.flac\n\
         #EXTINF:-1,x\n/elsewhere/x.flac\n\
         #EXTINF:3,two lines\n./#1.flac\n\
         #EXTINF:-1,b\n./a\\b.flac\n\
         #EXTINF:-1,n\nfile:///nonexistent-hearth-test/lists/new%0Aline.flac\n"
    );
    // Each line reads back as the path it was written for.
    let back: Vec<Target> = parse_m3u(&text)
        .unwrap()
        .iter()
        .map(|e| target_of(&e.text, dir))
        .collect();
    let want: Vec<Target> = [
        "/nonexistent-hearth-test/music/Été 1.flac",
        "/elsewhere/x.flac",
        "/nonexistent-hearth-test/lists/#1.flac",
        "/nonexistent-hearth-test/lists/a\\b.flac",
        "/nonexistent-hearth-test/lists/new\nline.flac",
    ]
    .iter()
    .map(|p| Target::Path(p.into()))
    .collect();
    assert_eq!(back, want);
}

#[test]
fn saving_is_atomic_and_round_trips() {
    let root = tempfile::tempdir().unwrap();
    let music = root.path().join("music");
    let lists = root.path().join("lists");
    std::fs::create_dir_all(&music).unwrap();
    std::fs::create_dir_all(&lists).unwrap();
    let files: Vec<PathBuf> = ["a b.flac", "Été.flac"]
        .iter()
        .map(|n| music.join(n))
        .collect();
    for f in &files {
        std::fs::write(f, b"x").unwrap();
    }
    let entries: Vec<SaveEntry> = files
        .iter()
        .map(|p| SaveEntry {
            path: p.clone(),
            seconds: Some(61.0),
            label: "L".into(),
        })
        .collect();
    let list = lists.join("saved.m3u8");
    std::fs::write(&list, "old").unwrap();
    assert_eq!(write_m3u8(&list, &entries).unwrap(), 2);
    let text = std::fs::read_to_string(&list).unwrap();
    assert!(text.contains("\n../music/a b.flac\n"), "{text}");
    // Nothing left beside it.
    assert_eq!(std::fs::read_dir(&lists).unwrap().count(), 1);
    let back: Vec<Target> = read(&list).unwrap().into_iter().map(|i| i.target).collect();
    let want: Vec<Target> = files.iter().cloned().map(Target::Path).collect();
    assert_eq!(back, want);
    // Errors are readable.
    let e = write_m3u8(&lists.join("x.pls"), &entries).unwrap_err();
    assert!(e.to_string().contains(".m3u8"), "{e}");
    let e = write_m3u8(&root.path().join("no/such/x.m3u8"), &entries).unwrap_err();
    assert!(e.to_string().contains("No such file or directory"), "{e}");
}

#[cfg(unix)]
#[test]
fn relative_only_when_it_leads_to_the_same_file() {
    // lists/link -> other/deep: from lists/link, `..` is other/, not lists/.
    let root = tempfile::tempdir().unwrap();
    let deep = root.path().join("other/deep");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(root.path().join("lists")).unwrap();
    std::fs::write(root.path().join("lists/song.flac"), b"x").unwrap();
    let link = root.path().join("lists/link");
    std::os::unix::fs::symlink(&deep, &link).unwrap();
    let real = std::fs::canonicalize(&link).unwrap();
    let line = entry_line(&root.path().join("lists/song.flac"), &link, &real);
    // Lexically `../song.flac`, which from other/deep is other/song.flac: not that.
    assert_eq!(line, "../../lists/song.flac");
}
