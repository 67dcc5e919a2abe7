//! `keel`: the user's command line — keys, deposits and forced withdrawals on L1, transfers and
//! withdrawals on L2, listing and finalizing withdrawals with a proof (from the sequencer, a
//! verifier, or rebuilt from L1 data alone), status, and the local devnet.
//!
//! Output is for people by default and JSON with `--json`. Errors say what to fix.

mod amount;
mod devnet;
mod keys;
mod withdrawals;

use std::path::PathBuf;

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use keel_core::tx::{Domain, SecretKey, Transaction, TxKind};
use keel_l1::{Deployment, L1Client};
use serde_json::{json, Value};

use amount::{format_eth, parse_amount};

/// Keel: a fraud-proof rollup for payments.
#[derive(Debug, Parser)]
#[command(name = "keel", version)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The sequencer API.
    #[arg(long, global = true, env = "KEEL_SEQUENCER", default_value = "http://127.0.0.1:8645")]
    sequencer: String,
    /// The L1 JSON-RPC endpoint.
    #[arg(long, global = true, env = "KEEL_L1_RPC", default_value = "http://127.0.0.1:8545")]
    l1_rpc: String,
    /// The deployment file (the devnet writes it).
    #[arg(
        long,
        global = true,
        env = "KEEL_DEPLOYMENT",
        default_value = "keel-data/devnet/deployment.json"
    )]
    deployment: PathBuf,
    /// The key to use, by name in the key store (`keel keys list`).
    #[arg(long, global = true, env = "KEEL_KEY")]
    key: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a complete local system: Postgres, anvil, contracts, sequencer, funded dev accounts.
    Devnet(devnet::DevnetArgs),
    /// Manage keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Balances and nonce of an account on L2.
    Balance {
        /// The account (default: your key's address).
        #[arg(long)]
        address: Option<Address>,
        /// A token's L1 address (default: ETH).
        #[arg(long, default_value_t = Address::ZERO)]
        token: Address,
    },
    /// Deposit on L1 into L2 (ETH, or an ERC-20: the Bridge is approved for the amount if needed).
    Deposit {
        /// Amount: wei/units, or e.g. `1.5eth`.
        #[arg(long)]
        amount: String,
        /// The L2 recipient (default: yourself).
        #[arg(long)]
        to: Option<Address>,
        /// An ERC-20's address (default: ETH).
        #[arg(long)]
        token: Option<Address>,
    },
    /// Transfer on L2.
    Transfer {
        /// The recipient.
        #[arg(long)]
        to: Address,
        /// Amount: wei/units, or e.g. `1.5eth`.
        #[arg(long)]
        amount: String,
        /// Fee paid to the fee recipient (same unit).
        #[arg(long, default_value = "0")]
        fee: String,
        /// Token (default: ETH).
        #[arg(long, default_value_t = Address::ZERO)]
        token: Address,
    },
    /// Withdraw from L2 to L1 (finalize it once its batch is final).
    Withdraw {
        /// Amount: wei/units, or e.g. `1.5eth`.
        #[arg(long)]
        amount: String,
        /// The L1 recipient (default: yourself).
        #[arg(long)]
        to: Option<Address>,
        /// Fee paid to the fee recipient (same unit).
        #[arg(long, default_value = "0")]
        fee: String,
        /// Token (default: ETH).
        #[arg(long, default_value_t = Address::ZERO)]
        token: Address,
    },
    /// Ask for a withdrawal through L1 that the sequencer must include.
    ForceWithdraw {
        /// Amount: wei/units, or e.g. `1.5eth`.
        #[arg(long)]
        amount: String,
        /// Token (default: ETH).
        #[arg(long, default_value_t = Address::ZERO)]
        token: Address,
    },
    /// Withdrawals: list them, show one, or finalize one on L1 (proofs from the sequencer, a
    /// verifier, or L1 data alone).
    #[command(subcommand)]
    Withdrawals(withdrawals::WithdrawalsCommand),
    /// A transaction's status.
    Tx {
        /// The transaction hash.
        hash: B256,
    },
    /// Recent batches.
    Batches {
        /// How many.
        #[arg(long, default_value_t = 10)]
        limit: u32,
    },
    /// Dispute games on L1.
    Games,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a new random key.
    New {
        /// Its name.
        name: String,
    },
    /// Import a key (from --private-key or KEEL_PRIVATE_KEY).
    Import {
        /// Its name.
        name: String,
        /// The 0x-prefixed private key (prefer the environment variable).
        #[arg(long, env = "KEEL_PRIVATE_KEY", hide_env_values = true)]
        private_key: String,
    },
    /// List stored keys.
    List,
}

