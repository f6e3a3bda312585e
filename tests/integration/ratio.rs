//! `nativebench ratio`: the interval and verdict the comparison scripts in benches/ print.

use crate::support::*;

#[test]
fn ratio_prints_an_interval_and_a_verdict_the_scripts_read() {
    // Eight alternated rounds on a drifting machine, nativebench 1% faster in each.
    let base: Vec<String> = (0..8).map(|i| (100 + 10 * i).to_string()).collect();
    let new: Vec<String> = (0..8)
        .map(|i| (101.0 + 10.1 * i as f64).to_string())
        .collect();
    let (base, new) = (base.join(","), new.join(","));
    let o = ok_run(&[
        "ratio", "--paired", "--base", &base, "--new", &new, "--format", "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((v["ratio"].as_f64().unwrap() - 1.01).abs() < 1e-9, "{v}");
    assert!(
        v["lo"].as_f64().unwrap() >= 1.0 && v["hi"].as_f64().unwrap() <= 1.02,
        "{v}"
    );
    assert_eq!(v["verdict"], "within target");
    assert_eq!(v["rounds"], 8);
    // Unpaired, the machine's drift is noise: not settled, with an estimate.
    let o = ok_run(&["ratio", "--base", &base, "--new", &new]);
    let text = stdout(&o);
    assert!(text.starts_with("ratio 1.010, 95% interval "), "{text}");
    assert!(
        text.contains("(8 rounds, unpaired bootstrap, seed 0); target 0.97..1.03: inconclusive: "),
        "{text}"
    );
    assert!(text.trim_end().ends_with("more rounds needed"), "{text}");
    // A one-sided target.
    let o = ok_run(&[
        "ratio",
        "--base",
        "10,10.2,9.9,10.1,10",
        "--new",
        "12,12.1,11.9,12,12.2",
        "--band",
        "0.97,inf",
    ]);
    assert!(
        stdout(&o).contains("target >= 0.97: within target"),
        "{}",
        stdout(&o)
    );
    // Three rounds are too few for a bootstrap to be trusted, however tight.
    let o = ok_run(&["ratio", "--base", "10,10.2,9.9", "--new", "12,12.1,11.9"]);
    assert!(
        stdout(&o).contains("inconclusive: 2 more rounds needed"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn ratio_refuses_bad_input_in_one_line() {
    assert_one_line_error(
        &run(&["ratio", "--base", "1,2", "--new", "1", "--paired"]),
        2,
        "--paired",
    );
    assert_one_line_error(
        &run(&["ratio", "--base", "1", "--new", "1", "--band", "1.1,0.9"]),
        2,
        "--band",
    );
    assert_one_line_error(
        &run(&["ratio", "--base", "0,0", "--new", "1,1"]),
        2,
        "median",
    );
    assert_one_line_error(
        &run(&["ratio", "--base", "nan", "--new", "1"]),
        2,
        "--base nan: out of range",
    );
    let o = run(&["ratio", "--base", "x", "--new", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
