//! NVTX ranges of real runs, without nsys or a GPU: an injection library
//! (nvtx_inject.c, compiled here with the system C compiler) records every push and pop,
//! and the ranges of each engine are held to the shape src/engine/nvtx.rs promises:
//! names, nesting, request ids, and one decode range per decode step. A build without the
//! `nvtx` feature emits no ranges, so there these tests report as ignored, with the
//! reason, instead of passing on nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// One range as recorded: its name and the ranges opened inside it, in order.
#[derive(Debug, Clone, PartialEq)]
struct Range {
    name: String,
    children: Vec<Range>,
}

impl Range {
    fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Compiles the injection library into `dir`.
fn injection_library(dir: &Path) -> PathBuf {
    let src = dir.join("nvtx_inject.c");
    std::fs::write(&src, include_str!("nvtx_inject.c")).unwrap();
    let lib = dir.join("libnvtx_inject.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let o = std::process::Command::new(&cc)
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("the C compiler `{cc}` (set CC) does not start: {e}"));
    assert!(o.status.success(), "{cc} nvtx_inject.c: {}", stderr(&o));
    lib
}

/// Runs `nativebench run ARGS -o OUT -q` with the injection library loaded, and returns
/// the recorded top-level ranges (every thread's, in order) and the run's samples.
fn recorded_run(dir: &Path, args: &[&str]) -> (Vec<Range>, Vec<Value>) {
    let lib = injection_library(dir);
    let record = dir.join("nvtx.txt");
    let out = dir.join("run");
    let o = bin()
        .arg("run")
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .env("NVTX_INJECTION64_PATH", &lib)
        .env("NVTX_RECORD_PATH", &record)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let features = json(&out.join("manifest.json"))["build"]["features"].clone();
    assert!(
        features
            .as_array()
            .is_some_and(|f| f.contains(&"nvtx".into())),
        "the binary was built without nvtx: {features}"
    );
    let text = std::fs::read_to_string(&record).unwrap_or_else(|e| {
        panic!(
            "no NVTX record at {} ({e}): the injection library was not loaded",
            record.display()
        )
    });
    (parse(&text), samples(&out))
}

/// Rebuilds the range trees from "<tid> init|push <name>|pop" lines, checking that every
/// pop closes a range its own thread opened and that none is left open.
fn parse(text: &str) -> Vec<Range> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(" init")).count(),
        1,
        "the injection library initialises once:\n{text}"
    );
    // Per thread: the ranges open now, innermost last, and those closed at top level.
    let mut open: BTreeMap<&str, Vec<Range>> = BTreeMap::new();
    let mut done: BTreeMap<&str, Vec<Range>> = BTreeMap::new();
    for line in lines {
        let (tid, event) = line.split_once(' ').expect("<tid> <event>");
        let stack = open.entry(tid).or_default();
        match event.split_once(' ') {
            _ if event == "init" => {}
            _ if event == "pop" => {
                let closed = stack
                    .pop()
                    .unwrap_or_else(|| panic!("thread {tid} pops a range it never pushed"));
                match stack.last_mut() {
                    Some(parent) => parent.children.push(closed),
                    None => done.entry(tid).or_default().push(closed),
                }
            }
            Some(("push", name)) => stack.push(Range {
                name: name.to_owned(),
                children: Vec::new(),
            }),
            _ => panic!("unknown NVTX record line `{line}`"),
        }
    }
    for (tid, stack) in &open {
        let names: Vec<&str> = stack.iter().map(|r| r.name.as_str()).collect();
        assert!(stack.is_empty(), "thread {tid} left {names:?} open");
    }
    done.into_values().flatten().collect()
}

