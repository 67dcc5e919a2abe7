//! The status page at `/`, loaded in a real headless Chromium against a real sequencer (private
//! Postgres, anvil, the real contracts): after a deposit, transfers, a posted batch and an open
//! dispute game, the page must show the same batches, roots, states, inbox figures and games as
//! the API, and its chart must have counted, from the `/v1/feed` websocket, exactly the
//! transactions accepted while it was open.
//!
//! Chromium is driven over the DevTools protocol rather than with `--dump-dom`: `--dump-dom`
//! alone dumps at the load event, before any data arrives, and `--virtual-time-budget` runs the
//! page's timers in virtual time that does not wait for websocket messages (a 20 s budget ends in
//! under a second of real time with no message received), so the live chart would stay empty.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use alloy::primitives::{Address, U256};
use common::{transfer, tx_json, Api, Net};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const ETHER: u128 = 1_000_000_000_000_000_000;

/// Chromium from Debian's `chromium` package, or `KEEL_CHROMIUM`. Missing is a failure, not a
/// skip: the status page would otherwise go untested without anyone noticing.
fn chromium() -> PathBuf {
    let path = std::env::var_os("KEEL_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: the status page test needs headless Chromium. Run scripts/setup.sh \
         (it installs Debian's `chromium` package), or set KEEL_CHROMIUM to a Chromium binary",
        path.display()
    );
    path
}

/// A headless Chromium with the DevTools protocol on a free port, killed when dropped.
struct Browser {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Browser {
    fn launch(url: &str) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let log = std::fs::File::create(profile.path().join("chromium.log")).expect("log file");
        let child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--window-size=1280,1100",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("chromium starts");
        let mut browser = Self { child, port: 0, profile };
        browser.port = browser.wait_for_port();
        browser
    }

    /// Chromium writes the port it chose to `DevToolsActivePort` in its profile.
    fn wait_for_port(&mut self) -> u16 {
        let file = self.profile.path().join("DevToolsActivePort");
        for _ in 0..600 {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                    return port;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromium exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("chromium did not open its DevTools port within 30 s: {}", self.log());
    }

    fn log(&self) -> String {
        let text =
            std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// The DevTools connection of the tab showing `url`.
    async fn page(&self, url: &str) -> Page {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let targets: Value =
                match http.get(format!("http://127.0.0.1:{}/json/list", self.port)).send().await {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
            let ws = targets.as_array().into_iter().flatten().find_map(|t| {
                let is_it = t["type"] == "page" && t["url"].as_str().is_some_and(|u| u == url);
                is_it.then(|| t["webSocketDebuggerUrl"].as_str().map(str::to_string)).flatten()
            });
            if let Some(ws) = ws {
                let (ws, _) = tokio_tungstenite::connect_async(ws).await.expect("DevTools ws");
                let mut page = Page { ws, next_id: 0, events: Vec::new() };
                page.call("Runtime.enable", json!({})).await;
                page.call("Log.enable", json!({})).await;
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no tab showing {url}: {}", self.log());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab over the DevTools protocol.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    /// Console messages, exceptions and log entries (CSP violations among them), for failures.
    events: Vec<String>,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::text(msg)).await.expect("DevTools send");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("DevTools answers within 30 s")
                .expect("DevTools connection open")
                .expect("DevTools frame");
            let Ok(text) = frame.to_text() else { continue };
            let v: Value = serde_json::from_str(text).expect("DevTools JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            match v["method"].as_str() {
                Some("Runtime.exceptionThrown") => {
                    self.events.push(format!("exception: {}", v["params"]["exceptionDetails"]))
                }
                Some("Runtime.consoleAPICalled") => {
                    self.events.push(format!("console: {}", v["params"]["args"]))
                }
                Some("Log.entryAdded") => {
                    self.events.push(format!("log: {}", v["params"]["entry"]["text"]))
                }
                _ => {}
            }
        }
    }

    /// Evaluate `expr` in the page and return its JSON value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({ "expression": expr, "returnByValue": true }))
            .await;
        assert!(r.get("exceptionDetails").is_none(), "page script failed: {r}");
        r["result"]["value"].clone()
    }

    async fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" })).await;
        let png = base64_decode(r["data"].as_str().expect("screenshot data"));
        std::fs::write(path, png).expect("write screenshot");
    }
}

