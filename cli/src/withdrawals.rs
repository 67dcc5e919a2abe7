//! `keel withdrawals`: list an account's withdrawals with their state, show one, and pay one out
//! on L1 once its batch is final.
//!
//! The data and proofs come from one explicitly chosen source: the sequencer's API (default), a
//! verifier's API (`--verifier URL`), or L1 alone (`--from-l1`), where the CLI rebuilds the
//! whole rollup from L1 data with `keel_verifier::derive` and proves from its own state. The last
//! needs neither a sequencer nor a verifier — the escape path when the sequencer is gone or
//! lies — and refuses to finalize against a root that re-execution does not reproduce.

use alloy::primitives::{Address, TxHash, B256};
use anyhow::{bail, Context};
use keel_l1::L1Client;
use keel_verifier::derive::{self, ProofError};
use serde_json::{json, Value};

use crate::{shown, unreachable, Ctx};

/// How the source is documented in `keel withdrawals --help`.
const SOURCES: &str = "\
Where withdrawal data and proofs come from (one source, chosen explicitly):
  (default)       the sequencer's API (--sequencer, KEEL_SEQUENCER);
  --verifier URL  a verifier's API: it serves only roots it re-executed from L1 itself;
  --from-l1       L1 alone (--l1-rpc, --deployment): the CLI reads every inbox entry and batch
                  since the deployment, re-executes them and proves from its own state. No
                  sequencer or verifier is asked. It refuses to finalize when a batch's root on
                  L1 is not what its data gives, and finalizes the batch on L1 itself when its
                  challenge period is over but nobody has yet.
L1 always has the last word: finalizing checks the proof's root against the batch on L1.";

