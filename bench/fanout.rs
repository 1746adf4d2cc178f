//! The realtime fan-out benchmark's client: N WebSocket subscribers on one collection, and a
//! writer creating documents at a steady rate. Prints, per write, how long it took from the
//! write (the document's `updatedAt`, stamped by the server just before its statement) until
//! the last subscriber had it, as p50/p99 over the writes; the same over every single
//! delivery; how many deliveries went missing; and, given the server's pid, its memory per
//! idle connection (RSS with the subscribers connected and idle, minus RSS before, / N).
//!
//!     cargo run --release --example bench_fanout -- ADDRESS SUBSCRIBERS WRITES PER_SECOND [PID]
//!
//! Run by `bench/fanout.sh`, which starts the server. `CONNECT_ONLY=1` opens the connections
//! without subscribing (to weigh a bare connection).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const COLLECTION: &str = "fanout";

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Resident memory of `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time `pid` has used, in milliseconds (utime + stime from /proc, at 100 ticks/s).
fn cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// One subscriber: connects, subscribes, reports ready, then records (n, latency µs) of each
/// event until `writes` events or 10 s of silence.
async fn subscriber(
    url: String,
    writes: usize,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Vec<(i64, i64)> {
    let mut request = url.into_client_request().expect("URL");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket connects");
    let init = json!({"type": "connection_init", "payload": {}}).to_string();
    socket.send(Message::text(init)).await.expect("init");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($c: String!) { documentChanged(collection: $c) { document { updatedAt data } } }",
        "variables": {"c": COLLECTION},
    }});
    // CONNECT_ONLY=1 weighs bare connections: no subscription.
    if std::env::var_os("CONNECT_ONLY").is_none() {
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("subscribe");
    }
    let mut seen = Vec::with_capacity(writes);
    let mut announced = false;
    while seen.len() < writes {
        let frame = match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(frame))) => frame,
            _ => break,
        };
        let Message::Text(text) = frame else { continue };
        let received = now_micros();
        let message: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
        match message["type"].as_str() {
            Some("connection_ack") if !announced => {
                announced = true;
                let _ = ready.send(()).await;
            }
            Some("next") => {
                let document = &message["payload"]["data"]["documentChanged"]["document"];
                let written = document["updatedAt"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map_or(received, |t| t.timestamp_micros());
                let n = document["data"]["n"].as_i64().unwrap_or(-1);
                seen.push((n, received - written));
            }
            _ => {}
        }
    }
    seen
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let address = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:4000".into());
    let subscribers: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let writes: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(200);
    let per_second: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(20);
    let pid: Option<u32> = args.get(5).and_then(|a| a.parse().ok());

    let before = pid.and_then(rss_kib);
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(subscribers);
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let url = format!("ws://{address}/graphql");
        tasks.push(tokio::spawn(subscriber(url, writes, ready_tx.clone())));
    }
    for _ in 0..subscribers {
        ready.recv().await.expect("every subscriber connects");
    }
    // Let the subscriptions settle and the server go idle before weighing it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = pid.and_then(rss_kib);
    if let (Some(before), Some(idle)) = (before, idle) {
        let per = (idle.saturating_sub(before)) as f64 / subscribers as f64;
        println!(
            "memory: RSS {before} KiB before, {idle} KiB with {subscribers} idle subscribers: {per:.1} KiB per connection"
        );
    }

    let cpu_before = pid.and_then(cpu_ms);
    let client = reqwest::Client::new();
    let endpoint = format!("http://{address}/graphql");
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second.max(1)));
    for n in 0..writes {
        tick.tick().await;
        let body = json!({
            "query": "mutation($d: JSON!) { createDocument(collection: \"fanout\", data: $d) { id } }",
            "variables": {"d": {"n": n, "title": "fan-out"}},
        });
        let answer = client.post(&endpoint).json(&body).send().await;
        if !answer.is_ok_and(|a| a.status().is_success()) {
            eprintln!("write {n} failed");
        }
    }
    let peak = pid.and_then(rss_kib);
    let cpu_after = pid.and_then(cpu_ms);

    let mut last_per_write = vec![i64::MIN; writes];
    let mut every: Vec<f64> = Vec::with_capacity(subscribers * writes);
    let mut missing = 0;
    for task in tasks {
        let seen = task.await.expect("subscriber");
        missing += writes.saturating_sub(seen.len());
        for (n, latency) in seen {
            if let Some(slot) = usize::try_from(n)
                .ok()
                .and_then(|n| last_per_write.get_mut(n))
            {
                *slot = (*slot).max(latency);
            }
            every.push(latency as f64 / 1000.0);
        }
    }
    let mut last: Vec<f64> = last_per_write
        .into_iter()
        .filter(|l| *l != i64::MIN)
        .map(|l| l as f64 / 1000.0)
        .collect();
    last.sort_by(f64::total_cmp);
    every.sort_by(f64::total_cmp);
    println!(
        "fan-out to {subscribers} subscribers, {writes} writes at {per_second}/s: write -> last subscriber p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&last, 50.0),
        percentile(&last, 99.0),
        percentile(&last, 100.0),
    );
    println!(
        "every delivery ({}): p50 {:.2} ms, p99 {:.2} ms; missing deliveries: {missing}",
        every.len(),
        percentile(&every, 50.0),
        percentile(&every, 99.0),
    );
    if let Some(peak) = peak {
        println!("server RSS after the writes: {peak} KiB");
    }
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let used = after.saturating_sub(before);
        let per = used as f64 * 1000.0 / every.len().max(1) as f64;
        println!("server CPU during the writes: {used} ms, {per:.1} µs per delivery");
    }
}