/// Standard base64 (what DevTools sends screenshots in); enough for one manual check.
fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64 digit") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// What the page shows, read from the DOM (texts and the data-* attributes set with them).
const READ_DOM: &str = r##"(() => {
  const el = (id) => document.getElementById(id);
  const val = (id) => el(id).dataset.value;
  const rows = (sel) => Array.from(document.querySelectorAll(sel));
  if (!el("status")) return { loaded: "not yet" };
  return {
    loaded: el("status").dataset.loaded,
    error: el("error").textContent,
    accepted: val("accepted-total"),
    l1Batches: val("l1-batches"),
    l1Final: val("l1-final"),
    openGames: val("open-games"),
    inboxBacklog: val("inbox-backlog"),
    inboxBacklogText: el("inbox-backlog").textContent,
    inboxKnown: val("inbox-known"),
    inboxConsumed: val("inbox-consumed"),
    inboxOnL1: val("inbox-onl1"),
    feedState: el("feed-state").dataset.state,
    feedTotal: el("feed-total").dataset.count,
    feedFrom: el("feed-total").dataset.from,
    chartTotal: el("tx-chart").dataset.total,
    chartBars: el("tx-chart").querySelectorAll("rect.bar").length,
    batches: rows("#batches tbody tr[data-batch-index]").map((r) => ({
      index: r.dataset.batchIndex, state: r.dataset.state, root: r.dataset.root,
      removed: r.classList.contains("removed"),
      cells: Array.from(r.cells).map((c) => c.textContent),
      rootTitle: r.cells[4].title,
    })),
    games: rows("#games tbody tr[data-game-id]").map((r) => ({
      id: r.dataset.gameId, batch: r.dataset.batchIndex, status: r.dataset.status,
      open: r.dataset.open, text: r.textContent,
    })),
  };
})()"##;

