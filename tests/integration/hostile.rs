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
    (&["compare"], "--request-rate", "{}"),
    (&["report"], "--threshold", "{}"),
];

/// What a command needs besides the flag under test to get as far as checking it.
fn required(cmd: &[&str]) -> Vec<&'static str> {
    match cmd {
        ["check-agreement"] => vec!["-m", "synth:tiny"],
        ["model", "synth"] => vec!["--preset", "tiny"],
        ["model", "inspect" | "tokenizer-parity"] => vec!["synth:tiny"],
        ["report"] => vec!["--compare", "a", "b"],
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
