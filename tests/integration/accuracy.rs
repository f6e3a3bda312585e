//! Workload files in YAML, the categories workload, accuracy against references (ROUGE,
//! extraction) and cost, through the real binary: on the sim, whose `--sim-echo` answers
//! with the reference so the scores are known, and on real models.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Runs the sim on `workload` into `tmp/name` with fast delays, plus `extra` flags.
fn sim_run(tmp: &Path, name: &str, workload: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = tmp.join(name);
    let args = [
        &["run", "-e", "sim", "-w", workload, "-o", path_str(&out)][..],
        &["--sim-decode-ms", "0.05", "--sim-prefill-ms", "0.1", "-q"],
        extra,
    ]
    .concat();
    ok_run(&args);
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn a_yaml_workload_runs_like_its_toml_twin() {
    let tmp = tempdir();
    let yaml = write(
        tmp.path(),
        "w.yaml",
        "name: mine\nnum_prompts: 3\noutput_len: 7\nsource:\n  kind: random\n  input_len: 64\n",
    );
    let toml = write(
        tmp.path(),
        "w.toml",
        "name = \"mine\"\nnum_prompts = 3\noutput_len = 7\n[source]\nkind = \"random\"\ninput_len = 64\n",
    );
    // One seed for both: the same random prompts from the same schema.
    let a = sim_run(tmp.path(), "a", path_str(&yaml), &["--seed", "7"]);
    let b = sim_run(tmp.path(), "b", path_str(&toml), &["--seed", "7"]);
    for dir in [&a, &b] {
        let s = samples(dir);
        assert_eq!(s.len(), 3);
        assert!(
            s.iter()
                .all(|r| r["prompt_tokens"] == 64 && r["output_tokens"] == 7),
            "{s:?}"
        );
        assert_eq!(json(&dir.join("metrics.json"))["workload"], "mine");
    }
    let prompts = |d: &Path| -> Vec<Value> {
        samples(d)
            .iter()
            .map(|r| r["prompt_preview"].clone())
            .collect()
    };
    assert_eq!(
        prompts(&a),
        prompts(&b),
        "the same schema makes the same prompts"
    );
}

#[test]
fn a_yaml_workload_with_unknown_keys_names_them_all() {
    let tmp = tempdir();
    let yaml = write(
        tmp.path(),
        "w.yaml",
        "name: w\nnum_promts: 3\nsource:\n  kind: random\n  input_len: 20\n  seeed: 4\n",
    );
    let o = run(&["run", "-e", "sim", "-w", path_str(&yaml), "-q"]);
    assert_one_line_error_naming(&o, Some(2), &["unknown keys num_promts, source.seeed"]);
    let bad = write(
        tmp.path(),
        "b.yml",
        "source:\n  kind: random\n  input_len: [1\n",
    );
    let o = run(&["run", "-e", "sim", "-w", path_str(&bad), "-q"]);
    assert_one_line_error_naming(&o, Some(2), &["b.yml", "line "]);
}

#[test]
fn categories_reach_every_sample_metrics_and_the_reports() {
    let tmp = tempdir();
    let out = sim_run(tmp.path(), "run", "categories", &["--output-len", "4"]);
    let s = samples(&out);
    assert_eq!(s.len(), 24);
    let cats = [
        "chat",
        "coding",
        "creative_writing",
        "extraction",
        "reasoning",
        "summarisation",
    ];
    for c in cats {
        assert_eq!(s.iter().filter(|r| r["category"] == c).count(), 4, "{c}");
    }
    let m = json(&out.join("metrics.json"));
    let by = m["by_category"].as_object().expect("by_category");
    assert_eq!(by.keys().map(String::as_str).collect::<Vec<_>>(), cats);
    for (name, c) in by {
        assert_eq!(c["requests"], 4, "{name}");
        assert_eq!(c["completed"], 4, "{name}");
        // Each category's p50 is the p50 of its own four requests' TTFTs.
        let mut ttft: Vec<f64> = s
            .iter()
            .filter(|r| r["category"] == name.as_str())
            .map(|r| num(r, "ttft_ms"))
            .collect();
        ttft.sort_by(f64::total_cmp);
        let p50 = (ttft[1] + ttft[2]) / 2.0;
        assert!(close(num(c, "ttft_ms.p50"), p50), "{name}: {c}");
        assert_eq!(num(c, "output_tokens_per_request"), 4.0);
    }
    let md = ok_run(&["report", path_str(&out), "--md"]);
    let md = stdout(&md);
    assert!(md.contains("#### By category"), "{md}");
    for c in cats {
        assert!(
            md.lines().any(|l| l.contains(&format!("| {c} |"))),
            "{c}: {md}"
        );
    }
    let html = tmp.path().join("r.html");
    ok_run(&["report", path_str(&out), "--html", path_str(&html)]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h2>By category</h2>"));
    assert!(page.contains("<td class=\"t\">creative_writing</td>"));
    // The per-request CSV carries each request's category.
    let csv = tmp.path().join("requests.csv");
    ok_run(&["report", path_str(&out), "--requests-csv", path_str(&csv)]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == "category")
        .expect("a category column");
    let coding = text
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(at) == Some("coding"))
        .count();
    assert_eq!(coding, 4, "{text}");
}

#[test]
fn a_jsonl_file_gives_categories_per_prompt() {
    let tmp = tempdir();
    let data = write(
        tmp.path(),
        "p.jsonl",
        "{\"prompt\": \"a\", \"category\": \"x\"}\n{\"prompt\": \"b\"}\n",
    );
    let out = sim_run(tmp.path(), "run", path_str(&data), &["--output-len", "2"]);
    let s = samples(&out);
    assert_eq!(s[0]["category"], "x");
    assert!(s[1].get("category").is_none());
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["by_category"]["x"]["requests"], 1);
    assert_eq!(m["by_category"]["none"]["requests"], 1);
}