/// `request <id>` for every measured request and nothing else at top level, each holding
/// exactly template, tokenize, prefill, `decode 1` .. `decode <n-1>` for its n output
/// tokens, and detokenize, none of which opens a range of its own.
fn assert_requests_in_order(ranges: &[Range], samples: &[Value]) {
    let names: Vec<&str> = ranges.iter().map(|r| r.name.as_str()).collect();
    let want: Vec<String> = samples
        .iter()
        .map(|s| format!("request {}", s["request_id"]))
        .collect();
    assert_eq!(names, want, "one top-level range per measured request");
    for (range, sample) in ranges.iter().zip(samples) {
        assert_eq!(sample["ok"], true, "{sample}");
        let n = sample["output_tokens"].as_u64().unwrap();
        let mut want = vec!["template".to_owned(), "tokenize".into(), "prefill".into()];
        want.extend((1..n).map(|step| format!("decode {step}")));
        want.push("detokenize".into());
        assert_eq!(range.child_names(), want, "inside `{}`", range.name);
        for phase in &range.children {
            assert!(phase.children.is_empty(), "{phase:?}");
        }
    }
}

const TINY: &str = "synth:tiny:q8_0";

/// Three short requests, measured once, no warmup (whose requests would repeat ids).
const WORKLOAD: [&str; 14] = [
    "-m",
    TINY,
    "-w",
    "random",
    "--num-prompts",
    "3",
    "--random-input-len",
    "16",
    "--output-len",
    "5",
    "--warmup",
    "0",
    "-t",
    "2",
];

#[cfg(feature = "candle")]
#[test]
#[cfg_attr(not(feature = "nvtx"), ignore = "this build has no nvtx feature")]
fn candle_requests_are_nested_nvtx_ranges() {
    let tmp = tempdir();
    let (ranges, samples) = recorded_run(tmp.path(), &[&["-e", "candle"][..], &WORKLOAD].concat());
    assert_eq!(samples.len(), 3);
    assert_requests_in_order(&ranges, &samples);
}

#[cfg(feature = "llama-cpp")]
#[test]
#[cfg_attr(not(feature = "nvtx"), ignore = "this build has no nvtx feature")]
fn llama_cpp_requests_are_nested_nvtx_ranges() {
    let tmp = tempdir();
    let (ranges, samples) =
        recorded_run(tmp.path(), &[&["-e", "llama-cpp"][..], &WORKLOAD].concat());
    assert_eq!(samples.len(), 3);
    assert_requests_in_order(&ranges, &samples);
}

/// Decoded together, requests overlap: each is admitted in its own range, and the joint
/// steps carry how many sequences they advance, which add up to every decode step.
#[cfg(feature = "llama-cpp")]
#[test]
#[cfg_attr(not(feature = "nvtx"), ignore = "this build has no nvtx feature")]
fn llama_cpp_batched_requests_are_admitted_then_decoded_together() {
    let tmp = tempdir();
    let args = [&["-e", "llama-cpp", "--concurrency", "2"][..], &WORKLOAD].concat();
    let (ranges, samples) = recorded_run(tmp.path(), &args);
    assert_eq!(samples.len(), 3);
    let mut admitted = Vec::new();
    let (mut sequence_steps, mut detokenized) = (0, 0);
    for r in &ranges {
        if let Some(id) = r.name.strip_prefix("admit ") {
            admitted.push(id.parse::<u64>().unwrap());
            assert_eq!(
                r.child_names(),
                ["template", "tokenize", "prefill"],
                "{r:?}"
            );
        } else if let Some(k) = r.name.strip_prefix("decode batch ") {
            let k: u64 = k.parse().unwrap();
            assert!((1..=2).contains(&k), "{r:?}");
            sequence_steps += k;
            assert!(r.children.is_empty(), "{r:?}");
        } else {
            assert_eq!(r.name, "detokenize", "unexpected top-level range {r:?}");
            detokenized += 1;
        }
    }
    admitted.sort_unstable();
    let mut ids: Vec<u64> = samples
        .iter()
        .map(|s| s["request_id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(admitted, ids, "one admit range per measured request");
    assert_eq!(detokenized, samples.len());
    let decode_steps: u64 = samples
        .iter()
        .map(|s| s["output_tokens"].as_u64().unwrap() - 1)
        .sum();
    assert_eq!(sequence_steps, decode_steps, "{ranges:?}");
}