pub(crate) struct Ctx {
    cli: Cli,
    http: reqwest::Client,
}

impl Ctx {
    pub(crate) fn signer(&self) -> anyhow::Result<PrivateKeySigner> {
        if let Some(name) = &self.cli.key {
            return keys::load(name);
        }
        match std::env::var("KEEL_PRIVATE_KEY") {
            Ok(k) => keys::parse_key(&k).context("KEEL_PRIVATE_KEY"),
            Err(_) => {
                bail!("no key: pass --key NAME (see `keel keys list`) or set KEEL_PRIVATE_KEY")
            }
        }
    }

    fn deployment(&self) -> anyhow::Result<Deployment> {
        Deployment::load(&self.cli.deployment).map_err(|e| {
            anyhow!("{e}\nis the devnet running? otherwise pass --deployment with your network's deployment file")
        })
    }

    /// L1 with your key, after checking it is the L1 the deployment file names.
    pub(crate) async fn l1(&self) -> anyhow::Result<L1Client> {
        self.checked_l1(self.signer()?).await
    }

    /// L1 for reading only (no key needed), checked the same way.
    pub(crate) async fn l1_reader(&self) -> anyhow::Result<L1Client> {
        self.checked_l1(PrivateKeySigner::random()).await
    }

    async fn checked_l1(&self, signer: PrivateKeySigner) -> anyhow::Result<L1Client> {
        let d = self.deployment()?;
        let rpc = &self.cli.l1_rpc;
        let l1 = L1Client::connect(rpc, signer, d.clone())?;
        let chain_id = l1.provider().get_chain_id().await.map_err(|e| {
            anyhow!("cannot reach L1 at {rpc} ({e}); is the devnet running (`keel devnet`)? or pass --l1-rpc URL")
        })?;
        if chain_id != d.l1_chain_id {
            bail!(
                "wrong chain: the L1 at {rpc} is chain {chain_id}, but the deployment file {} is for chain {}; pass the matching --l1-rpc or --deployment",
                self.cli.deployment.display(),
                d.l1_chain_id
            );
        }
        if l1.provider().get_code_at(d.rollup).await?.is_empty() {
            bail!(
                "no Rollup contract at {} on the L1 at {rpc}: the deployment file {} is from another network or an earlier devnet; pass the matching --deployment",
                d.rollup,
                self.cli.deployment.display()
            );
        }
        Ok(l1)
    }

    pub(crate) async fn get(&self, base: &str, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let resp = self.http.get(&url).send().await.map_err(|e| unreachable(base, e))?;
        answer(resp).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let base = &self.cli.sequencer;
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let resp =
            self.http.post(&url).json(body).send().await.map_err(|e| unreachable(base, e))?;
        answer(resp).await
    }

    #[allow(clippy::print_stdout)] // the command's output
    pub(crate) fn out(&self, human: String, value: Value) {
        if self.cli.json {
            println!("{value}");
        } else {
            println!("{human}");
        }
    }
}

pub(crate) fn unreachable(base: &str, e: reqwest::Error) -> anyhow::Error {
    anyhow!(
        "cannot reach {base} ({e}); is the devnet running (`keel devnet`)? or pass --sequencer URL"
    )
}

/// The JSON of a 2xx answer, or the API's error as a sentence that says what to fix.
async fn answer(resp: reqwest::Response) -> anyhow::Result<Value> {
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(v);
    }
    let code = v["error"]["code"].as_str().unwrap_or("unknown");
    let message = v["error"]["message"].as_str().unwrap_or("no message");
    let hint = match code {
        "wrong_nonce" => format!(
            " (the next nonce is {}; another transaction may be in flight)",
            v["error"]["details"]["expected"]
        ),
        "insufficient_balance" => format!(
            " (available: {}; deposit more with `keel deposit`)",
            v["error"]["details"]["available"].as_str().unwrap_or("?")
        ),
        "overloaded" => " (retry in a moment)".into(),
        _ => String::new(),
    };
    bail!("the sequencer refused ({status}, {code}): {message}{hint}")
}

