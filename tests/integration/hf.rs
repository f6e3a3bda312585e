//! `hf:` models against a local hub: a small HTTP server in the test that answers the
//! Hub's file-list and resolve routes for synthetic repos, selected through HF_ENDPOINT,
//! with the cache in a temporary HF_HUB_CACHE. Nothing here reaches the internet.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::support::{
    assert_one_line_error_naming, bin, json, path_str, stderr, synth_tiny, tempdir,
};

const COMMIT_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const COMMIT_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOKEN: &str = "hf_test_secret_token";

/// One commit of a repo: the branch names that point at it and its files.
struct Commit {
    sha: &'static str,
    refs: Vec<&'static str>,
    files: Vec<(String, Arc<Vec<u8>>)>,
}

struct Repo {
    gated: bool,
    commits: Vec<Commit>,
}

#[derive(Default)]
struct HubState {
    repos: HashMap<String, Repo>,
    /// Files whose first full download is cut off halfway.
    cut_once: Mutex<Vec<String>>,
    requests: AtomicUsize,
}

/// The local hub, serving until the test process ends.
struct Hub {
    url: String,
    state: Arc<HubState>,
}

impl Hub {
    fn start(state: HubState) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(state);
        let s = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        Hub { url, state }
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}

fn serve(mut conn: TcpStream, state: &HubState) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    state.requests.fetch_add(1, Ordering::SeqCst);
    let authorized =
        headers.get("authorization").map(String::as_str) == Some(&*format!("Bearer {TOKEN}"));
    let not_found =
        |conn: &mut TcpStream| respond(conn, "404 Not Found", &[], b"{\"error\":\"not found\"}");
    // /api/models/{owner}/{name}/revision/{rev}
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let parts: Vec<&str> = rest.split('/').collect();
        let [owner, name, "revision", rev] = parts.as_slice() else {
            not_found(&mut conn);
            return Ok(());
        };
        let Some(c) = commit(&mut conn, state, owner, name, rev, authorized) else {
            return Ok(());
        };
        let siblings: Vec<String> = c
            .files
            .iter()
            .map(|(f, _)| format!("{{\"rfilename\":\"{f}\"}}"))
            .collect();
        let body = format!(
            "{{\"sha\":\"{}\",\"siblings\":[{}]}}",
            c.sha,
            siblings.join(",")
        );
        respond(
            &mut conn,
            "200 OK",
            &[("content-type", "application/json".into())],
            body.as_bytes(),
        );
        return Ok(());
    }
    // /{owner}/{name}/resolve/{rev}/{file}
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let [owner, name, "resolve", rev, file] = parts.as_slice() else {
        not_found(&mut conn);
        return Ok(());
    };
    let Some(c) = commit(&mut conn, state, owner, name, rev, authorized) else {
        return Ok(());
    };
    let Some((_, bytes)) = c.files.iter().find(|(f, _)| f == file) else {
        respond(
            &mut conn,
            "404 Not Found",
            &[("x-error-code", "EntryNotFound".into())],
            b"",
        );
        return Ok(());
    };
    let size = bytes.len();
    let (start, end) = match headers.get("range").and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: usize = a.parse().unwrap_or(0);
            let b: usize = b.parse().map_or(size - 1, |b: usize| b.min(size - 1));
            (a, b)
        }
        None => (0, size - 1),
    };
    let sha = format!("{:x}", Sha256::digest(&bytes[..]));
    let hdrs = [
        ("x-repo-commit", c.sha.to_string()),
        ("x-linked-etag", format!("\"{sha}\"")),
        ("etag", format!("\"{sha}\"")),
        ("content-range", format!("bytes {start}-{end}/{size}")),
    ];
    let body = &bytes[start..=end];
    let cut = {
        let mut cut = state.cut_once.lock().unwrap();
        let hit = body.len() > 1 && cut.iter().any(|f| f == file);
        cut.retain(|f| !(hit && f == file));
        hit
    };
    if cut {
        // Promise the whole body, send half, and hang up.
        let mut head = format!(
            "HTTP/1.1 206 Partial Content\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in &hdrs {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())?;
        conn.write_all(&body[..body.len() / 2])?;
        conn.flush()?;
        let _ = conn.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    respond(&mut conn, "206 Partial Content", &hdrs, body);
    let mut sink = Vec::new();
    let _ = reader.read_to_end(&mut sink);
    Ok(())
}

/// The commit `rev` of `owner/name`, or `None` once the reply (404, or 401 for a gated
/// repo without the token) has been sent.
fn commit<'a>(
    conn: &mut TcpStream,
    state: &'a HubState,
    owner: &str,
    name: &str,
    rev: &str,
    authorized: bool,
) -> Option<&'a Commit> {
    let not_found = |conn: &mut TcpStream| {
        respond(conn, "404 Not Found", &[], b"{\"error\":\"not found\"}");
        None
    };
    let Some(repo) = state.repos.get(&format!("{owner}/{name}")) else {
        return not_found(conn);
    };
    if repo.gated && !authorized {
        respond(conn, "401 Unauthorized", &[], b"{\"error\":\"gated\"}");
        return None;
    }
    match repo
        .commits
        .iter()
        .find(|c| c.sha == rev || c.refs.contains(&rev))
    {
        Some(c) => Some(c),
        None => not_found(conn),
    }
}

