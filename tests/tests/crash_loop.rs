//! A crash loop with postings pending: the real sequencer binary is killed with SIGKILL twenty
//! times at random moments under load while L1 mines one block per second, so that postings are
//! still pending when the process dies and the next process finds them. Afterwards L1 holds every
//! closed batch of the ledger exactly once, equal to the ledger, every acknowledged transfer is
//! in the ledger at its acknowledged number, and a verifier agrees with every root.
//!
//! Before postings named their index and pre-state root, this loop appended the same batch twice
//! at consecutive nonces in two of three runs (a restarted process "replaced" a posting that had
//! been mined a block earlier), and L1's history drifted from the ledger's.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{Address, B256, U256};
use keel_e2e::{transfer, System, ETH, SEQUENCER, VERIFIER};
use keel_l1::client::RollupEvent;
use keel_store::Ledger;
use serde_json::{json, Value};
use tokio::sync::watch;

const USERS: usize = 4;
const KILLS: usize = 20;

/// A small deterministic generator (xorshift), seeded from the clock and printed, so a failing
/// run's kill moments can be replayed with `KEEL_CRASH_SEED`.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

/// Acknowledged transfers: hash → sequence number.
type Acked = Arc<Mutex<HashMap<String, u64>>>;

/// One client per user that keeps sending transfers through every crash: on a lost connection
/// it waits for the (next) sequencer and asks it for the account's nonce, since a request whose
/// answer was lost may or may not have been accepted.
fn load(
    sys: &System,
    url: watch::Receiver<String>,
    acked: Acked,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (1..=USERS)
        .map(|i| {
            let (domain, key, who) = (sys.domain(), sys.l2_key(i), sys.address(i));
            let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                let mut nonce = None;
                while !*stop.borrow() {
                    let base = url.borrow().clone();
                    let Some(n) = nonce else {
                        nonce = account_nonce(&http, &base, who).await;
                        if nonce.is_none() {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        continue;
                    };
                    let record = domain.sign(&transfer(Address::repeat_byte(0xAA), 1, n), &key);
                    let body = json!({ "record": alloy::hex::encode_prefixed(record.0) });
                    let sent = http.post(format!("{base}/v1/transactions")).json(&body).send();
                    let answer = match sent.await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            r.json::<Value>().await.ok().map(|v| (status, v))
                        }
                        Err(_) => None,
                    };
                    match answer {
                        Some((200, v)) => {
                            acked.lock().expect("lock").insert(
                                v["hash"].as_str().expect("hash").to_owned(),
                                v["seq"].as_u64().expect("seq"),
                            );
                            nonce = Some(n + 1);
                        }
                        Some((503, _)) => tokio::time::sleep(Duration::from_millis(20)).await,
                        // A lost answer (the process died) or a nonce the restarted sequencer
                        // moved past: ask again.
                        Some((422, v)) if v["error"]["code"] == "wrong_nonce" => nonce = None,
                        None => {
                            nonce = None;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Some((status, v)) => panic!("unexpected {status}: {v}"),
                    }
                }
            })
        })
        .collect()
}

