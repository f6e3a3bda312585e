//! Hostile input: every family of input nativebench reads from outside (flags, GGUF
//! files, templates inside them, workload files, HTTP replies and SSE streams, run
//! directories given to `report`) answered with a clean exit code and one line, never a
//! panic, a hang or a damaged file.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};

use crate::support::*;

/// The values every numeric flag is tried with; `{max+1}` is one past the flag's range,
/// read from the range its message names.
const HOSTILE_NUMBERS: [&str; 5] = ["0", "-1", "NaN", "inf", "1e300"];

/// Numeric flags that clap takes as text (lists, rates, objectives): the command, the
/// flag, and how a number becomes its value.
const TEXT_NUMBERS: &[(&[&str], &str, &str)] = &[
    (&["bench"], "-p", "{}"),
    (&["bench"], "-n", "{}"),
    (&["bench"], "-d", "{}"),
    (&["bench"], "-t", "{}"),
    (&["bench"], "-b", "{}"),
    (&["bench"], "--ubatch-size", "{}"),
    (&["bench"], "--pg", "{},1"),
    (&["run"], "--request-rate", "{}"),
    (&["run"], "--request-rate-list", "{}"),
    (&["run"], "--goodput", "ttft:{}"),
    (&["run"], "--slo-search", "ttft:{}"),
    (&["compare"], "--request-rate", "{}"),
    (&["report"], "--threshold", "{}"),
    (&["run"], "--shard", "0/{}"),
];

/// What a command needs besides the flag under test to get as far as checking it.
fn required(cmd: &[&str]) -> Vec<&'static str> {
    match cmd {
        ["check-agreement"] => vec!["-m", "synth:tiny"],
        ["model", "synth"] => vec!["--preset", "tiny"],
        ["model", "inspect" | "tokenizer-parity"] => vec!["synth:tiny"],
        ["report"] => vec!["--compare", "a", "b"],
        // Both lists are required; the value under test is appended to one of them.
        ["ratio"] => vec!["--base", "1", "--new", "1"],
        ["suite"] => vec!["year1"],
        ["sweep", "run"] => vec!["plan-dir"],
        _ => vec![],
    }
}

/// Every typed numeric flag of every command: (command path, `--long`).
fn typed_numeric_flags() -> Vec<(Vec<String>, String)> {
    use std::any::TypeId;
    let numeric = [
        TypeId::of::<i64>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<u32>(),
        TypeId::of::<u16>(),
        TypeId::of::<f64>(),
        TypeId::of::<f32>(),
    ];
    let mut out = Vec::new();
    let mut stack = vec![(Vec::<String>::new(), nativebench::cli::Cli::command())];
    while let Some((path, cmd)) = stack.pop() {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_owned());
            stack.push((p, sub.clone()));
        }
        for arg in cmd.get_arguments() {
            let (Some(long), false) = (arg.get_long(), path.is_empty()) else {
                continue;
            };
            let t = arg.get_value_parser().type_id();
            if numeric.iter().any(|n| t == *n) {
                out.push((path.clone(), format!("--{long}")));
            }
        }
    }
    out.sort();
    out
}

/// One past the largest value a range message (`... to MAX ...`) accepts.
fn one_past_max(message: &str) -> Option<String> {
    let after = message.split(" to ").nth(1)?;
    let max: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '+')
        .collect();
    match max.parse::<u128>() {
        Ok(n) => Some((n + 1).to_string()),
        Err(_) => max.parse::<f64>().ok().map(|f| (f + 1.0).to_string()),
    }
}

fn argv(cmd: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut a: Vec<String> = cmd.to_vec();
    a.extend(
        required(&cmd.iter().map(String::as_str).collect::<Vec<_>>())
            .iter()
            .map(|s| s.to_string()),
    );
    a.push(format!("{flag}={value}"));
    a
}

/// Runs the binary with RUST_BACKTRACE=1, bounded in time.
fn run_bounded(args: &[String], within: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let o = bin()
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary starts");
    let took = start.elapsed();
    assert!(took < within, "{args:?} took {took:?}");
    (o, took)
}