type Blob = Arc<Vec<u8>>;

/// The synthetic tiny model's GGUF and tokenizer.json, written once per process.
fn synth_files() -> &'static (Blob, Blob) {
    static FILES: OnceLock<(Blob, Blob)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hf-hub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("synth-tiny.Q8_0.gguf");
        synth_tiny(&out);
        let gguf = std::fs::read(&out).unwrap();
        let tok = std::fs::read(out.with_extension("tokenizer.json")).unwrap();
        (Arc::new(gguf), Arc::new(tok))
    })
}

fn hub() -> Hub {
    Hub::start(hub_state())
}

/// A hub with `local/synth-tiny` (main at commit B; commit A has only the GGUF),
/// `local/gated` (needs the token), `local/two-quants`, `local/empty` (a README only).
fn hub_state() -> HubState {
    let (gguf, tok) = synth_files();
    let file = |n: &str, b: &Arc<Vec<u8>>| (n.to_string(), Arc::clone(b));
    let readme = Arc::new(b"# synthetic\n".to_vec());
    let mut repos = HashMap::new();
    repos.insert(
        "local/synth-tiny".to_string(),
        Repo {
            gated: false,
            commits: vec![
                Commit {
                    sha: COMMIT_B,
                    refs: vec!["main"],
                    files: vec![
                        file("README.md", &readme),
                        file("synth-tiny.Q8_0.gguf", gguf),
                        file("synth-tiny.Q8_0.tokenizer.json", tok),
                    ],
                },
                Commit {
                    sha: COMMIT_A,
                    refs: vec!["v1"],
                    files: vec![file("synth-tiny.Q8_0.gguf", gguf)],
                },
            ],
        },
    );
    repos.insert(
        "local/gated".to_string(),
        Repo {
            gated: true,
            commits: vec![Commit {
                sha: COMMIT_A,
                refs: vec!["main"],
                files: vec![file("m.Q8_0.gguf", gguf)],
            }],
        },
    );
    repos.insert(
        "local/two-quants".to_string(),
        Repo {
            gated: false,
            commits: vec![Commit {
                sha: COMMIT_A,
                refs: vec!["main"],
                files: vec![file("m-Q4_K_M.gguf", gguf), file("m-Q4_K_S.gguf", gguf)],
            }],
        },
    );
    repos.insert(
        "local/empty".to_string(),
        Repo {
            gated: false,
            commits: vec![Commit {
                sha: COMMIT_A,
                refs: vec!["main"],
                files: vec![file("README.md", &readme)],
            }],
        },
    );
    HubState {
        repos,
        ..HubState::default()
    }
}

/// nativebench with the hub at `hub` (or none) and the cache in `cache`.
fn nb(hub: Option<&Hub>, cache: &Path) -> Command {
    let mut c = bin();
    for k in ["HF_TOKEN", "HF_HOME", "HF_HUB_OFFLINE", "HF_ENDPOINT"] {
        c.env_remove(k);
    }
    c.env("HF_HUB_CACHE", cache);
    // No hub: an address where nothing listens.
    c.env(
        "HF_ENDPOINT",
        hub.map_or("http://127.0.0.1:9".to_string(), |h| h.url.clone()),
    );
    c
}

