//! `keel devnet`: a complete local system in one command — a private Postgres cluster, anvil,
//! the deployed contracts, a sequencer, a verifier (with its own database, ready to challenge),
//! dev accounts funded by real deposits — with short challenge periods so the whole withdrawal
//! path takes a minute. Ctrl-C stops everything.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use anyhow::Context;
use keel_l1::{client::connect_http, deploy, devnode::spawn_anvil_on, L1Client, RollupParams};
use keel_sequencer::{node, pipeline::BatchPolicy};
use keel_store::PgCluster;

/// DevToken units minted on L1 to each dev account (a million tokens of 18 decimals).
const DEV_TOKEN_MINT: u128 = 1_000_000 * 10u128.pow(18);

/// The devnet's settings.
#[derive(Debug, clap::Args)]
pub(crate) struct DevnetArgs {
    /// L1 (anvil) JSON-RPC port.
    #[arg(long, default_value_t = 8545)]
    pub l1_port: u16,
    /// Sequencer API port.
    #[arg(long, default_value_t = 8645)]
    pub(crate) api_port: u16,
    /// Verifier API port.
    #[arg(long, default_value_t = 8646)]
    pub(crate) verifier_port: u16,
    /// Folder for the deployment file (recreated on every start).
    #[arg(long, default_value = "keel-data/devnet")]
    pub(crate) data_dir: PathBuf,
    /// Dev accounts (anvil's accounts 1..=N, N ≤ 7) funded on L2 by a real deposit each.
    #[arg(long, default_value_t = 4)]
    pub(crate) accounts: usize,
    /// ETH each dev account deposits.
    #[arg(long, default_value_t = 100)]
    pub(crate) deposit_eth: u64,
    /// Seconds a batch can be challenged (devnet default: 1 minute).
    #[arg(long, default_value_t = 60)]
    pub(crate) challenge_period_secs: u64,
    /// A Postgres URL to use instead of a private temporary cluster (its database must be empty).
    #[arg(long, env = "DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

fn signer_of(
    anvil: &alloy::node_bindings::AnvilInstance,
    i: usize,
) -> anyhow::Result<PrivateKeySigner> {
    let key = anvil.keys().get(i).context("anvil has fewer dev accounts than asked for")?;
    PrivateKeySigner::from_bytes(&B256::from_slice(&key.to_bytes())).context("anvil key")
}

/// Run the devnet until Ctrl-C.
pub(crate) async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    if args.accounts > 7 {
        anyhow::bail!(
            "--accounts is at most 7 (anvil accounts 1..=7; 0 is the sequencer, 8 the verifier, 9 the fee recipient)"
        );
    }
    let _ = std::fs::remove_dir_all(&args.data_dir);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;

    tracing::info!("starting Postgres");
    let (database_url, verifier_database_url, cluster) = match &args.database_url {
        // The verifier keeps its own ledger: with a given URL it uses an embedded cluster.
        Some(url) => (url.clone(), None, None),
        None => {
            let pg = PgCluster::start_temp().await.context(
                "starting a private Postgres cluster (install PostgreSQL's server package, e.g. `apt-get install postgresql-15`, or pass --database-url)",
            )?;
            let url = pg.create_database("keel_devnet").await?;
            let verifier_url = pg.create_database("keel_devnet_verifier").await?;
            (url, Some(verifier_url), Some(pg))
        }
    };

    tracing::info!(port = args.l1_port, "starting anvil (1 s blocks)");
    let anvil = spawn_anvil_on(args.l1_port, &["--block-time", "1"])?;
    let rpc = anvil.endpoint();
    let sequencer_key = signer_of(&anvil, 0)?;
    let fee_recipient = signer_of(&anvil, 9)?.address();
    let mut params = RollupParams::devnet(1_000_001, sequencer_key.address(), fee_recipient);
    params.challenge_period_secs = args.challenge_period_secs;
    let provider = connect_http(&rpc, sequencer_key.clone())?;
    let deployment = deploy(&provider, &params).await.context("deploying the contracts")?;
    let sequencer_l1 = L1Client::new(provider, sequencer_key.address(), deployment.clone());
    sequencer_l1.stake(params.required_stake_wei).await.context("staking the sequencer")?;
    let deployment_path = args.data_dir.join("deployment.json");
    deployment.save(&deployment_path)?;

    let listen: SocketAddr = ([127, 0, 0, 1], args.api_port).into();
    let sequencer = node::start(node::SequencerConfig {
        listen,
        database_url: Some(database_url),
        data_dir: args.data_dir.join("sequencer"),
        l1_rpc: rpc.clone(),
        deployment: deployment_path.clone(),
        key: sequencer_key,
        batch: BatchPolicy {
            max_txs: 2_000,
            max_age: Duration::from_millis(1_000),
            max_group: 4_096,
        },
        queue_capacity: 20_000,
        confirmations: 0,
        l1_poll: Duration::from_millis(500),
        fees: keel_l1::client::FeePolicy::default(),
        posting_stall_after: std::time::Duration::from_secs(60),
    })
    .await
    .context("starting the sequencer (an empty database is needed)")?;