/// Asserts a rejected value: exit 2, one `error:` line naming the flag, the value and
/// the range, no panic. Returns the line.
fn assert_rejected(args: &[String], flag: &str, value: &str) -> String {
    let (o, _) = run_bounded(args, Duration::from_secs(60));
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    let line = lines[0].to_owned();
    // bench's lists are named as llama-bench names them (`-ub`).
    let short = flag.trim_start_matches('-').replace("ubatch-size", "ub");
    assert!(line.starts_with("error: "), "{args:?}: {line}");
    assert!(
        line.contains(&short) && line.contains(value),
        "{args:?}: {line}"
    );
    assert!(line.contains("out of range, expected"), "{args:?}: {line}");
    line
}

#[test]
fn every_numeric_flag_of_every_command_rejects_values_outside_its_range() {
    let typed = typed_numeric_flags();
    let names: BTreeSet<String> = typed.iter().map(|(_, f)| f.clone()).collect();
    // The walk finds the flags it must: a sample across commands.
    for f in [
        "--timeout",
        "--num-prompts",
        "--port",
        "--seed",
        "--poll",
        "--sim-batch",
        "--tokens",
        "--min-rate",
        "--temperature",
    ] {
        assert!(names.contains(f), "{f} not found among {names:?}");
    }
    assert!(typed.len() >= 60, "{} typed numeric flags", typed.len());
    let mut cases: Vec<(Vec<String>, String, &str)> = typed
        .into_iter()
        .map(|(cmd, flag)| (cmd, flag, "{}"))
        .collect();
    for (cmd, flag, form) in TEXT_NUMBERS {
        cases.push((
            cmd.iter().map(|s| s.to_string()).collect(),
            flag.to_string(),
            form,
        ));
    }
    let mut rejected = 0;
    for (cmd, flag, form) in &cases {
        let mut max_plus_one = None;
        for v in HOSTILE_NUMBERS
            .iter()
            .map(|v| v.to_string())
            .chain(std::iter::once(String::new()))
        {
            let v = if v.is_empty() {
                match max_plus_one.take() {
                    Some(m) => m,
                    None => panic!("{cmd:?} {flag}: 1e300 named no range"),
                }
            } else {
                v
            };
            if v == "inf" && flag.starts_with("--request-rate") {
                continue; // inf is a rate: all at once
            }
            let value = form.replace("{}", &v);
            let args = argv(cmd, flag, &value);
            // Only 0 may be inside a range; anything else must be refused before the
            // command runs.
            if v == "0" {
                let parsed = nativebench::cli::Cli::try_parse_from(
                    std::iter::once("nativebench".to_owned()).chain(args.iter().cloned()),
                );
                if parsed.is_ok() {
                    continue;
                }
            }
            let line = assert_rejected(&args, flag, &v);
            rejected += 1;
            if v == "1e300" {
                max_plus_one = one_past_max(&line);
            }
        }
    }
    assert!(
        rejected >= 5 * cases.len(),
        "{rejected} rejections over {} flags",
        cases.len()
    );
}

// ---- files: GGUF, workloads, run directories -------------------------------------------

/// A GGUF header (v3) with `n_tensors` and `n_kv`, then `rest`.
fn gguf(version: u32, n_tensors: u64, n_kv: u64, rest: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&n_tensors.to_le_bytes());
    b.extend_from_slice(&n_kv.to_le_bytes());
    b.extend_from_slice(rest);
    b
}

/// A GGUF string: its u64 length, then bytes.
fn gstr(len: u64, bytes: &[u8]) -> Vec<u8> {
    let mut b = len.to_le_bytes().to_vec();
    b.extend_from_slice(bytes);
    b
}

