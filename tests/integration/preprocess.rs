//! `nativebench preprocess`: the files it writes, the invariants of its experiments
//! (ids equal between the two tokenizers, rendered text equal between the two template
//! engines where both know the template, a speed-up for every thread count), the HTML
//! section in headless Chromium, and its bad input.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

fn rows(report: &Value, experiment: u64) -> Vec<&Value> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["experiment"].as_u64() == Some(experiment))
        .collect()
}

fn preprocess(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["preprocess", "--out", path_str(out), "-o", "json"];
    args.extend_from_slice(extra);
    ok_run(&args)
}

/// The quick suite on the synthetic model and the real DeepSeek-R1 vocabulary, two
/// repetitions each: every file is written, and every experiment's invariant holds.
#[cfg(feature = "llama-cpp")]
#[test]
fn quick_suite_writes_its_files_and_every_experiment_holds_its_invariants() {
    let Some(_) = qwen_vocab() else { return };
    let tmp = tempdir();
    let out = tmp.path().join("pre");
    let o = preprocess(
        &out,
        &[
            "--quick",
            "--model",
            "synth:tiny",
            "--model",
            "qwen2-r1-vocab",
            "--threads",
            "1,2",
            "--repetitions",
            "2",
        ],
    );
    let printed: Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    let report = json(&out.join("preprocess.json"));
    assert_eq!(printed["rows"], report["rows"]);
    assert_eq!(report["experiments"], serde_json::json!([1, 2, 3, 4, 5]));
    let models = ["synth:tiny", "qwen2-r1-vocab"];

    // 1: render and tokenize for every conversation and size, per model, with the ratio.
    for m in models {
        let r: Vec<_> = rows(&report, 1)
            .into_iter()
            .filter(|r| r["model"] == m)
            .collect();
        for turns in [1, 8, 64] {
            for phase in ["render", "tokenize"] {
                assert!(
                    r.iter().any(|x| x["turns"] == turns && x["phase"] == phase),
                    "{m} {turns} {phase}"
                );
            }
        }
        assert!(r
            .iter()
            .any(|x| x["text_bytes"].as_u64().unwrap() > 262_000));
        for x in &r {
            assert!(num(x, "median_us") > 0.0 && num(x, "ratio") > 0.0, "{x}");
            assert!(
                num(x, "p10_us") <= num(x, "median_us") && num(x, "median_us") <= num(x, "p90_us")
            );
            assert_eq!(x["reps"], 2);
        }
    }
    // The real DeepSeek-R1 template rendered the conversations.
    assert!(rows(&report, 1)
        .iter()
        .any(|x| x["model"] == "qwen2-r1-vocab" && x["template"] == "gguf"));

    // 2: a speed-up for every thread count and batch, 1.0 at one thread by definition.
    let batches: Vec<_> = rows(&report, 2)
        .into_iter()
        .filter(|r| r["phase"] == "batch")
        .collect();
    for batch in [1, 64] {
        for threads in [1, 2] {
            let r = batches
                .iter()
                .find(|r| r["batch"] == batch && r["threads"] == threads)
                .unwrap_or_else(|| panic!("batch {batch} threads {threads}"));
            assert!(num(r, "ratio") > 0.0, "{r}");
            assert_eq!(r["equal"], true, "the same tokens on every pool: {r}");
            if threads == 1 {
                assert_eq!(num(r, "ratio"), 1.0);
            }
        }
    }

    // 3: the set's templates that llama.cpp knows render identically in both engines;
    // the reasoning template differs where llama.cpp's DeepSeek format does, and says where.
    let three = rows(&report, 3);
    for name in ["chatml", "llama3", "gemma", "mistral", "tools"] {
        for phase in ["minijinja", "llama_cpp_template"] {
            let r = three
                .iter()
                .find(|r| r["template"] == name && r["phase"] == phase)
                .unwrap_or_else(|| panic!("{name} {phase}"));
            assert_eq!(r["equal"], true, "{r}");
        }
    }
    let reasoning = three.iter().find(|r| r["template"] == "reasoning").unwrap();
    assert_eq!(reasoning["equal"], false);
    assert!(reasoning["note"]
        .as_str()
        .unwrap()
        .contains("differ at byte"));
    assert!(three
        .iter()
        .any(|r| r["template"] == "synth:tiny:gguf" && r["equal"] == true));

    // 4: the same ids from both tokenizers on every corpus text, for both vocabularies.
    for m in models {
        for phase in ["hf_tokenizers", "llama_cpp_tokenizer"] {
            let r = rows(&report, 4)
                .into_iter()
                .find(|r| r["model"] == m && r["phase"] == phase)
                .unwrap_or_else(|| panic!("{m} {phase}"));
            assert_eq!(r["equal"], true, "{r}");
            assert!(r["note"].as_str().unwrap().ends_with("texts identical"));
        }
    }

    // 5: incremental detokenization gives the whole text back, at a cost per token.
    for m in models {
        for phase in ["detokenize_whole", "detokenize_incremental"] {
            let r = rows(&report, 5)
                .into_iter()
                .find(|r| r["model"] == m && r["phase"] == phase)
                .unwrap();
            assert_eq!(r["equal"], true, "{r}");
            assert!(num(r, "per_item_us") > 0.0);
        }
    }

    // The other files: one CSV line per row, the Markdown tables, the tokenizers.
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let n = report["rows"].as_array().unwrap().len();
    assert_eq!(csv.lines().count(), n + 1);
    assert!(csv.starts_with("experiment,experiment_name,model,template,phase,"));
    let md = std::fs::read_to_string(out.join("preprocess.md")).unwrap();
    for h in [
        "## 1. template-vs-tokenize",
        "## 2. parallel-tokenization",
        "## 3. template-engines",
        "## 4. tokenizers-vs-llama-cpp",
        "## 5. detokenization",
    ] {
        assert!(md.contains(h), "{h}");
    }
    assert!(
        md.contains("2 of 2 models tokenize to the same ids"),
        "{md}"
    );
    assert!(out.join("tokenizers/qwen2-r1-vocab.json").is_file());
    let meta = json(&out.join("tokenizers/qwen2-r1-vocab.template.json"));
    assert!(meta["chat_template"]
        .as_str()
        .unwrap()
        .contains("<｜Assistant｜>"));
    assert_eq!(meta["bos_token"], "<｜begin▁of▁sentence｜>");

    // A second run appends to results.csv, under the one header.
    preprocess(
        &out,
        &["--exp", "5", "--model", "synth:tiny", "--repetitions", "1"],
    );
    let again = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(again.lines().count(), n + 1 + 2);
    assert_eq!(again.matches("experiment,experiment_name").count(), 1);
}

