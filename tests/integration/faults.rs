//! Fault injection for the http engine: a small loopback server inside the test answers
//! each request with a different fault. Every fault must be recorded as a failed request
//! with its error type, counted in error_rate, and the run must go on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

fn chunk(content: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n")
}

const USAGE: &str =
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n";
const ROLE: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";

/// The faults, in the order requests receive them, and the error kind each must give.
const FAULTS: [(&str, Option<&str>); 10] = [
    ("ok", None),
    ("status_500", Some("http_500")),
    ("status_404", Some("http_404")),
    ("not_sse", Some("not_sse")),
    ("bad_json", Some("parse")),
    ("bad_sse", Some("parse")),
    ("cut_midway", Some("disconnected")),
    ("stall", Some("timeout")),
    ("no_usage", None),
    ("error_event", Some("stream_error")),
];

/// Reads one request (head and Content-Length body), so the client sees a clean exchange.
pub async fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut tmp))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(text[..end].to_owned());
            }
        }
    }
}

async fn answer(mut s: TcpStream, fault: &str) {
    let reply = match fault {
        "ok" => format!("{SSE_HEAD}{ROLE}{}{}{USAGE}data: [DONE]\n\n", chunk("a"), chunk("b")),
        "status_500" => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom".into(),
        "status_404" => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        "not_sse" => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".into(),
        "bad_json" => format!("{SSE_HEAD}{}data: {{oops\n\ndata: [DONE]\n\n", chunk("a")),
        "bad_sse" => {
            // An event-stream line that is not UTF-8: malformed SSE, not malformed JSON.
            let mut bytes = format!("{SSE_HEAD}{ROLE}{}", chunk("a")).into_bytes();
            bytes.extend_from_slice(b"data: \xff\xfe\n\ndata: [DONE]\n\n");
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            return;
        }
        "cut_midway" => format!("{SSE_HEAD}{ROLE}{}data: {{\"choices\":[{{\"del", chunk("a")),
        "stall" => {
            let _ = s.write_all(format!("{SSE_HEAD}{ROLE}{}", chunk("a")).as_bytes()).await;
            // Silent until the client gives up (its 1 s timeout) and hangs up. A fixed
            // wait would close the connection itself once over, and a client that a busy
            // machine had not run by then would see a disconnect, not a timeout. Bounded
            // all the same.
            let mut rest = [0u8; 256];
            let hung_up = async { while matches!(s.read(&mut rest).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(Duration::from_secs(50), hung_up).await;
            return;
        }
        "no_usage" => format!("{SSE_HEAD}{ROLE}{}data: [DONE]\n\n", chunk("a")),
        "error_event" => format!("{SSE_HEAD}{}data: {{\"error\":{{\"message\":\"overloaded\"}}}}\n\ndata: [DONE]\n\n", chunk("a")),
        other => unreachable!("fault {other}"),
    };
    let _ = s.write_all(reply.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// Starts a loopback server on its own thread that hands each connection to `serve` for
/// 60 s; its URL.
pub fn loopback_server<F, Fut>(serve: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let accept = async {
                while let Ok((s, _)) = listener.accept().await {
                    tokio::spawn(serve(s));
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(60), accept).await;
        });
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the loopback server starts");
    format!("http://127.0.0.1:{port}/v1")
}

/// Serves requests in FAULTS order, one per connection.
fn faulty_server() -> String {
    let count = Arc::new(AtomicUsize::new(0));
    loopback_server(move |mut s| {
        let count = count.clone();
        async move {
            if let Some(head) = read_request(&mut s).await {
                if head.starts_with("POST") {
                    let i = count.fetch_add(1, Ordering::SeqCst);
                    answer(s, FAULTS[i % FAULTS.len()].0).await;
                }
            }
        }
    })
}

/// A good streamed reply in chunked encoding, one chunk per event, which keeps the
/// connection open.
fn chunked_reply() -> Vec<u8> {
    let mut r =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let done = "data: [DONE]\n\n";
    for event in [ROLE, &chunk("a"), &chunk("b"), USAGE, done] {
        r.extend_from_slice(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes());
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// Answers every request on a connection with [`chunked_reply`], counting connections.
/// With `one_per_connection` it reads a second request on a connection and closes it
/// unanswered, as llama.cpp's server does after a fixed number of requests: the client's
/// kept connection turns out dead only once the request is on it.
fn keep_alive_server(one_per_connection: bool) -> (String, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let url = loopback_server(move |mut s| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut answered = 0;
            while read_request(&mut s).await.is_some() {
                if one_per_connection && answered == 1 {
                    break;
                }
                if s.write_all(&chunked_reply()).await.is_err() {
                    break;
                }
                answered += 1;
            }
        }
    });
    (url, connections)
}

#[test]
fn keep_alive_connections_are_reused_and_a_stale_one_is_replaced() {
    for one_per_connection in [false, true] {
        let (url, connections) = keep_alive_server(one_per_connection);
        let tmp = tempdir();
        let out = tmp.path().join("keep-alive");
        let o = run(&[
            "run",
            "--engine",
            "http",
            "--url",
            &url,
            "--served-model",
            "m",
            "--num-prompts",
            "6",
            "--warmup",
            "0",
            "--concurrency",
            "1",
            "--timeout",
            "5",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let samples = samples(&out);
        assert_eq!(samples.len(), 6);
        for s in &samples {
            assert_eq!(
                s["ok"], true,
                "one request per connection = {one_per_connection}: {s}"
            );
            assert_eq!(s["output_tokens"], 2, "{s}");
        }
        let n = connections.load(Ordering::SeqCst);
        if one_per_connection {
            assert_eq!(
                n, 6,
                "each request after the first is retried on a new connection"
            );
        } else {
            assert_eq!(n, 1, "one kept-alive connection carries every request");
        }
    }
}

#[test]
fn every_fault_is_recorded_with_its_kind_and_the_run_goes_on() {
    let url = faulty_server();
    let tmp = tempdir();
    let out = tmp.path().join("faults");
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--url",
        &url,
        "--served-model",
        "m",
        "--num-prompts",
        &FAULTS.len().to_string(),
        "--warmup",
        "0",
        "--concurrency",
        "1",
        "--timeout",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        o.status.success(),
        "one request succeeds, so the run succeeds: {}",
        stderr(&o)
    );
    let samples = samples(&out);
    assert_eq!(samples.len(), FAULTS.len(), "nothing lost");
    let mut by_id = samples.clone();
    by_id.sort_by_key(|s| s["request_id"].as_u64());
    for (s, (fault, kind)) in by_id.iter().zip(FAULTS) {
        assert_eq!(s["error_kind"].as_str(), kind, "fault {fault}: {s}");
        assert_eq!(s["ok"], kind.is_none(), "fault {fault}: {s}");
        if kind.is_some() {
            assert!(
                !s["error"].as_str().unwrap_or("").is_empty(),
                "fault {fault} has no message"
            );
        }
    }
    let ok = &by_id[0];
    assert_eq!(ok["output_tokens"], 2);
    assert_eq!(ok["output_tokens_source"], "usage");
    // No usage and no tokenizer: counted by content chunks, and the record says so.
    let no_usage = &by_id[8];
    assert_eq!(no_usage["output_tokens"], 1, "{no_usage}");
    assert_eq!(no_usage["output_tokens_source"], "chunks");
    assert_eq!(
        ok["token_ms"].as_array().unwrap().len(),
        2,
        "the role-only chunk is not a token"
    );
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["num_requests"], FAULTS.len());
    let failed = FAULTS.iter().filter(|(_, k)| k.is_some()).count();
    assert_eq!(m["failed"], failed);
    let rate = m["error_rate"].as_f64().unwrap();
    let n = FAULTS.len() as f64;
    assert!((rate - failed as f64 / n).abs() < 1e-9, "{rate}");
    for kind in FAULTS.iter().filter_map(|(_, k)| *k) {
        let expected = FAULTS.iter().filter(|(_, k)| *k == Some(kind)).count();
        assert_eq!(m["errors_by_kind"][kind], expected, "{kind}: {m}");
    }
}

#[test]
fn connection_refused_is_recorded_not_fatal() {
    // Held for the whole run: refused, and no other test's server can take it meanwhile.
    let reserved = reserve_port();
    let port = reserved.port;
    let tmp = tempdir();
    let out = tmp.path().join("refused");
    let o = run(&[
        "run",
        "--engine",
        "http",
        "--url",
        &format!("http://127.0.0.1:{port}/v1"),
        "--served-model",
        "m",
        "--num-prompts",
        "3",
        "--warmup",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "every request failed: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("every request failed"),
        "{}",
        stderr(&o)
    );
    let samples = samples(&out);
    assert_eq!(samples.len(), 3);
    assert!(
        samples.iter().all(|s| s["error_kind"] == "connection"),
        "{samples:?}"
    );
    assert_eq!(
        json(&out.join("metrics.json"))["errors_by_kind"]["connection"],
        3
    );
}

/// A loopback server answering every request with `events` (whole SSE text) and then, on
/// a close-delimited body, waiting `hold` before it closes.
fn scripted_server(events: String, hold: Duration) -> String {
    loopback_server(move |mut s| {
        let events = events.clone();
        async move {
            if read_request(&mut s).await.is_some() {
                let _ = s.write_all(format!("{SSE_HEAD}{events}").as_bytes()).await;
                let _ = s.flush().await;
                tokio::time::sleep(hold).await;
                let _ = s.shutdown().await;
            }
        }
    })
}

fn run_against(url: &str, out: &std::path::Path, n: usize, extra: &[&str]) -> std::process::Output {
    let n = n.to_string();
    let mut args = vec![
        "run",
        "--engine",
        "http",
        "--url",
        url,
        "--served-model",
        "m",
        "--num-prompts",
        &n,
        "--warmup",
        "0",
        "--concurrency",
        "1",
        "--timeout",
        "60",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

const FINAL: &str =
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n";

#[test]
fn a_request_ends_at_done_not_when_the_server_closes_the_body() {
    // `[DONE]`, then the connection held open 20 s: E2E must not include the hold, and
    // three requests must not take a minute.
    let events = format!(
        "{ROLE}{}{}{FINAL}{USAGE}data: [DONE]\n\n",
        chunk("a"),
        chunk("b")
    );
    let url = scripted_server(events, Duration::from_secs(20));
    let tmp = tempdir();
    let out = tmp.path().join("held");
    let start = std::time::Instant::now();
    let o = run_against(&url, &out, 3, &[]);
    let took = start.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(took < Duration::from_secs(15), "3 requests took {took:?}");
    let samples = samples(&out);
    assert_eq!(samples.len(), 3);
    for s in &samples {
        assert_eq!(s["ok"], true, "{s}");
        let e2e = s["e2e_ms"].as_f64().unwrap();
        assert!(e2e < 5000.0, "E2E {e2e} ms holds the server's close: {s}");
        assert!(s.get("warnings").is_none(), "{s}");
    }
}

#[test]
fn a_clean_end_without_done_is_complete_with_a_counted_warning() {
    let events = format!("{ROLE}{}{}{FINAL}{USAGE}", chunk("a"), chunk("b"));
    let url = scripted_server(events, Duration::ZERO);
    let tmp = tempdir();
    let out = tmp.path().join("nodone");
    let o = run_against(&url, &out, 2, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for s in samples(&out) {
        assert_eq!(s["ok"], true, "{s}");
        assert_eq!(s["output_tokens"], 2, "{s}");
        assert_eq!(s["warnings"], serde_json::json!(["no_done"]), "{s}");
    }
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["completed"], 2);
    assert_eq!(m["warnings_by_kind"]["no_done"], 2, "{m}");
    assert!(
        m["warnings"].to_string().contains("without `data: [DONE]`"),
        "{m}"
    );

    // Content, then a clean close with no sign of an end: cut short, not complete.
    let url = scripted_server(format!("{ROLE}{}", chunk("a")), Duration::ZERO);
    let out = tmp.path().join("cut");
    let _ = run_against(&url, &out, 1, &[]);
    let s = &samples(&out)[0];
    assert_eq!(s["error_kind"], "disconnected", "{s}");
}

#[test]
fn without_usage_tokens_are_counted_by_the_models_tokenizer_or_by_chunks() {
    let events = format!(
        "{ROLE}{}{}{}{FINAL}data: [DONE]\n\n",
        chunk("hello"),
        chunk(" world"),
        chunk(" again")
    );
    let url = scripted_server(events, Duration::ZERO);
    let tmp = tempdir();
    // By chunks: one warning in the summary, and the run succeeds.
    let out = tmp.path().join("chunks");
    let o = run_against(&url, &out, 2, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for s in samples(&out) {
        assert_eq!(s["ok"], true, "{s}");
        assert_eq!(s["output_tokens"], 3, "{s}");
        assert_eq!(s["output_tokens_source"], "chunks", "{s}");
    }
    let m = json(&out.join("metrics.json"));
    assert_eq!(m["output_tokens_sources"]["chunks"], 2, "{m}");
    let warned: Vec<_> = m["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w.as_str().unwrap_or("").contains("no usage"))
        .collect();
    assert_eq!(warned.len(), 1, "{m}");
    // With --model naming a local model, its tokenizer counts them.
    let model = tmp.path().join("tiny.gguf");
    synth_tiny(&model);
    let out = tmp.path().join("tok");
    let o = run_against(&url, &out, 1, &["--model", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = &samples(&out)[0];
    assert_eq!(s["output_tokens_source"], "tokenizer", "{s}");
    let n = s["output_tokens"].as_u64().unwrap();
    assert!(n >= 3, "{s}");
}

#[test]
fn max_tokens_of_u32_max_in_a_workload_allocates_nothing_up_front() {
    // 4294967295 token times reserved up front would be 64 GiB: the process would abort.
    let events = format!(
        "{ROLE}{}{}{FINAL}{USAGE}data: [DONE]\n\n",
        chunk("a"),
        chunk("b")
    );
    let url = scripted_server(events, Duration::ZERO);
    let tmp = tempdir();
    let w = write(
        tmp.path(),
        "huge.jsonl",
        "{\"prompt\":\"hi\",\"max_tokens\":4294967295}\n",
    );
    let out = tmp.path().join("huge");
    let o = run_against(&url, &out, 1, &["-w", w.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = &samples(&out)[0];
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(s["max_tokens"], 4294967295u64, "{s}");
    assert_eq!(s["output_tokens"], 2, "{s}");
}