/// A figure the page shows (data-* attributes are strings); `None` while it shows none.
fn opt(v: &Value) -> Option<u64> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn num(v: &Value) -> u64 {
    opt(v).unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Poll until `ok` holds for what the page shows, or fail with what it showed last.
async fn page_until(page: &mut Page, secs: u64, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let dom = page.eval(READ_DOM).await;
        if ok(&dom) {
            return dom;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page did not show {what} within {secs} s.\nDOM: {dom:#}\npage events: {:#?}",
            page.events
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn status_page_shows_batches_games_inbox_and_live_feed_in_chromium() {
    chromium(); // fail first, before the setup
    let net = Net::start().await;
    let seq = net.sequencer().await;
    let api = Api::new(seq.addr);
    let d = net.domain();
    let key = common::l2_key(&net.anvil, 1);
    let alice = net.user(1).account();
    let bob = Address::repeat_byte(0xB0);

    // A deposit, a few transfers, and a batch posted on L1.
    net.user(1).deposit_eth(alice, U256::from(ETHER)).await.expect("deposit");
    api.eventually(30, || async { (api.balance(alice).await > U256::ZERO).then_some(()) }).await;
    for nonce in 0..5 {
        let (s, v) =
            api.post("/v1/transactions", &tx_json(&d, &transfer(bob, 1, 0, nonce), &key)).await;
        assert_eq!(s, 200, "{v}");
    }
    let posted = api
        .eventually(30, || async {
            let (_, v) = api.get("/v1/batches").await;
            v["batches"].as_array()?.iter().find(|b| b["state"] == "posted" && b["txCount"] != 0)?
                ["index"]
                .as_u64()
        })
        .await;
    // An open dispute game against it (the honest defender answers; the challenger then waits).
    let poster = net.user(2).batch(posted).await.expect("rpc").poster;
    let game = net.user(2).challenge(posted, poster).await.expect("challenge");
    // A second deposit, so the inbox figures are not all trivial.
    net.user(3).deposit_eth(net.user(3).account(), U256::from(ETHER)).await.expect("deposit");

    // The page, while transfers keep coming.
    let url = format!("http://{}/", seq.addr);
    let browser = Browser::launch(&url);
    let mut page = browser.page(&url).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (stop, sent, addr, d, key) = (stop.clone(), sent.clone(), seq.addr, d, key);
        tokio::spawn(async move {
            let api = Api::new(addr);
            let mut nonce = 5;
            while !stop.load(Ordering::Relaxed) {
                let tx = tx_json(&d, &transfer(bob, 1, 0, nonce), &key);
                let (s, v) = api.post("/v1/transactions", &tx).await;
                assert_eq!(s, 200, "{v}");
                nonce += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let live = page_until(&mut page, 60, "data, a live feed and an open game", |dom| {
        dom["loaded"] == "true"
            && dom["feedState"] == "live"
            && opt(&dom["feedTotal"]).is_some_and(|n| n >= 10)
            && dom["chartBars"].as_u64().is_some_and(|n| n >= 2)
            && dom["batches"].as_array().is_some_and(|b| b.iter().any(|r| r["state"] == "posted"))
            && dom["games"].as_array().is_some_and(|g| !g.is_empty())
    })
    .await;
    assert_eq!(live["error"], "", "the page shows an error: {live:#}");
    stop.store(true, Ordering::Relaxed);
    sender.await.expect("sender");
    let sent = sent.load(Ordering::Relaxed);

    // Quiet: every batch posted, no new inbox entry. Then the page must match the API exactly.
    let (want_batches, want) = api
        .eventually(30, || async {
            let (_, b) = api.get("/v1/batches?limit=20").await;
            let rows = b["batches"].as_array()?;
            let all_posted = rows.iter().all(|b| b["state"] == "posted");
            let count = rows.last()?["index"].as_u64()? + 1;
            let (_, s) = api.get("/v1/status").await;
            let quiet = all_posted
                && s["openBatch"].is_null()
                && s["inbox"]["backlog"] == 0
                && s["l1"]["batchCount"] == count
                && s["inbox"]["onL1"] == 2;
            quiet.then_some((b, s))
        })
        .await;
    let mut want_rows: Vec<Value> = want_batches["batches"].as_array().expect("batches").clone();
    want_rows.reverse();
    // `/v1/status` carries every field `docs/openapi.json` says it does.
    let spec: Value =
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("openapi.json");
    let schemas = &spec["components"]["schemas"];
    let required = |schema: &Value, value: &Value, what: &str| {
        for key in schema["required"].as_array().expect("required").iter() {
            let key = key.as_str().expect("key");
            assert!(value.get(key).is_some(), "{what} lacks `{key}`: {value:#}");
        }
    };
    required(&schemas["Status"], &want, "/v1/status");
    for part in ["inbox", "games", "l1"] {
        required(&schemas["Status"]["properties"][part], &want[part], part);
    }
    required(&schemas["Game"], &want["games"]["open"][0], "a game");
    let accepted = want["acceptedTransactions"].as_u64().expect("accepted");
    assert_eq!(accepted, 5 + sent, "every transfer sent is accepted");
    let dom = page_until(&mut page, 20, "the same figures as the API", |dom| {
        opt(&dom["accepted"]) == Some(accepted)
            && dom["batches"].as_array().map(Vec::len) == Some(want_rows.len())
            && dom["batches"].as_array().is_some_and(|rows| {
                rows.iter().zip(&want_rows).all(|(r, w)| r["state"] == w["state"])
            })
            && opt(&dom["feedTotal"]).zip(opt(&dom["feedFrom"])).map(|(n, f)| n + f)
                == Some(accepted)
            // L1 figures come from a cache refreshed in the background: wait for its latest.
            && opt(&dom["l1Batches"]) == want["l1"]["batchCount"].as_u64()
            && opt(&dom["inboxOnL1"]) == want["inbox"]["onL1"].as_u64()
            && opt(&dom["openGames"]) == Some(1)
    })
    .await;

    // Batches: the real indices, roots and states, newest first, shown as text too.
    for (row, want) in dom["batches"].as_array().expect("rows").iter().zip(&want_rows) {
        let index = want["index"].as_u64().expect("index");
        let root = want["postStateRoot"].as_str().expect("a posted batch has a root");
        assert_eq!(num(&row["index"]), index, "{row}");
        assert_eq!(row["state"], want["state"], "{row}");
        assert_eq!(row["root"], root, "{row}");
        assert_eq!(row["rootTitle"], root, "{row}");
        assert_eq!(row["removed"], false, "{row}");
        assert_eq!(row["cells"][0], index.to_string(), "{row}");
        assert_eq!(row["cells"][1], "posted", "{row}");
        assert_eq!(row["cells"][2], want["txCount"].to_string(), "{row}");
        let inbox =
            want["inboxEnd"].as_u64().expect("end") - want["inboxStart"].as_u64().expect("start");
        assert_eq!(row["cells"][3], inbox.to_string(), "{row}");
        assert!(row["cells"][4].as_str().is_some_and(|t| t.starts_with(&root[..10])), "{row}");
    }
    assert_eq!(dom["l1Batches"], want["l1"]["batchCount"].to_string());
    assert_eq!(num(&dom["l1Batches"]), want_rows[0]["index"].as_u64().expect("index") + 1);
    assert_eq!(num(&dom["l1Final"]), 0, "nothing is final within the challenge period");

    // The inbox: two deposits on L1, both confirmed and consumed, no backlog.
    assert_eq!(num(&dom["inboxOnL1"]), 2);
    assert_eq!(num(&dom["inboxKnown"]), 2);
    assert_eq!(num(&dom["inboxConsumed"]), 2);
    assert_eq!(num(&dom["inboxBacklog"]), 0);
    assert_eq!(dom["inboxBacklogText"], "0");

    // The game: open, against the posted batch, as the API reports it.
    assert_eq!(num(&dom["openGames"]), 1);
    let games = dom["games"].as_array().expect("games");
    assert_eq!(games.len(), 1, "{dom:#}");
    assert_eq!(num(&games[0]["id"]), game);
    assert_eq!(num(&games[0]["batch"]), posted);
    assert_eq!(games[0]["open"], "true");
    assert_eq!(games[0]["status"], want["games"]["open"][0]["status"]);

    // The chart: it counted every transaction accepted since the page opened, from the feed.
    let feed_total = num(&dom["feedTotal"]);
    assert!(feed_total >= 10 && feed_total <= sent, "{feed_total} of {sent}");
    // Counted per second: at 10 tx/s the transfers spread over several seconds' bars.
    assert!(num(&dom["chartTotal"]) > 0, "{dom:#}");
    assert!(dom["chartBars"].as_u64().is_some_and(|n| n >= 2), "{dom:#}");

    if let Some(path) = std::env::var_os("KEEL_STATUS_SCREENSHOT") {
        page.screenshot(Path::new(&path)).await;
    }
    drop(page);
    drop(browser);
    seq.shutdown().await;
}
