//! `serve` under abuse: a full queue answers 429 at once, a failed engine turns /health
//! unhealthy and fails requests instead of hanging them, and clients that send slowly or
//! hold connections idle are cut off by the timeouts.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::serve::{http_raw, serve, Served};

fn addr(s: &Served) -> String {
    s.url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned()
}

fn post(max_tokens: u32, stream: bool) -> String {
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":"hi"}}],"max_tokens":{max_tokens},"ignore_eos":true,"stream":{stream}}}"#
    );
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn status(reply: &str) -> &str {
    reply.split(' ').nth(1).unwrap_or("")
}

#[test]
fn a_full_queue_answers_429_at_once_and_takes_requests_again_once_it_drains() {
    let s = serve(&[
        "--engine",
        "sim",
        "--sim-prefill-ms",
        "0",
        "--sim-decode-ms",
        "20",
        "--max-queue",
        "2",
    ]);
    let a = addr(&s);
    // Two long requests fill the queue: one runs, one waits.
    let long: Vec<_> = (0..2)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || http_raw(&a, &post(60, true)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let refused = http_raw(&a, &post(4, false));
    assert_eq!(status(&refused), "429", "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(refused.contains("--max-queue"), "{refused}");
    // At once: not after the queued requests (over 1 s of decoding).
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    for h in long {
        let reply = h.join().unwrap();
        assert!(reply.contains("data: [DONE]"), "{reply}");
    }
    let again = http_raw(&a, &post(4, false));
    assert_eq!(status(&again), "200", "{again}");
}

#[test]
fn a_failed_engine_turns_health_unhealthy_and_requests_fail_instead_of_hanging() {
    let s = serve(&[
        "--engine",
        "sim",
        "--sim-decode-ms",
        "1",
        "--sim-fail-after",
        "1",
    ]);
    let a = addr(&s);
    assert_eq!(status(&http_raw(&a, HEALTH)), "200");
    let first = http_raw(&a, &post(4, false));
    assert_eq!(status(&first), "200", "{first}");
    let t = Instant::now();
    let failed = http_raw(&a, &post(4, false));
    assert_eq!(status(&failed), "500", "{failed}");
    assert!(failed.contains("--sim-fail-after"), "{failed}");
    // The engine thread winds down after the failure; /health follows within moments.
    let mut health = http_raw(&a, HEALTH);
    while status(&health) == "200" && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
        health = http_raw(&a, HEALTH);
    }
    assert_eq!(status(&health), "503", "{health}");
    assert!(health.contains("the engine has stopped"), "{health}");
    for stream in [false, true] {
        let refused = http_raw(&a, &post(4, stream));
        assert_eq!(status(&refused), "503", "{refused}");
    }
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
}

#[test]
fn slow_bodies_get_408_and_idle_connections_are_closed() {
    let s = serve(&[
        "--engine",
        "sim",
        "--body-timeout",
        "0.5",
        "--header-timeout",
        "0.5",
        "--max-connections",
        "1",
    ]);
    let a = addr(&s);
    // A body that never arrives in full.
    let t = Instant::now();
    let slow = http_raw(
        &a,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"messages\"",
    );
    assert_eq!(status(&slow), "408", "{slow}");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());

    // A connection that sends nothing holds the only connection slot until the header
    // timeout closes it; the next client is served after that, not never.
    let mut idle = TcpStream::connect(&a).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let next = http_raw(&a, HEALTH);
    assert_eq!(status(&next), "200", "{next}");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    let mut buf = Vec::new();
    let _ = idle.read_to_end(&mut buf);
    let _ = idle.write_all(b"x");
}