fn inspect(hub: Option<&Hub>, cache: &Path, spec: &str) -> Output {
    nb(hub, cache)
        .args(["model", "inspect", spec, "--format", "json"])
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

fn snapshot(cache: &Path, commit: &str) -> PathBuf {
    cache
        .join("models--local--synth-tiny/snapshots")
        .join(commit)
}

fn assert_no_part_taken_for_whole(cache: &Path) {
    let snap = snapshot(cache, COMMIT_B).join("synth-tiny.Q8_0.gguf");
    if snap.symlink_metadata().is_ok() {
        let whole = std::fs::read(&snap).unwrap();
        assert_eq!(whole, *synth_files().0, "a linked file must be complete");
    }
}

#[test]
fn hf_run_downloads_caches_and_runs_both_engines_then_uses_the_cache_alone() {
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path().join("hub");
    let engines: Vec<&str> = [
        cfg!(feature = "llama-cpp").then_some("llama-cpp"),
        cfg!(feature = "candle").then_some("candle"),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (i, engine) in engines.iter().enumerate() {
        let out = tmp.path().join(format!("run-{engine}"));
        let before = hub.requests();
        let o = nb(Some(&hub), &cache)
            .args([
                "run",
                "-e",
                engine,
                "-m",
                "hf:local/synth-tiny",
                "--prompt",
                "hello world",
            ])
            .args(["--output-len", "4", "-t", "2", "-o", path_str(&out), "-q"])
            .output()
            .unwrap();
        ok(&o);
        if i == 0 {
            assert!(hub.requests() > before, "the first run downloads");
        } else {
            assert_eq!(hub.requests(), before, "a cached model needs no hub");
        }
        let m = json(&out.join("manifest.json"));
        assert_eq!(m["model_file"]["hf_repo"], "local/synth-tiny", "{m}");
        assert_eq!(m["model_file"]["hf_revision"], COMMIT_B, "{m}");
        assert_eq!(
            m["model_file"]["sha256"],
            format!("{:x}", Sha256::digest(&synth_files().0[..]))
        );
    }
    let snap = snapshot(&cache, COMMIT_B);
    assert!(snap.join("synth-tiny.Q8_0.gguf").is_file());
    assert!(snap.join("synth-tiny.Q8_0.tokenizer.json").is_file());
    assert!(
        !snap.join("README.md").exists(),
        "only what the engine needs"
    );
    assert_eq!(
        std::fs::read_to_string(cache.join("models--local--synth-tiny/refs/main")).unwrap(),
        COMMIT_B
    );
    // A second run, with the hub gone: the cache serves it.
    let o = inspect(None, &cache, "hf:local/synth-tiny");
    ok(&o);
}

#[test]
fn hf_revision_pins_a_commit() {
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path();
    ok(&inspect(Some(&hub), cache, "hf:local/synth-tiny@v1"));
    assert!(snapshot(cache, COMMIT_A)
        .join("synth-tiny.Q8_0.gguf")
        .is_file());
    assert!(!snapshot(cache, COMMIT_B).exists());
    let n = hub.requests();
    ok(&inspect(
        Some(&hub),
        cache,
        &format!("hf:local/synth-tiny@{COMMIT_A}"),
    ));
    assert_eq!(hub.requests(), n, "a cached commit needs no hub");
}

#[test]
fn hf_gated_repo_needs_hf_token_which_is_sent_and_never_written() {
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path().join("hub");
    let o = inspect(Some(&hub), &cache, "hf:local/gated");
    assert_one_line_error_naming(&o, Some(1), &["hf:local/gated", "401", "HF_TOKEN"]);
    let o = nb(Some(&hub), &cache)
        .env("HF_TOKEN", TOKEN)
        .args(["model", "inspect", "hf:local/gated", "--format", "json"])
        .output()
        .unwrap();
    ok(&o);
    for e in walk(tmp.path()) {
        if e.is_file() {
            let bytes = std::fs::read(&e).unwrap();
            assert!(
                !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "{} holds the token",
                e.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn hf_missing_file_repo_and_bad_specs_are_input_errors() {
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path();
    let o = inspect(Some(&hub), cache, "hf:local/synth-tiny/absent.gguf");
    assert_one_line_error_naming(&o, Some(2), &["absent.gguf is not in the repo"]);
    let o = inspect(Some(&hub), cache, "hf:local/no-such-repo");
    assert_one_line_error_naming(&o, Some(2), &["hf:local/no-such-repo", "not found"]);
    let o = inspect(Some(&hub), cache, "hf:local/empty");
    assert_one_line_error_naming(&o, Some(2), &["no GGUF and no safetensors"]);
    let o = inspect(Some(&hub), cache, "hf:local/two-quants:Q4_K");
    assert_one_line_error_naming(&o, Some(2), &["m-Q4_K_M.gguf, m-Q4_K_S.gguf"]);
    ok(&inspect(Some(&hub), cache, "hf:local/two-quants:q4_k_m"));
    let o = inspect(Some(&hub), cache, "hf:local");
    assert_one_line_error_naming(&o, Some(2), &["invalid model spec 'hf:local'"]);
    let o = nb(Some(&hub), cache)
        .args([
            "run",
            "-e",
            "sim",
            "-m",
            "synth:tiny",
            "--hf-file",
            "m.gguf",
        ])
        .output()
        .unwrap();
    assert_one_line_error_naming(&o, Some(2), &["--hf-file needs an hf:owner/repo model"]);
}

#[cfg(feature = "llama-cpp")]
#[test]
fn hf_file_flag_picks_the_gguf_of_a_repo() {
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path().join("hub");
    let out = tmp.path().join("run");
    let o = nb(Some(&hub), &cache)
        .args(["run", "-e", "llama-cpp", "-m", "hf:local/two-quants"])
        .args(["--hf-file", "m-Q4_K_S.gguf", "--prompt", "hello"])
        .args(["--output-len", "2", "-t", "2", "-o", path_str(&out), "-q"])
        .output()
        .unwrap();
    ok(&o);
    let m = json(&out.join("manifest.json"));
    assert_eq!(m["model_file"]["hf_repo"], "local/two-quants", "{m}");
    assert!(cache
        .join("models--local--two-quants/snapshots")
        .join(COMMIT_A)
        .join("m-Q4_K_S.gguf")
        .is_file());
}

#[test]
fn hf_connection_cut_mid_file_is_resumed_and_leaves_no_corrupt_file() {
    let hub = hub();
    hub.state
        .cut_once
        .lock()
        .unwrap()
        .push("synth-tiny.Q8_0.gguf".into());
    let tmp = tempdir();
    let cache = tmp.path();
    ok(&inspect(Some(&hub), cache, "hf:local/synth-tiny"));
    assert!(
        hub.state.cut_once.lock().unwrap().is_empty(),
        "the cut happened"
    );
    assert_no_part_taken_for_whole(cache);
    let whole = std::fs::read(snapshot(cache, COMMIT_B).join("synth-tiny.Q8_0.gguf")).unwrap();
    assert_eq!(whole, *synth_files().0);
}

#[test]
fn hf_offline_uses_the_cache_and_names_the_missing_file() {
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path();
    ok(&inspect(Some(&hub), cache, "hf:local/synth-tiny"));
    let n = hub.requests();
    let offline = |spec: &str| {
        nb(Some(&hub), cache)
            .env("HF_HUB_OFFLINE", "1")
            .args(["model", "inspect", spec, "--format", "json"])
            .output()
            .unwrap()
    };
    ok(&offline("hf:local/synth-tiny"));
    let o = offline("hf:local/synth-tiny/README.md");
    assert_one_line_error_naming(
        &o,
        None,
        &["README.md is not in the cached snapshot", "HF_HUB_OFFLINE"],
    );
    let o = offline("hf:local/synth-tiny@v1");
    assert_one_line_error_naming(&o, None, &["refs/v1", "HF_HUB_OFFLINE"]);
    assert_eq!(hub.requests(), n, "offline never contacts the hub");
    // No network at all: the same, with the hub's address in the error.
    let o = inspect(None, cache, "hf:local/synth-tiny@v1");
    assert_one_line_error_naming(&o, Some(1), &["cannot reach the hub", "refs/v1"]);
}

#[test]
fn hf_disk_full_mid_download_leaves_only_a_part_file_then_resumes() {
    use std::os::unix::process::CommandExt as _;
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path();
    let limit = (synth_files().0.len() / 2) as libc::rlim_t;
    let mut cmd = nb(Some(&hub), cache);
    cmd.args([
        "model",
        "inspect",
        "hf:local/synth-tiny",
        "--format",
        "json",
    ]);
    // A file-size limit stands in for a full disk: writes past it fail (EFBIG) as they
    // would with ENOSPC, and the signal that would kill the process is ignored.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_one_line_error_naming(
        &o,
        Some(1),
        &[
            "hf:local/synth-tiny",
            "synth-tiny.Q8_0.gguf",
            "download failed",
        ],
    );
    let snap = snapshot(cache, COMMIT_B);
    assert!(
        snap.join("synth-tiny.Q8_0.gguf")
            .symlink_metadata()
            .is_err(),
        "no link to a partial file"
    );
    let parts: Vec<PathBuf> = walk(&cache.join("models--local--synth-tiny/blobs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    // With room again, the next run resumes the part file and completes it.
    ok(&inspect(Some(&hub), cache, "hf:local/synth-tiny"));
    let whole = std::fs::read(snap.join("synth-tiny.Q8_0.gguf")).unwrap();
    assert_eq!(whole, *synth_files().0);
}

#[cfg(feature = "candle")]
#[test]
fn hf_safetensors_repo_downloads_config_tokenizer_template_and_weights_for_candle() {
    let tmp = tempdir();
    let dir =
        crate::candle::llama_dir(tmp.path(), &crate::candle::small(), &crate::candle::small());
    let template = r#"{"chat_template": "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}<|assistant|>"}"#;
    std::fs::write(dir.join("tokenizer_config.json"), template).unwrap();
    let files = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ]
    .map(|f| (f.to_string(), Arc::new(std::fs::read(dir.join(f)).unwrap())));
    let mut state = hub_state();
    state.repos.insert(
        "local/llama-st".to_string(),
        Repo {
            gated: false,
            commits: vec![Commit {
                sha: COMMIT_A,
                refs: vec!["main"],
                files: files.into_iter().collect(),
            }],
        },
    );
    let hub = Hub::start(state);
    let cache = tmp.path().join("hub");
    let out = tmp.path().join("run");
    let o = nb(Some(&hub), &cache)
        .args([
            "run",
            "-e",
            "candle",
            "-m",
            "hf:local/llama-st",
            "--prompt",
            "hello",
        ])
        .args([
            "--output-len",
            "2",
            "--warmup",
            "0",
            "-t",
            "2",
            "-o",
            path_str(&out),
            "-q",
        ])
        .output()
        .unwrap();
    ok(&o);
    let m = json(&out.join("manifest.json"));
    assert_eq!(m["engine"]["details"]["format"], "safetensors", "{m}");
    assert_eq!(
        m["engine"]["details"]["chat_template"], "tokenizer_config.json",
        "{m}"
    );
    assert_eq!(m["model_file"]["hf_repo"], "local/llama-st", "{m}");
    assert_eq!(m["model_file"]["hf_revision"], COMMIT_A, "{m}");
    let snap = cache
        .join("models--local--llama-st/snapshots")
        .join(COMMIT_A);
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        assert!(snap.join(f).is_file(), "{f}");
    }
}

/// `compare` runs the model in-process and through `serve` (a child that inherits the hub
/// settings): both resolve the same cached snapshot, render the same template and so
/// count the same input tokens, and only the first resolution talks to the hub.
#[cfg(feature = "llama-cpp")]
#[test]
fn hf_served_and_in_process_runs_share_the_cache_and_the_template() {
    let hub = hub();
    let tmp = tempdir();
    let cache = tmp.path().join("hub");
    let out = tmp.path().join("cmp");
    let o = nb(Some(&hub), &cache)
        .args([
            "compare",
            "--engine",
            "llama-cpp",
            "-m",
            "hf:local/synth-tiny",
        ])
        .args([
            "--workload",
            "short",
            "--num-prompts",
            "2",
            "--output-len",
            "4",
        ])
        .args(["-t", "2", "--out", path_str(&out), "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    let tokens = |side: &str| {
        let mut v: Vec<(String, String)> = crate::support::samples(&out.join(side))
            .iter()
            .map(|s| {
                (
                    s["prompt_preview"].to_string(),
                    s["input_tokens"].to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (tokens("in-process"), tokens("served"));
    assert_eq!(a.len(), 2);
    assert_eq!(a, b, "the same template and tokens both ways");
    // One listing, then for the GGUF and its tokenizer one metadata and one download
    // request each: the served side used the cache.
    assert_eq!(hub.requests(), 5);
}