fn amount_arg(s: &str) -> anyhow::Result<u128> {
    parse_amount(s).map_err(|e| anyhow!(e))
}

pub(crate) fn shown(amount: u128, token: Address) -> String {
    if token == Address::ZERO {
        format_eth(amount)
    } else {
        format!("{amount} units of {token}")
    }
}

async fn submit(
    ctx: &Ctx,
    kind: TxKind,
    to: Address,
    token: Address,
    amount: u128,
    fee: u128,
) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let me = signer.address();
    let config = ctx.get(&ctx.cli.sequencer, "/v1/config").await?;
    let chain_id = config["l2ChainId"].as_u64().context("sequencer config without l2ChainId")?;
    let rollup: Address =
        config["rollup"].as_str().context("sequencer config without rollup")?.parse()?;
    let fee_recipient: Address =
        config["feeRecipient"].as_str().context("no feeRecipient")?.parse()?;
    let account = ctx.get(&ctx.cli.sequencer, &format!("/v1/accounts/{me}")).await?;
    let nonce: u64 = account["nonce"].as_str().context("no nonce")?.parse()?;
    let tx = Transaction { kind, to, token, amount, fee, nonce };
    if let Some(why) = tx.refusal() {
        anyhow::bail!("not sent: {why}; give the recipient you mean with --to");
    }
    let domain = Domain::new(keel_core::ChainConfig {
        l2_chain_id: chain_id,
        rollup_address: rollup,
        fee_recipient,
    });
    let key = SecretKey::from_byte_array(signer.to_bytes().0).context("key")?;
    let record = domain.sign(&tx, &key);
    let v = ctx
        .post("/v1/transactions", &json!({ "record": alloy::hex::encode_prefixed(record.0) }))
        .await?;
    let what = if kind == TxKind::Transfer { "transfer" } else { "withdrawal" };
    ctx.out(
        format!(
            "{what} of {} to {to} sequenced\n  hash   {}\n  batch  {}\n  nonce  {nonce}",
            shown(amount, token),
            v["hash"].as_str().unwrap_or("?"),
            v["batch"]
        ),
        v,
    );
    Ok(())
}