/// `report` puts a "Preprocessing" section with its two plots into the HTML report, and
/// the page renders in headless Chromium without a console error.
#[test]
fn the_html_report_shows_the_preprocessing_section_in_chromium() {
    let tmp = tempdir();
    let out = tmp.path().join("results").join("pre");
    preprocess(
        &out,
        &[
            "--quick",
            "--exp",
            "1,2",
            "--model",
            "synth:tiny",
            "--threads",
            "1,2",
            "--repetitions",
            "1",
        ],
    );
    let html = tmp.path().join("report.html");
    ok_run(&[
        "report",
        path_str(&tmp.path().join("results")),
        "--html",
        path_str(&html),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h2>Preprocessing</h2>"));
    assert!(page.contains("Time against text size (experiment 1)"));
    assert!(page.contains("Speed-up against threads (experiment 2)"));
    assert_eq!(page.matches("<svg").count(), 2);
    let Some(chromium) = chromium() else { return };
    let shot = tmp.path().join("pre.png");
    let o = crate::report::chromium_run(
        &chromium,
        &[
            "--window-size=1280,2000".into(),
            format!("--screenshot={}", shot.display()),
            format!("file://{}", html.display()),
        ],
    );
    let log = stderr(&o);
    for bad in ["Uncaught", "ERROR:CONSOLE", ":CONSOLE("] {
        assert!(!log.contains(bad), "console error:\n{log}");
    }
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let tmp = tempdir();
    let out = tmp.path().join("o");
    let o = run(&["preprocess", "--exp", "1,9", "--out", path_str(&out)]);
    assert_one_line_error(&o, 2, "unknown experiment '9'");
    let o = run(&["preprocess", "--threads", "0", "--out", path_str(&out)]);
    assert_one_line_error(&o, 2, "--threads");
    let bad = write(
        tmp.path(),
        "bad.jinja",
        "{% for m in messages %}{{ m.content ",
    );
    let o = run(&[
        "preprocess",
        "--chat-template",
        path_str(&bad),
        "--model",
        "synth:tiny",
        "--out",
        path_str(&out),
    ]);
    assert_one_line_error(&o, 2, "does not parse");
    let cfg = write(
        tmp.path(),
        "tokenizer_config.json",
        "{\"bos_token\": \"<s>\"}",
    );
    let o = run(&[
        "preprocess",
        "--chat-template",
        path_str(&cfg),
        "--model",
        "synth:tiny",
        "--out",
        path_str(&out),
    ]);
    assert_one_line_error(&o, 2, "no chat_template");
    let o = run(&[
        "preprocess",
        "--chat-template",
        "no-such-template",
        "--out",
        path_str(&out),
    ]);
    assert_one_line_error(&o, 2, "no-such-template");
    let tok = write(tmp.path(), "tokenizer.json", "{\"not\": \"a tokenizer\"}");
    let o = run(&[
        "preprocess",
        "--tokenizer",
        path_str(&tok),
        "--out",
        path_str(&out),
    ]);
    assert_one_line_error(&o, 2, "not a tokenizer.json");
    assert!(
        !out.join("results.csv").exists(),
        "nothing written on bad input"
    );
}

/// A template from a tokenizer_config.json or a GGUF replaces every model's own.
#[test]
fn chat_template_comes_from_a_tokenizer_config_or_a_set_name() {
    let tmp = tempdir();
    let cfg = write(
        tmp.path(),
        "tokenizer_config.json",
        r#"{"chat_template": [{"name": "default", "template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"}]}"#,
    );
    for (spec, name) in [
        (path_str(&cfg), "file:tokenizer_config.json"),
        ("llama3", "set:llama3"),
    ] {
        let out = tmp.path().join(name.replace(':', "_"));
        preprocess(
            &out,
            &[
                "--exp",
                "1",
                "--quick",
                "--model",
                "synth:tiny",
                "--chat-template",
                spec,
                "--repetitions",
                "1",
            ],
        );
        let report = json(&out.join("preprocess.json"));
        assert!(
            rows(&report, 1).iter().all(|r| r["template"] == name),
            "{name}"
        );
    }
}