/// Withdrawals: list them, show one, or finalize one on L1.
#[derive(Debug, clap::Subcommand)]
#[command(after_long_help = SOURCES)]
pub(crate) enum WithdrawalsCommand {
    /// List the withdrawals paid out to an account, with their state: pending (not posted to L1
    /// yet), posted (in its challenge period), final (ready to finalize), paid (on L1).
    #[command(after_long_help = SOURCES)]
    List {
        /// The recipient on L1 (default: your key's address).
        #[arg(long)]
        account: Option<Address>,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Show a withdrawal and whether it can be finalized.
    #[command(after_long_help = SOURCES)]
    Show {
        #[command(flatten)]
        index: IndexArg,
        #[command(flatten)]
        source: SourceArgs,
    },
    /// Pay a withdrawal out on L1 (its batch must be final).
    #[command(after_long_help = SOURCES)]
    Finalize {
        #[command(flatten)]
        index: IndexArg,
        #[command(flatten)]
        source: SourceArgs,
    },
}

/// The withdrawal index, as a positional argument or as `--index`.
#[derive(Debug, clap::Args)]
pub(crate) struct IndexArg {
    /// The withdrawal index (`keel withdrawals list` shows yours).
    #[arg(value_name = "INDEX", required_unless_present = "index_flag")]
    index: Option<u64>,
    /// The same, as a flag.
    #[arg(long = "index", id = "index_flag", value_name = "INDEX", conflicts_with = "index")]
    index_flag: Option<u64>,
}

impl IndexArg {
    fn get(&self) -> anyhow::Result<u64> {
        self.index
            .or(self.index_flag)
            .context("give the withdrawal index (see `keel withdrawals list`)")
    }
}

/// Where the data and proofs come from (see [`SOURCES`]).
#[derive(Debug, clap::Args)]
pub(crate) struct SourceArgs {
    /// Take the withdrawal data and proofs from this verifier's API instead of the sequencer.
    #[arg(long, value_name = "URL", conflicts_with = "from_l1")]
    verifier: Option<String>,
    /// Rebuild the withdrawal data and proofs from L1 data alone: no sequencer or verifier is
    /// asked (slower: reads every batch since the deployment).
    #[arg(long)]
    from_l1: bool,
}

enum Source<'a> {
    Sequencer(&'a str),
    Verifier(&'a str),
    L1,
}

impl Source<'_> {
    fn name(&self) -> String {
        match self {
            Source::Sequencer(url) => format!("the sequencer at {url}"),
            Source::Verifier(url) => format!("the verifier at {url}"),
            Source::L1 => "L1 data alone".into(),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Source::Sequencer(_) => "sequencer",
            Source::Verifier(_) => "verifier",
            Source::L1 => "l1",
        }
    }
}

impl SourceArgs {
    fn source<'a>(&'a self, ctx: &'a Ctx) -> Source<'a> {
        match (&self.verifier, self.from_l1) {
            (_, true) => Source::L1,
            (Some(url), false) => Source::Verifier(url),
            (None, false) => Source::Sequencer(&ctx.cli.sequencer),
        }
    }
}

/// A withdrawal and its proof, from any source.
#[derive(Debug)]
struct Found {
    index: u64,
    recipient: Address,
    token: Address,
    amount: u128,
    batch: u64,
    /// `sequenced` (its batch is not on L1 yet), `posted` or `final`, as the source sees it.
    status: String,
    state_root: B256,
    siblings: Vec<B256>,
}

impl Found {
    fn json(&self, source: &Source<'_>) -> Value {
        json!({
            "index": self.index,
            "recipient": self.recipient,
            "token": self.token,
            "amount": self.amount.to_string(),
            "batch": self.batch,
            "batchStatus": self.status,
            "siblings": self.siblings,
            "stateRoot": self.state_root,
            "source": source.label(),
        })
    }
}

/// The fields of an API's `/v1/withdrawals/{index}` answer (the sequencer and verifiers serve
/// the same shape).
fn parse_found(v: &Value) -> anyhow::Result<Found> {
    let field = |name: &str| -> anyhow::Result<&str> {
        v[name].as_str().with_context(|| format!("the withdrawal answer has no `{name}`"))
    };
    Ok(Found {
        index: v["index"].as_u64().context("the withdrawal answer has no `index`")?,
        recipient: field("recipient")?.parse()?,
        token: field("token")?.parse()?,
        amount: field("amount")?.parse()?,
        batch: v["batch"].as_u64().context("the withdrawal answer has no `batch`")?,
        status: field("batchStatus")?.to_string(),
        state_root: field("stateRoot")?.parse()?,
        siblings: v["siblings"]
            .as_array()
            .context("the withdrawal answer has no `siblings`")?
            .iter()
            .map(|s| s.as_str().unwrap_or_default().parse())
            .collect::<Result<_, _>>()?,
    })
}

/// Rebuild the rollup from L1, saying so first: on a long chain it takes a while.
async fn derive_chain(l1: &L1Client) -> anyhow::Result<keel_verifier::chain::Chain> {
    tracing::info!(
        from_block = l1.deployment().start_block,
        "rebuilding the rollup from L1 data alone"
    );
    derive::derive_from_l1(l1, derive::DEFAULT_MAX_RANGE)
        .await
        .context("rebuilding the rollup from L1 data (is --l1-rpc an archive-capable node that serves old logs?)")
}

async fn find(ctx: &Ctx, source: &Source<'_>, l1: &L1Client, index: u64) -> anyhow::Result<Found> {
    match source {
        Source::Sequencer(base) | Source::Verifier(base) => {
            parse_found(&ctx.get(base, &format!("/v1/withdrawals/{index}")).await?)
        }
        Source::L1 => {
            let chain = derive_chain(l1).await?;
            let p = derive::withdrawal_proof(&chain, index)?;
            Ok(Found {
                index,
                recipient: p.recipient,
                token: p.token,
                amount: p.amount,
                batch: p.batch,
                status: if p.is_final { "final" } else { "posted" }.into(),
                state_root: p.state_root,
                siblings: p.siblings,
            })
        }
    }
}

/// The API's error code of a non-2xx answer, for the sources whose answers are walked.
async fn get_raw(ctx: &Ctx, base: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let resp = ctx.http.get(&url).send().await.map_err(|e| unreachable(base, e))?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

/// Refuse a sequencer that serves another rollup than the deployment file names.
async fn check_sequencer(ctx: &Ctx, base: &str, l1: &L1Client) -> anyhow::Result<()> {
    let config = ctx.get(base, "/v1/config").await?;
    let rollup: Address =
        config["rollup"].as_str().context("the sequencer's config names no rollup")?.parse()?;
    let expected = l1.deployment().rollup;
    if rollup != expected {
        bail!(
            "wrong chain: the sequencer at {base} serves the rollup at {rollup}, but the \
             deployment file {} names {expected}; pass the matching --sequencer or --deployment",
            ctx.cli.deployment.display()
        );
    }
    Ok(())
}

pub(crate) async fn run(ctx: &Ctx, command: &WithdrawalsCommand) -> anyhow::Result<()> {
    match command {
        WithdrawalsCommand::Show { index, source } => {
            let (index, source) = (index.get()?, source.source(ctx));
            let l1 = ctx.l1_reader().await?;
            let found = find(ctx, &source, &l1, index).await?;
            let spent = l1.is_withdrawal_spent(index).await?;
            let mut v = found.json(&source);
            v["paid"] = json!(spent);
            ctx.out(
                format!(
                    "withdrawal {index}: {} to {}\n  batch {} ({}{})\n  from {}",
                    shown(found.amount, found.token),
                    found.recipient,
                    found.batch,
                    found.status,
                    if spent { ", paid on L1" } else { "" },
                    source.name()
                ),
                v,
            );
        }
        WithdrawalsCommand::Finalize { index, source } => {
            finalize(ctx, index.get()?, &source.source(ctx)).await?;
        }
        WithdrawalsCommand::List { account, source } => {
            let account = match account {
                Some(a) => *a,
                None => ctx.signer().context("pass --account ADDRESS, or a key")?.address(),
            };
            list(ctx, account, &source.source(ctx)).await?;
        }
    }
    Ok(())
}

async fn finalize(ctx: &Ctx, index: u64, source: &Source<'_>) -> anyhow::Result<()> {
    let l1 = ctx.l1().await?;
    // Before any proof is fetched or rebuilt: the answer is the same whatever the source.
    if l1.is_withdrawal_spent(index).await? {
        bail!("withdrawal {index} has already been paid (finalized on L1); nothing to do");
    }
    if let Source::Sequencer(base) = source {
        check_sequencer(ctx, base, &l1).await?;
    }
    let found = find(ctx, source, &l1, index).await?;
    let batch = found.batch;
    // L1 pays only under the root it holds; a different root means the source follows another
    // deployment or the batch was replaced since, and the payout would revert.
    let header = l1.batch(batch).await.with_context(|| {
        format!("{} names batch {batch}, which L1 does not have", source.name())
    })?;
    if header.postStateRoot != found.state_root {
        bail!(
            "the proof from {} is under root {}, but batch {batch} on L1 has root {}: the source \
             follows another deployment (check --deployment and --l1-rpc) or the batch was \
             replaced since; retry, or use --from-l1",
            source.name(),
            found.state_root,
            header.postStateRoot
        );
    }
    let mut finalized_by_us: Option<TxHash> = None;
    if !l1.is_final(batch).await? {
        let deadline = l1.challenge_deadline(batch).await?;
        let now = l1.head_timestamp().await?;
        if now < deadline {
            bail!(ProofError::NotFinal { index, batch, deadline, left: deadline - now });
        }
        // The period is over but nobody finalized it (the sequencer is gone, or late): anyone
        // may, and the payout needs it.
        match l1.finalize_batches(batch).await {
            Ok(receipt) => finalized_by_us = Some(receipt.transaction_hash),
            Err(_) if l1.is_final(batch).await? => {} // someone else just did
            Err(e) => bail!(
                "batch {batch}'s challenge period ended at L1 time {deadline}, but L1 refused to \
                 finalize it ({e}): a dispute game is open against it or an earlier batch (see \
                 `keel games`); retry once it has ended"
            ),
        }
    }
    let receipt = l1
        .finalize_withdrawal(
            batch,
            index,
            found.recipient,
            found.token,
            found.amount,
            found.siblings.clone(),
        )
        .await
        .context("L1 refused the payout")?;
    let mut human = format!(
        "withdrawal {index} paid: {} to {} (L1 tx {})\n  proof from {}",
        shown(found.amount, found.token),
        found.recipient,
        receipt.transaction_hash,
        source.name()
    );
    if let Some(tx) = finalized_by_us {
        human.push_str(&format!("\n  batch {batch} finalized on L1 first (L1 tx {tx})"));
    }
    ctx.out(
        human,
        json!({
            "index": index,
            "batch": batch,
            "recipient": found.recipient,
            "amount": found.amount.to_string(),
            "l1Tx": receipt.transaction_hash,
            "finalizedBatchesTx": finalized_by_us,
            "source": source.label(),
        }),
    );
    Ok(())
}

/// A withdrawal as a list shows it.
struct Entry {
    index: u64,
    recipient: Address,
    token: Address,
    amount: u128,
    batch: u64,
    /// `pending` (its batch is not on L1 yet), `posted` or `final`.
    state: &'static str,
}

/// Every withdrawal the source knows, in index order, with what it could not show.
struct Walk {
    all: Vec<Entry>,
    /// Withdrawals in the sequencer's open batch (recipient unknown until it closes).
    open_batch: u64,
    /// Why the list stops where it does, if it stops early.
    note: Option<String>,
}

async fn walk_api(ctx: &Ctx, base: &str) -> anyhow::Result<Walk> {
    let mut walk = Walk { all: Vec::new(), open_batch: 0, note: None };
    // The APIs serve withdrawals by index only, so the list walks them from 0.
    for index in 0u64.. {
        let (status, v) = get_raw(ctx, base, &format!("/v1/withdrawals/{index}")).await?;
        let code = v["error"]["code"].as_str().unwrap_or_default();
        match (status, code) {
            (200..=299, _) => {
                let f = parse_found(&v)?;
                let state = match f.status.as_str() {
                    "final" => "final",
                    "posted" => "posted",
                    _ => "pending",
                };
                walk.all.push(Entry {
                    index,
                    recipient: f.recipient,
                    token: f.token,
                    amount: f.amount,
                    batch: f.batch,
                    state,
                });
            }
            (_, "withdrawal_not_in_closed_batch") => walk.open_batch += 1,
            (404, "unknown_withdrawal") => break,
            _ => {
                let message = v["error"]["message"].as_str().unwrap_or("no message");
                walk.note = Some(format!(
                    "stopped at withdrawal {index}: {base} answered {status} ({code}): {message}"
                ));
                break;
            }
        }
    }
    Ok(walk)
}

async fn walk_l1(l1: &L1Client) -> anyhow::Result<Walk> {
    let chain = derive_chain(l1).await?;
    let mut walk = Walk { all: Vec::new(), open_batch: 0, note: None };
    for index in 0..derive::withdrawal_count(&chain) {
        let Some(((recipient, token, amount), b)) =
            chain.withdrawal(index).zip(chain.batch_of_withdrawal(index))
        else {
            break;
        };
        let state = if b.is_final { "final" } else { "posted" };
        walk.all.push(Entry { index, recipient, token, amount, batch: b.index, state });
    }
    if let Some(d) = chain.dispute() {
        walk.note = Some(format!(
            "batch {}'s root on L1 is {}, but its L1 data gives {}: the sequencer posted a \
             wrong state; withdrawals from that batch on are not shown and must not be \
             finalized against it",
            d.index, d.claimed_root, d.computed_root
        ));
    }
    Ok(walk)
}

async fn list(ctx: &Ctx, account: Address, source: &Source<'_>) -> anyhow::Result<()> {
    let l1 = ctx.l1_reader().await?;
    let walk = match source {
        Source::Sequencer(base) => {
            check_sequencer(ctx, base, &l1).await?;
            walk_api(ctx, base).await?
        }
        Source::Verifier(base) => walk_api(ctx, base).await?,
        Source::L1 => walk_l1(&l1).await?,
    };
    let now = l1.head_timestamp().await?;
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    for &Entry { index, recipient, token, amount, batch, state } in &walk.all {
        if recipient != account {
            continue;
        }
        let mut state = state;
        let mut final_at = None;
        let what = match state {
            "final" if l1.is_withdrawal_spent(index).await? => {
                state = "paid";
                "paid on L1".to_string()
            }
            "final" => format!("final: ready, `keel withdrawals finalize {index}`"),
            "posted" => {
                let deadline = l1.challenge_deadline(batch).await?;
                final_at = Some(deadline);
                if deadline > now {
                    format!("posted: final after L1 time {deadline} (in {} s)", deadline - now)
                } else {
                    format!("posted: challenge period over, `keel withdrawals finalize {index}` finalizes it")
                }
            }
            _ => "pending: its batch is not on L1 yet".to_string(),
        };
        lines
            .push(format!("  #{index:<5} {:<24} batch {:<6} {what}", shown(amount, token), batch,));
        rows.push(json!({
            "index": index,
            "recipient": recipient,
            "token": token,
            "amount": amount.to_string(),
            "batch": batch,
            "state": state,
            "finalAt": final_at,
        }));
    }
    let mut human = if rows.is_empty() {
        format!("no withdrawals to {account} (from {})", source.name())
    } else {
        format!("withdrawals to {account} (from {}):\n{}", source.name(), lines.join("\n"))
    };
    if walk.open_batch > 0 {
        human.push_str(&format!(
            "\n{} more in the sequencer's open batch are not shown: their recipient is known once it closes (seconds)",
            walk.open_batch
        ));
    }
    if let Some(note) = &walk.note {
        human.push_str(&format!("\nnote: {note}"));
    }
    ctx.out(
        human,
        json!({
            "account": account,
            "source": source.label(),
            "withdrawals": rows,
            "inOpenBatch": walk.open_batch,
            "note": walk.note,
        }),
    );
    Ok(())
}