#[test]
fn summarization_scores_rouge_one_for_the_reference_and_low_otherwise() {
    let tmp = tempdir();
    let echo = sim_run(tmp.path(), "echo", "summarization", &["--sim-echo"]);
    let s = samples(&echo);
    assert_eq!(s.len(), 3);
    for r in &s {
        for k in ["rouge1_f1", "rouge2_f1", "rougel_f1"] {
            assert_eq!(num(r, k), 1.0, "{k}: {r}");
        }
        assert_eq!(
            r["finish_reason"], "stop",
            "the echo stops at the answer's end"
        );
    }
    let m = json(&echo.join("metrics.json"));
    assert_eq!(num(&m, "accuracy.rouge1_f1"), 1.0);
    assert_eq!(m["accuracy"]["scored_requests"], 3);

    let plain = sim_run(tmp.path(), "plain", "summarization", &[]);
    let s = samples(&plain);
    let m = json(&plain.join("metrics.json"));
    let r1 = num(&m, "accuracy.rouge1_f1");
    assert!(
        r1 > 0.0 && r1 < 0.2,
        "the sim's fixed words share only `the`: {r1}"
    );
    assert_eq!(num(&m, "accuracy.rouge2_f1"), 0.0);
    let mean = s.iter().map(|r| num(r, "rouge1_f1")).sum::<f64>() / 3.0;
    assert!(
        close(r1, mean),
        "the run's figure is the mean of its requests'"
    );
    // Scoring is after the run: the figures in metrics.json are those of the samples.
    assert!(close(
        num(&m, "ttft_ms.max"),
        s.iter().map(|r| num(r, "ttft_ms")).fold(0.0, f64::max)
    ));
    let md = stdout(&ok_run(&["report", path_str(&plain), "--md"]));
    assert!(md.lines().any(|l| l.starts_with("| rouge1_f1 |")), "{md}");
}

#[test]
fn extraction_scores_the_echoed_answer_perfectly_and_prose_not_at_all() {
    let tmp = tempdir();
    let echo = sim_run(tmp.path(), "echo", "extraction", &["--sim-echo"]);
    let s = samples(&echo);
    assert_eq!(s.len(), 6);
    for r in &s {
        assert_eq!(r["json_valid"], true, "{r}");
        assert_eq!(r["schema_valid"], true, "{r}");
        assert_eq!(num(r, "field_exact_match"), 1.0, "{r}");
        assert!(r["category"].is_string(), "the data set's categories: {r}");
    }
    let m = json(&echo.join("metrics.json"));
    for k in ["json_valid_rate", "schema_valid_rate", "field_exact_match"] {
        assert_eq!(num(&m, &format!("accuracy.{k}")), 1.0, "{k}");
    }

    let plain = sim_run(tmp.path(), "plain", "extraction", &[]);
    let m = json(&plain.join("metrics.json"));
    for k in ["json_valid_rate", "schema_valid_rate", "field_exact_match"] {
        assert_eq!(num(&m, &format!("accuracy.{k}")), 0.0, "{k}");
    }
    let csv = stdout(&ok_run(&["report", path_str(&plain), "--csv", "-"]));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"field_exact_match"), "{csv}");
}