async fn account_nonce(http: &reqwest::Client, base: &str, who: Address) -> Option<u64> {
    let v: Value =
        http.get(format!("{base}/v1/accounts/{who}")).send().await.ok()?.json().await.ok()?;
    v["nonce"].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_with_postings_pending_leave_every_batch_on_l1_exactly_once() {
    let sys = System::start_with_anvil(&["--block-time", "1"]).await;
    let seed =
        std::env::var("KEEL_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1
        });
    eprintln!("crash loop seed: KEEL_CRASH_SEED={seed}");
    let mut moments = Moments(seed);

    let mut seq = sys.sequencer(None, 1000, 2000).await;
    for i in 1..=USERS {
        sys.l1(i).deposit_eth(sys.address(i), U256::from(ETH)).await.expect("deposit");
    }
    for i in 1..=USERS {
        sys.until("the deposit is credited", 60, || async {
            (sys.l2_balance(&seq, sys.address(i), Address::ZERO).await > U256::ZERO).then_some(())
        })
        .await;
    }

    let acked: Acked = Default::default();
    let (url_tx, url) = watch::channel(seq.url.clone());
    let (stop_tx, stop) = watch::channel(false);
    let clients = load(&sys, url, acked.clone(), stop);
    let l1 = sys.l1(SEQUENCER);
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(moments.next_ms(300, 2_500))).await;
        seq.kill();
        let acknowledged = acked.lock().expect("lock").len();
        let on_l1 = l1.batch_count().await.unwrap_or_default();
        eprintln!("kill {kill}: {acknowledged} acknowledged, {on_l1} batches on L1");
        seq = sys.sequencer(None, 1000, 2000).await;
        url_tx.send(seq.url.clone()).expect("clients listen");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tx.send(true).expect("stop");
    for c in clients {
        c.await.expect("a client panicked");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 100, "the load ran ({} acknowledged)", acked.len());

    // Every acknowledged transfer is in the ledger at its number, once.
    let ledger = Ledger::connect(&sys.database("sequencer").await).await.expect("db");
    let by_hash = |contents: &keel_store::LedgerContents| -> HashMap<String, u64> {
        contents.transactions.iter().map(|t| (t.record.hash().to_string(), t.seq)).collect()
    };
    // Wait until the last batch is closed and L1 holds every closed batch.
    let contents = sys
        .until("every closed batch is on L1", 90, || async {
            let contents = ledger.load().await.ok()?;
            let last = contents.batches.last()?;
            let count = l1.batch_count().await.ok()?;
            (last.post_root.is_some() && count == contents.batches.len() as u64).then_some(contents)
        })
        .await;
    let stored = by_hash(&contents);
    assert_eq!(stored.len(), contents.transactions.len(), "no transaction twice in the ledger");
    for (hash, seq_no) in &acked {
        assert_eq!(stored.get(hash), Some(seq_no), "acknowledged {hash} at {seq_no}");
    }

    // L1's current history: each index appended once, equal to the ledger's batch field by field.
    let head = l1.head().await.expect("rpc");
    let mut current: Vec<Option<keel_l1::PostedBatch>> = Vec::new();
    for e in l1.rollup_events(sys.deployment.start_block, head).await.expect("events") {
        match e {
            RollupEvent::Appended(b) => {
                let i = b.index as usize;
                current.resize(current.len().max(i + 1), None);
                assert!(current[i].is_none(), "batch {i} appended twice on the current chain");
                current[i] = Some(b);
            }
            RollupEvent::Removed { from_index, .. } => current.truncate(from_index as usize),
            RollupEvent::Finalized { .. } => {}
        }
    }
    assert_eq!(current.len(), contents.batches.len(), "L1 and the ledger hold as many batches");
    let mut inbox_at = 0;
    for (on_l1, ours) in current.iter().zip(&contents.batches) {
        let on_l1 = on_l1.as_ref().expect("no hole in L1's history");
        let records: Vec<B256> = contents
            .transactions
            .iter()
            .filter(|t| t.batch == ours.index)
            .map(|t| t.record.hash())
            .collect();
        assert_eq!(
            on_l1.records.iter().map(|r| r.hash()).collect::<Vec<_>>(),
            records,
            "batch {}: L1's records are the ledger's",
            ours.index
        );
        assert_eq!(Some(on_l1.post_state_root), ours.post_root, "batch {} root", ours.index);
        assert_eq!(on_l1.inbox_start, inbox_at, "inbox entries consumed once, in order");
        inbox_at = on_l1.inbox_end;
    }

    // A verifier that derives everything from L1 agrees with every root.
    let verifier = sys.verifier("verifier", VERIFIER, None).await;
    sys.until_verifier_agrees(&verifier, contents.batches.len() as u64).await;
    let games = l1.game_count().await.expect("rpc");
    assert_eq!(games, 0, "nobody challenged");
    drop(seq);
}