/// One metadata entry `key` of type `ty` holding `value`.
fn kv(key: &str, ty: u32, value: &[u8]) -> Vec<u8> {
    let mut b = gstr(key.len() as u64, key.as_bytes());
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(value);
    b
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// One hostile file and what reading it must give: the file's name and bytes, the
/// arguments (`{f}` is the file, `{dir}` the test folder), the exit codes allowed and a
/// fragment of the one error line (`None`: the command succeeds).
struct Case {
    name: &'static str,
    file: &'static str,
    bytes: Vec<u8>,
    args: &'static str,
    codes: &'static [i32],
    needle: Option<&'static str>,
}

const INSPECT: &str = "model inspect {f}";
const SIM: &str = "run -e sim -q --warmup 0 --sim-decode-ms 0 --output-len 2 -o {dir}/out -w {f}";
const REPORT: &str = "report {f}";

fn file_cases() -> Vec<Case> {
    let big = u64::MAX / 2;
    let c = |name, file, bytes: Vec<u8>, args, codes, needle| Case {
        name,
        file,
        bytes,
        args,
        codes,
        needle,
    };
    let bad: &'static [i32] = &[1, 2];
    let usage: &'static [i32] = &[2];
    vec![
        // GGUF headers, metadata and claimed sizes.
        c("empty gguf", "e.gguf", vec![], INSPECT, bad, Some("e.gguf")),
        c(
            "magic only",
            "m.gguf",
            b"GGUF".to_vec(),
            INSPECT,
            bad,
            Some("m.gguf"),
        ),
        c(
            "wrong magic",
            "w.gguf",
            b"GGML\x03\0\0\0".to_vec(),
            INSPECT,
            bad,
            Some("w.gguf"),
        ),
        c(
            "version 99",
            "v.gguf",
            gguf(99, 0, 0, &[]),
            INSPECT,
            bad,
            Some("v.gguf"),
        ),
        c(
            "2^63 tensors",
            "t.gguf",
            gguf(3, big, 0, &[]),
            INSPECT,
            bad,
            Some("t.gguf"),
        ),
        c(
            "2^63 metadata",
            "k.gguf",
            gguf(3, 0, big, &[0; 64]),
            INSPECT,
            bad,
            Some("k.gguf"),
        ),
        c(
            "key of 2^63 bytes",
            "s.gguf",
            gguf(3, 0, 1, &gstr(big, b"abc")),
            INSPECT,
            bad,
            Some("s.gguf"),
        ),
        c(
            "array of 2^62 u64",
            "a.gguf",
            gguf(
                3,
                0,
                1,
                &cat(&[
                    &kv(
                        "x",
                        9,
                        &cat(&[&10u32.to_le_bytes(), &(big / 2).to_le_bytes()]),
                    ),
                    &[0; 64],
                ]),
            ),
            INSPECT,
            bad,
            Some("a.gguf"),
        ),
        c(
            "string value of 2^63 bytes",
            "sv.gguf",
            gguf(3, 0, 1, &kv("general.name", 8, &gstr(big, b"x"))),
            INSPECT,
            bad,
            Some("sv.gguf"),
        ),
        c(
            "unknown value type",
            "u.gguf",
            gguf(3, 0, 1, &kv("x", 99, &[0; 16])),
            INSPECT,
            bad,
            Some("u.gguf"),
        ),
        c(
            "array of arrays, deep",
            "d.gguf",
            gguf(
                3,
                0,
                1,
                &cat(&[
                    &kv("x", 9, &[]),
                    &[9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0].repeat(2000),
                ]),
            ),
            INSPECT,
            bad,
            Some("d.gguf"),
        ),
        c(
            "tensor of 1000 dims",
            "n.gguf",
            gguf(
                3,
                1,
                0,
                &cat(&[&gstr(1, b"w"), &1000u32.to_le_bytes(), &[0; 64]]),
            ),
            INSPECT,
            bad,
            Some("n.gguf"),
        ),
        c(
            "not UTF-8 key",
            "x.gguf",
            gguf(
                3,
                0,
                1,
                &cat(&[&gstr(2, b"\xff\xfe"), &4u32.to_le_bytes(), &[1, 0, 0, 0]]),
            ),
            INSPECT,
            &[0, 1, 2],
            None,
        ),
        c(
            "bad alignment",
            "al.gguf",
            gguf(3, 0, 1, &kv("general.alignment", 4, &3u32.to_le_bytes())),
            INSPECT,
            bad,
            Some("al.gguf"),
        ),
        // Workload definitions (TOML).
        c(
            "toml not toml",
            "a.toml",
            b"[[[".to_vec(),
            SIM,
            usage,
            Some("a.toml"),
        ),
        c(
            "toml float count",
            "b.toml",
            b"num_prompts = 1e300\n[source]\nkind='random'\ninput_len=4\n".to_vec(),
            SIM,
            usage,
            Some("b.toml"),
        ),
        c(
            "toml huge count",
            "c.toml",
            b"num_prompts = 99999999999\n[source]\nkind='random'\ninput_len=4\n".to_vec(),
            SIM,
            usage,
            Some("num_prompts 99999999999: out of range"),
        ),
        c(
            "toml huge input",
            "d.toml",
            b"[source]\nkind='random'\ninput_len=9223372036854775807\n".to_vec(),
            SIM,
            usage,
            Some("input_len 9223372036854775807: out of range"),
        ),
        c(
            "toml ratio nan",
            "e.toml",
            b"[source]\nkind='random'\ninput_len=4\nrange_ratio=nan\n".to_vec(),
            SIM,
            usage,
            Some("range_ratio NaN: out of range"),
        ),
        c(
            "toml huge concurrency",
            "f.toml",
            b"concurrency = 4294967296\n[source]\nkind='random'\ninput_len=4\n".to_vec(),
            SIM,
            usage,
            Some("concurrency 4294967296: out of range"),
        ),
        c(
            "toml deep nesting",
            "g.toml",
            format!("x = {}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            SIM,
            usage,
            Some("g.toml"),
        ),
        c(
            "toml missing document",
            "h.toml",
            b"[source]\nkind='documents'\nfiles=['../../etc/none']\ninstruction='x'\n".to_vec(),
            SIM,
            bad,
            Some("none"),
        ),
        c(
            "toml not UTF-8",
            "i.toml",
            b"name = \"\xff\xfe\"\n".to_vec(),
            SIM,
            bad,
            Some("i.toml"),
        ),
        // ShareGPT JSON.
        c(
            "sharegpt not json",
            "a.json",
            b"{".to_vec(),
            SIM,
            usage,
            Some("not a ShareGPT file"),
        ),
        c(
            "sharegpt object",
            "b.json",
            b"{}".to_vec(),
            SIM,
            usage,
            Some("not a ShareGPT file"),
        ),
        c(
            "sharegpt numbers",
            "c.json",
            b"[1,2,3]".to_vec(),
            SIM,
            usage,
            Some("not a ShareGPT file"),
        ),
        c(
            "sharegpt deep",
            "d.json",
            "[".repeat(100_000).into_bytes(),
            SIM,
            usage,
            Some("not a ShareGPT file"),
        ),
        c(
            "sharegpt empty",
            "e.json",
            b"[]".to_vec(),
            SIM,
            usage,
            Some("no conversation"),
        ),
        c(
            "sharegpt not UTF-8",
            "f.json",
            b"[{\"conversations\":[{\"from\":\"human\",\"value\":\"\xff\"}]}]".to_vec(),
            SIM,
            bad,
            Some("f.json"),
        ),
        // JSONL prompts.
        c(
            "jsonl max_tokens past u32",
            "a.jsonl",
            b"{\"prompt\":\"hi\",\"max_tokens\":4294967296}\n".to_vec(),
            SIM,
            usage,
            Some("max_tokens 4294967296: out of range"),
        ),
        c(
            "jsonl max_tokens -1",
            "b.jsonl",
            b"{\"prompt\":\"hi\",\"max_tokens\":-1}\n".to_vec(),
            SIM,
            usage,
            Some("max_tokens -1: out of range"),
        ),
        c(
            "jsonl max_tokens 1e300",
            "c.jsonl",
            b"{\"prompt\":\"hi\",\"max_tokens\":1e300}\n".to_vec(),
            SIM,
            usage,
            Some("out of range"),
        ),
        c(
            "jsonl max_tokens 0",
            "d.jsonl",
            b"{\"prompt\":\"hi\",\"max_tokens\":0}\n".to_vec(),
            SIM,
            usage,
            Some("max_tokens 0: out of range"),
        ),
        c(
            "jsonl prompt number",
            "e.jsonl",
            b"{\"prompt\":5}\n".to_vec(),
            SIM,
            usage,
            Some("line 1"),
        ),
        c(
            "jsonl empty messages",
            "f.jsonl",
            b"{\"messages\":[]}\n".to_vec(),
            SIM,
            usage,
            Some("line 1"),
        ),
        c(
            "jsonl empty",
            "g.jsonl",
            vec![],
            SIM,
            usage,
            Some("holds no prompts"),
        ),
        c(
            "jsonl cut line",
            "h.jsonl",
            b"{\"prompt\":\"a\"}\n{\"prom".to_vec(),
            SIM,
            usage,
            Some("line 2"),
        ),
        c(
            "jsonl NUL",
            "i.jsonl",
            b"\0\0\0\n".to_vec(),
            SIM,
            usage,
            Some("line 1"),
        ),
        c(
            "jsonl max_tokens u32 max",
            "j.jsonl",
            b"{\"prompt\":\"hi\",\"max_tokens\":4294967295}\n".to_vec(),
            SIM,
            &[0],
            None,
        ),
        // Run directories given to `report` (a file where a directory is expected).
        c(
            "report on a file",
            "r.txt",
            b"not a run".to_vec(),
            REPORT,
            bad,
            Some("r.txt"),
        ),
    ]
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn hostile_files_get_a_clean_exit_and_one_line_and_stay_intact() {
    let tmp = tempdir();
    let dir = path_str(tmp.path()).to_owned();
    let cases = file_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for case in &cases {
        let f = write(tmp.path(), case.file, &case.bytes);
        let args: Vec<String> = case
            .args
            .split(' ')
            .map(|a| a.replace("{f}", path_str(&f)).replace("{dir}", &dir))
            .collect();
        let (o, _) = run_bounded(&args, Duration::from_secs(60));
        let err = stderr(&o);
        let what = format!("{}: nativebench {}", case.name, args.join(" "));
        assert!(!err.contains("panicked"), "{what}: {err}");
        let code = o.status.code().unwrap_or(-1);
        assert!(case.codes.contains(&code), "{what}: exit {code}: {err}");
        if code != 0 {
            let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{what}: {err}");
            assert!(lines[0].starts_with("error: "), "{what}: {err}");
            if let Some(n) = case.needle {
                assert!(lines[0].contains(n), "{what}: expected `{n}` in {err}");
            }
        }
        let after = std::fs::read(&f).unwrap();
        assert_eq!(sha(&after), sha(&case.bytes), "{what}: the input changed");
        let _ = std::fs::remove_dir_all(tmp.path().join("out"));
    }
}

#[test]
fn every_command_under_rust_backtrace_finds_no_panic() {
    let tmp = tempdir();
    let d = |n: &str| tmp.path().join(n).to_string_lossy().into_owned();
    let (run_dir, bench_dir) = (d("run"), d("bench"));
    let commands: Vec<Vec<String>> = [
        vec!["env"],
        vec!["env", "--format", "json"],
        vec!["workloads"],
        vec![
            "run",
            "-e",
            "sim",
            "--num-prompts",
            "2",
            "--output-len",
            "2",
            "--sim-decode-ms",
            "0",
            "-q",
            "-o",
            &run_dir,
        ],
        vec![
            "bench", "-e", "sim", "-p", "8", "-n", "4", "-r", "1", "--out", &bench_dir,
        ],
        vec!["report", &run_dir],
        vec!["report", &d("absent")],
        vec!["report", "--compare", &run_dir, &run_dir],
        vec!["model", "inspect", &d("absent.gguf")],
        vec!["model", "synth", "--preset", "nope"],
        vec!["check-agreement", "-m", &d("absent.gguf")],
        vec!["serve", "--host", "256.0.0.1"],
        vec!["compare", "-e", "http"],
        vec!["sweep", "plan", &d("absent.toml"), "--out", &d("plan")],
        vec!["sweep", "run", &d("plan"), "--index", "0"],
        vec!["sweep", "collect", &run_dir],
        vec![
            "report",
            "--merge",
            &run_dir,
            &d("absent"),
            "--out",
            &d("merged"),
        ],
        vec![
            "run",
            "-e",
            "http",
            "--url",
            "http://user:pass@127.0.0.1:1/v1",
            "--num-prompts",
            "1",
            "-q",
            "-o",
            &d("refused"),
        ],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    for c in &commands {
        let (o, _) = run_bounded(c, Duration::from_secs(120));
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{c:?}: {err}");
        assert!(o.status.code().is_some(), "{c:?} ended by a signal: {err}");
        if !o.status.success() {
            let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
            assert_eq!(lines.len(), 1, "{c:?}: {err}");
        }
        // A credential in a URL is never printed.
        assert!(
            !err.contains("pass@") && !stdout(&o).contains("pass@"),
            "{c:?}: {err}"
        );
    }
    let cfg =
        std::fs::read_to_string(tmp.path().join("refused/run_config.json")).unwrap_or_default();
    assert!(
        !cfg.contains("pass@"),
        "run_config.json keeps the URL's password: {cfg}"
    );
}