#[test]
fn an_extraction_workload_with_a_bad_schema_or_expected_value_is_refused() {
    let tmp = tempdir();
    write(tmp.path(), "s.json", r#"{"type": "no-such-type"}"#);
    write(
        tmp.path(),
        "d.jsonl",
        "{\"document\": \"x\", \"expected\": {\"a\": 1}}\n",
    );
    let w = write(
        tmp.path(),
        "w.yaml",
        "source:\n  kind: extraction\n  path: d.jsonl\n  schema: s.json\n  instruction: go\n",
    );
    let o = run(&["run", "-e", "sim", "-w", path_str(&w), "-q"]);
    assert_one_line_error_naming(&o, Some(2), &["s.json", "not a valid JSON Schema"]);
    write(tmp.path(), "s.json", r#"{"type": "object"}"#);
    write(
        tmp.path(),
        "d.jsonl",
        "{\"document\": \"x\", \"expected\": 3}\n",
    );
    let o = run(&["run", "-e", "sim", "-w", path_str(&w), "-q"]);
    assert_one_line_error_naming(
        &o,
        Some(2),
        &["d.jsonl", "line 1", "expected must be a JSON object"],
    );
}

#[test]
fn cost_follows_the_prices_and_the_token_counts() {
    let tmp = tempdir();
    let out = sim_run(
        tmp.path(),
        "run",
        "short",
        &[
            "--price-input-per-mtok",
            "2.5",
            "--price-output-per-mtok",
            "10",
        ],
    );
    let s = samples(&out);
    let mut total = 0.0;
    for r in &s {
        let want = (num(r, "prompt_tokens") * 2.5 + num(r, "output_tokens") * 10.0) / 1e6;
        assert!(close(num(r, "cost_usd"), want), "{r}");
        total += want;
    }
    let m = json(&out.join("metrics.json"));
    // 5 requests of 128 tokens in and 128 out: 5 * (320 + 1280) / 1e6.
    assert!(close(total, 0.008), "{total}");
    assert!(close(num(&m, "cost.cost_usd"), total));
    assert!(close(num(&m, "cost.cost_per_request_usd"), total / 5.0));
    assert!(close(
        num(&m, "cost.cost_per_mtok_output_usd"),
        total / 640.0 * 1e6
    ));
    let cfg = json(&out.join("run_config.json"));
    assert_eq!(cfg["prices"]["output_per_mtok"], 10.0);

    let table = write(
        tmp.path(),
        "prices.toml",
        "[sim-model]\ninput_per_mtok = 2.5\noutput_per_mtok = 10\n",
    );
    let t = sim_run(
        tmp.path(),
        "table",
        "short",
        &["-m", "sim-model", "--prices", path_str(&table)],
    );
    let m2 = json(&t.join("metrics.json"));
    assert!(close(num(&m2, "cost.cost_usd"), total));
    let md = stdout(&ok_run(&["report", path_str(&out), "--md"]));
    assert!(
        md.lines()
            .any(|l| l.starts_with("| cost_per_mtok_output_usd |")),
        "{md}"
    );
}

#[test]
fn bad_prices_are_one_line_errors_naming_the_flag() {
    let o = run(&[
        "run",
        "-e",
        "sim",
        "--price-input-per-mtok",
        "-1",
        "--price-output-per-mtok",
        "1",
    ]);
    assert_one_line_error_naming(
        &o,
        Some(2),
        &["--price-input-per-mtok", "-1", "out of range"],
    );
    let o = run(&[
        "run",
        "-e",
        "sim",
        "--price-input-per-mtok",
        "1",
        "--price-output-per-mtok",
        "NaN",
    ]);
    assert_one_line_error_naming(
        &o,
        Some(2),
        &["--price-output-per-mtok", "NaN", "out of range"],
    );
    let tmp = tempdir();
    let table = write(
        tmp.path(),
        "p.yaml",
        "m:\n  input_per_mtok: 1\n  output_per_mtok: 2\n  currency: eur\n",
    );
    let o = run(&["run", "-e", "sim", "-m", "m", "--prices", path_str(&table)]);
    assert_one_line_error_naming(&o, Some(2), &["--prices", "unknown key m.currency"]);
}

/// Extraction on real models: the answers are scored (whatever they are) and nothing
/// crashes. A tiny synthetic model writes no JSON; Gemma 3 270M, when fetched, may.
#[cfg(feature = "llama-cpp")]
#[test]
fn extraction_runs_and_is_scored_on_real_models() {
    let tmp = tempdir();
    let mut models = vec![crate::engines::TINY.to_owned()];
    if let Some(g) = gemma() {
        models.push(path_str(&g).to_owned());
    }
    for (i, model) in models.iter().enumerate() {
        let out = tmp.path().join(format!("run{i}"));
        ok_run(&[
            "run",
            "-e",
            "llama-cpp",
            "-m",
            model,
            "-w",
            "extraction",
            "--num-prompts",
            "2",
            "--output-len",
            "48",
            "-t",
            "2",
            "-o",
            path_str(&out),
            "-q",
        ]);
        let s = samples(&out);
        assert_eq!(s.len(), 2);
        for r in &s {
            assert_eq!(r["ok"], true, "{r}");
            assert!(r["json_valid"].is_boolean(), "{model}: {r}");
            let f = num(r, "field_exact_match");
            assert!((0.0..=1.0).contains(&f), "{model}: {r}");
        }
        let m = json(&out.join("metrics.json"));
        assert_eq!(m["accuracy"]["scored_requests"], 2, "{model}: {m}");
        eprintln!(
            "extraction on {model}: json_valid_rate {} schema_valid_rate {} field_exact_match {}",
            m["accuracy"]["json_valid_rate"],
            m["accuracy"]["schema_valid_rate"],
            m["accuracy"]["field_exact_match"]
        );
    }
}