async fn run(ctx: Ctx) -> anyhow::Result<()> {
    match &ctx.cli.command {
        Command::Devnet(_) => unreachable!("handled in main"),
        Command::Keys(KeysCommand::New { name }) => {
            let key = PrivateKeySigner::random();
            let path = keys::save(name, &key)?;
            ctx.out(
                format!(
                    "key `{name}` created: {}\n  saved to {} (mode 0600)",
                    key.address(),
                    path.display()
                ),
                json!({ "name": name, "address": key.address(), "path": path }),
            );
        }
        Command::Keys(KeysCommand::Import { name, private_key }) => {
            let key = keys::parse_key(private_key)?;
            let path = keys::save(name, &key)?;
            ctx.out(
                format!("key `{name}` imported: {}", key.address()),
                json!({ "name": name, "address": key.address(), "path": path }),
            );
        }
        Command::Keys(KeysCommand::List) => {
            let list = keys::list()?;
            let human = if list.is_empty() {
                format!(
                    "no keys in {}; create one with `keel keys new NAME`",
                    keys::keys_dir()?.display()
                )
            } else {
                list.iter().map(|(n, a)| format!("{n:<16} {a}")).collect::<Vec<_>>().join("\n")
            };
            ctx.out(
                human,
                json!(list
                    .iter()
                    .map(|(n, a)| json!({ "name": n, "address": a }))
                    .collect::<Vec<_>>()),
            );
        }
        Command::Balance { address, token } => {
            let who = match address {
                Some(a) => *a,
                None => ctx.signer()?.address(),
            };
            let v =
                ctx.get(&ctx.cli.sequencer, &format!("/v1/accounts/{who}?tokens={token}")).await?;
            let bal: u128 =
                v["balances"][token.to_checksum(None)].as_str().unwrap_or("0").parse().unwrap_or(0);
            ctx.out(
                format!(
                    "{who}\n  balance  {}\n  nonce    {}",
                    shown(bal, *token),
                    v["nonce"].as_str().unwrap_or("?")
                ),
                v,
            );
        }
        Command::Deposit { amount, to, token } => {
            let amount = amount_arg(amount)?;
            let l1 = ctx.l1().await?;
            let to = to.unwrap_or(l1.account());
            let index = match token {
                None => l1.deposit_eth(to, U256::from(amount)).await?,
                Some(t) => {
                    // The Bridge pulls the tokens: allow it this amount first when needed.
                    if l1
                        .bridge_allowance(*t)
                        .await
                        .context("reading the token's allowance (is it an ERC-20?)")?
                        < U256::from(amount)
                    {
                        tracing::info!(token = %t, amount, "approving the Bridge for the deposit");
                        l1.approve_bridge(*t, U256::from(amount))
                            .await
                            .context("approving the Bridge for the token")?;
                    }
                    l1.deposit_erc20(*t, to, U256::from(amount))
                        .await
                        .context("depositing the token (is the L1 balance enough?)")?
                }
            };
            ctx.out(
                format!("deposited {} for {to} on L1 (inbox entry {index}); it is credited on L2 within a few seconds", shown(amount, token.unwrap_or_default())),
                json!({ "inboxIndex": index, "recipient": to, "amount": amount.to_string() }),
            );
        }
        Command::Transfer { to, amount, fee, token } => {
            submit(&ctx, TxKind::Transfer, *to, *token, amount_arg(amount)?, amount_arg(fee)?)
                .await?;
        }
        Command::Withdraw { amount, to, fee, token } => {
            let to = match to {
                Some(t) => *t,
                None => ctx.signer()?.address(),
            };
            submit(&ctx, TxKind::Withdraw, to, *token, amount_arg(amount)?, amount_arg(fee)?)
                .await?;
        }
        Command::ForceWithdraw { amount, token } => {
            let amount = amount_arg(amount)?;
            let index = ctx.l1().await?.force_withdraw(*token, amount).await?;
            ctx.out(
                format!("forced withdrawal of {} requested on L1 (inbox entry {index}); the next batch must include it", shown(amount, *token)),
                json!({ "inboxIndex": index }),
            );
        }
        Command::Withdrawals(command) => withdrawals::run(&ctx, command).await?,
        Command::Tx { hash } => {
            let v = ctx.get(&ctx.cli.sequencer, &format!("/v1/transactions/{hash}")).await?;
            ctx.out(
                format!(
                    "{hash}\n  status  {}\n  batch   {}\n  seq     {}",
                    v["status"].as_str().unwrap_or("?"),
                    v["batch"],
                    v["seq"]
                ),
                v,
            );
        }
        Command::Batches { limit } => {
            let v = ctx.get(&ctx.cli.sequencer, &format!("/v1/batches?limit={limit}")).await?;
            let lines: Vec<String> = v["batches"]
                .as_array()
                .map(|bs| {
                    bs.iter()
                        .map(|b| {
                            format!(
                                "{:>6}  {:<7}  txs {:>5}  inbox [{}, {})",
                                b["index"],
                                b["state"].as_str().unwrap_or("?"),
                                b["txCount"],
                                b["inboxStart"],
                                b["inboxEnd"]
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            ctx.out(if lines.is_empty() { "no batches yet".into() } else { lines.join("\n") }, v);
        }
        Command::Games => {
            let l1 = ctx.l1_reader().await?;
            let count = l1.game_count().await?;
            let mut lines = Vec::new();
            let mut all = Vec::new();
            for id in 0..count {
                let g = l1.game(id).await?;
                lines.push(format!(
                    "game {id}: batch {} {:?}, steps [{}, {}], challenger {}",
                    g.batch_index, g.status, g.lo, g.hi, g.challenger
                ));
                all.push(json!({ "id": id, "batch": g.batch_index, "status": format!("{:?}", g.status), "lo": g.lo, "hi": g.hi, "challenger": g.challenger, "deadline": g.deadline }));
            }
            ctx.out(
                if lines.is_empty() { "no games".into() } else { lines.join("\n") },
                json!(all),
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let devnet = matches!(cli.command, Command::Devnet(_));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| if devnet { "info,sqlx=warn" } else { "warn" }.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Devnet(args) => devnet::run(args).await,
        _ => run(Ctx { cli, http: reqwest::Client::new() }).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)] // the error is the user's answer
            {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