    let verifier = keel_verifier::node::start(keel_verifier::node::VerifierConfig {
        listen: ([127, 0, 0, 1], args.verifier_port).into(),
        database_url: verifier_database_url,
        data_dir: args.data_dir.join("verifier"),
        l1_rpc: rpc.clone(),
        deployment: deployment_path.clone(),
        key: Some(signer_of(&anvil, 8)?),
        follower: keel_verifier::follower::FollowerConfig {
            confirmations: 0,
            poll: Duration::from_millis(500),
            max_range: 2_000,
        },
        fallback_proposer: false,
        // The devnet's verifier defends the batches it agrees with (docs/protocol.md §13).
        defend_agreed: true,
    })
    .await
    .context("starting the verifier")?;

    // An ERC-20 to try token deposits with: every dev account holds DEV_TOKEN_MINT on L1.
    let deployer = connect_http(&rpc, signer_of(&anvil, 0)?)?;
    let dev_token = keel_l1::devnode::deploy_dev_token(&deployer, "Keel Dev Token", "DEV")
        .await
        .context("deploying the dev token")?;
    let mut accounts = Vec::new();
    for i in 1..=args.accounts {
        let signer = signer_of(&anvil, i)?;
        let user = L1Client::connect(&rpc, signer.clone(), deployment.clone())?;
        let amount = U256::from(args.deposit_eth) * U256::from(10u128.pow(18));
        user.deposit_eth(signer.address(), amount).await.context("funding a dev account")?;
        keel_l1::devnode::mint_dev_token(
            &deployer,
            dev_token,
            signer.address(),
            U256::from(DEV_TOKEN_MINT),
        )
        .await
        .context("minting the dev token")?;
        accounts.push((signer.address(), alloy::hex::encode_prefixed(signer.to_bytes())));
    }

    print_banner(
        &args,
        &rpc,
        sequencer.addr,
        verifier.addr,
        &deployment_path,
        &deployment,
        &DevAccounts { token: dev_token, accounts },
    );
    node::wait_for_signal().await?;
    tracing::info!("stopping: the sequencer finishes its in-flight commits first");
    sequencer.shutdown().await;
    verifier.shutdown().await;
    drop(anvil);
    drop(cluster);
    tracing::info!("devnet stopped");
    Ok(())
}

/// The funded dev accounts (address, private key) and the dev token they hold on L1.
struct DevAccounts {
    token: Address,
    accounts: Vec<(Address, String)>,
}

#[allow(clippy::print_stdout)] // the banner is the command's output
fn print_banner(
    args: &DevnetArgs,
    rpc: &str,
    api: SocketAddr,
    verifier: SocketAddr,
    deployment_path: &std::path::Path,
    d: &keel_l1::Deployment,
    dev: &DevAccounts,
) {
    let (dev_token, accounts) = (dev.token, &dev.accounts);
    println!();
    println!("Keel devnet is running. Ctrl-C stops everything.");
    println!();
    println!("  L1 (anvil)        {rpc}   (chain id {})", d.l1_chain_id);
    println!("  sequencer API     http://{api}   (OpenAPI at /openapi.json, metrics at /metrics)");
    println!(
        "  verifier API      http://{verifier}   (status at /v1/status; proofs from L1 data alone)"
    );
    println!("  L2 chain id       {}", d.params.l2_chain_id);
    println!("  Rollup            {}", d.rollup);
    println!("  Bridge            {}", d.bridge);
    println!("  ChallengeManager  {}", d.challenge_manager);
    println!(
        "  DevToken (ERC-20) {dev_token}   (each dev account holds {DEV_TOKEN_MINT} units on L1)"
    );
    println!("  deployment file   {}", deployment_path.display());
    println!("  challenge period  {} s", d.params.challenge_period_secs);
    println!();
    println!("Dev accounts, each funded on L2 with {} ETH by a deposit:", args.deposit_eth);
    for (addr, key) in accounts {
        println!("  {addr}  key {key}");
    }
    if let Some((_, key)) = accounts.first() {
        println!();
        println!("Try (in another terminal, from this folder):");
        println!("  export KEEL_PRIVATE_KEY={key}");
        println!("  keel balance");
        println!("  keel transfer --to 0x000000000000000000000000000000000000b0b0 --amount 1.5eth");
        println!("  keel withdraw --amount 2eth");
        println!("  keel deposit --amount 1000 --token {dev_token}   # an ERC-20 deposit");
        println!(
            "  keel withdrawals finalize --index 0     # once its batch is final (~{} s)",
            d.params.challenge_period_secs
        );
    }
    println!();
}
