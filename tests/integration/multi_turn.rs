//! Multi-turn workloads: conversations side by side, the turns of one in order after the
//! reply before and the think time, TTFT by turn, and bad conversation files refused.

use serde_json::Value;

use crate::serve::serve;
use crate::support::*;

fn chat_workload(dir: &std::path::Path, think_ms: &str) -> std::path::PathBuf {
    write(
        dir,
        "chat.yaml",
        format!(
            "name: chat\nnum_prompts: 3\nsource:\n  kind: multi_turn\n  turns: 3\n  user_len: 8\n  assistant_len: 3\n  system_len: 16\n  think_ms: {think_ms}\n"
        ),
    )
}

fn end(r: &Value) -> f64 {
    num(r, "start_ms") + num(r, "e2e_ms")
}

#[test]
fn conversations_run_side_by_side_with_their_turns_in_order() {
    let s = serve(&[
        "--engine",
        "sim",
        "--sim-prefill-ms",
        "5",
        "--sim-decode-ms",
        "2",
    ]);
    let tmp = tempdir();
    let out = tmp.path().join("chat");
    http_run(
        &s.url,
        &out,
        &[
            "-w",
            path_str(&chat_workload(tmp.path(), "20")),
            "--concurrency",
            "3",
            "--warmup",
            "0",
        ],
    );
    let rs = samples(&out);
    assert_eq!(rs.len(), 9);
    for c in 0..3u64 {
        let mut turns: Vec<&Value> = rs.iter().filter(|r| r["conversation"] == c).collect();
        turns.sort_by_key(|r| r["turn"].as_u64());
        assert_eq!(turns.len(), 3);
        for w in turns.windows(2) {
            // The next turn leaves after the reply before it and 20 ms of thinking.
            assert!(num(w[1], "start_ms") >= end(w[0]) + 20.0 - 1e-6, "{w:?}");
            // It resends the history: more prompt tokens than the turn before.
            assert!(
                num(w[1], "prompt_tokens") > num(w[0], "prompt_tokens"),
                "{w:?}"
            );
        }
    }
    // The three conversations overlap: every first turn starts before any ends.
    let first_ends = rs
        .iter()
        .filter(|r| r["turn"] == 0)
        .map(end)
        .fold(f64::INFINITY, f64::min);
    assert!(rs
        .iter()
        .filter(|r| r["turn"] == 0)
        .all(|r| num(r, "start_ms") < first_ends));
    let m = json(&out.join("metrics.json"));
    let by_turn = m["by_turn"].as_array().unwrap();
    assert_eq!(by_turn.len(), 3);
    assert!(by_turn.iter().all(|t| t["requests"] == 3), "{m}");
    assert!(
        num(&by_turn[2], "prompt_tokens_mean") > num(&by_turn[0], "prompt_tokens_mean"),
        "{m}"
    );
}

#[test]
fn the_builtin_multi_turn_workload_runs_in_process_turn_by_turn() {
    let tmp = tempdir();
    let out = tmp.path().join("builtin");
    ok_run(&[
        "run",
        "-e",
        "sim",
        "-q",
        "-w",
        "multi-turn",
        "--num-prompts",
        "2",
        "--warmup",
        "0",
        "--sim-decode-ms",
        "0.1",
        "-o",
        path_str(&out),
    ]);
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["completed"], 8, "{m}");
    let mut rs = samples(&out);
    rs.sort_by(|a, b| num(a, "start_ms").total_cmp(&num(b, "start_ms")));
    let order: Vec<(u64, u64)> = rs
        .iter()
        .map(|r| {
            (
                r["conversation"].as_u64().unwrap(),
                r["turn"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (1, 0),
            (1, 1),
            (1, 2),
            (1, 3)
        ]
    );
    assert_eq!(m["by_turn"].as_array().unwrap().len(), 4);
}

#[test]
fn bad_conversations_are_one_line_errors() {
    let tmp = tempdir();
    let empty = write(
        tmp.path(),
        "empty.json",
        r#"[{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": ""}]}]"#,
    );
    let def = write(
        tmp.path(),
        "file.yaml",
        format!(
            "source:\n  kind: multi_turn\n  path: {}\n",
            path_str(&empty)
        ),
    );
    let o = run(&["run", "-e", "sim", "-q", "-w", path_str(&def)]);
    assert_one_line_error(&o, 2, "conversation 0, turn 1: the message is empty");
    let o = run(&[
        "run",
        "-e",
        "sim",
        "-q",
        "-w",
        path_str(&chat_workload(tmp.path(), "-5")),
    ]);
    assert_one_line_error(&o, 2, "think_ms -5 is out of range");
    let no_turns = write(
        tmp.path(),
        "t.yaml",
        "source:\n  kind: multi_turn\n  user_len: 4\n",
    );
    let o = run(&["run", "-e", "sim", "-q", "-w", path_str(&no_turns)]);
    assert_one_line_error(&o, 2, "needs turns");
}
