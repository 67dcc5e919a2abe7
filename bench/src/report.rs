//! `keel-bench report`: one document from every figure.
//!
//! Reads what `scripts/bench.sh` collected in one folder — the JSON of `e2e`, `replay` and `pg`,
//! the Markdown table printed by the core micro-benchmarks, the output of two forge runs, the
//! load averages around each stage — and writes `docs/benchmarks.json` (every figure, with the
//! date, the machine and the command) and `docs/benchmarks.md`, by filling the template
//! `docs/benchmarks.template.md`. The template holds the prose; it quotes figures as
//! `{{path.to.figure}}` (a number, optionally `{{path:decimals}}`, printed with thousands
//! separators) and whole tables as `{{tables.name}}`, so a new run never leaves the prose quoting
//! stale numbers.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

/// Options of `keel-bench report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The folder `scripts/bench.sh` wrote its outputs to.
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// The template.
    #[arg(long, default_value = "docs/benchmarks.template.md")]
    template: PathBuf,
    /// Where the document goes.
    #[arg(long, default_value = "docs/benchmarks.md")]
    markdown: PathBuf,
    /// Where the JSON goes.
    #[arg(long, default_value = "docs/benchmarks.json")]
    json: PathBuf,
    /// The command that produced the figures, as the document should name it.
    #[arg(long, default_value = "bash scripts/bench.sh")]
    command: String,
}

fn read(dir: &std::path::Path, name: &str) -> anyhow::Result<String> {
    let p = dir.join(name);
    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
}

fn read_json(dir: &std::path::Path, name: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&read(dir, name)?)?)
}

fn first_number(s: &str) -> Option<f64> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let num: String = s[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .filter(|c| *c != ',')
        .collect();
    num.parse().ok()
}

/// The rows of the core micro-benchmarks' table, by a stable key.
fn parse_core(text: &str) -> anyhow::Result<Value> {
    const KEYS: [(&str, &str); 8] = [
        ("decode + EIP-712 digest + recovery, libsecp256k1, 1 core", "recovery_1_core_per_s"),
        ("key recovery alone, k256", "k256_recovery_per_s"),
        ("decode + digest + recovery", "recovery_all_cores_per_s"),
        ("keccak256(64 bytes), alloy-primitives", "keccak_alloy_us"),
        ("keccak256(64 bytes), sha3", "keccak_sha3_us"),
        ("STF: ", "stf_with_recovery_per_s"),
        ("STF apply + root", "stf_apply_per_s"),
        ("tree root update", "tree_root_ms"),
    ];
    let mut out = Map::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 2 || cells[0] == "measure" || cells[0].starts_with("---") {
            continue;
        }
        rows.push(json!({ "measure": cells[0], "value": cells[1] }));
        if let Some((_, key)) = KEYS.iter().find(|(prefix, _)| cells[0].starts_with(prefix)) {
            out.insert((*key).into(), json!(first_number(cells[1])));
        }
    }
    if rows.is_empty() {
        bail!("no table in the core benchmark's output");
    }
    out.insert("rows".into(), Value::Array(rows));
    Ok(Value::Object(out))
}

/// Gas figures from `forge test -vv` (proveStep vectors and depths, appendBatch execution) and
/// from `forge test --isolate --gas-report` (whole transactions).
fn parse_gas(vv: &str, report: &str) -> anyhow::Result<Value> {
    let mut vectors = Vec::new();
    let mut depths: Vec<Value> = Vec::new();
    let mut append_exec = Map::new();
    for line in vv.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("appendBatch(") {
            let records = first_number(rest);
            let gas = t.rsplit(':').next().and_then(first_number);
            if let (Some(r), Some(g)) = (records, gas) {
                append_exec.insert(format!("{r}"), json!(g));
            }
        } else if let Some(d) = t.strip_prefix("depth ") {
            depths.push(json!({ "depth": first_number(d) }));
        } else if let Some((name, gas)) = t.rsplit_once(" gas ") {
            let Some(g) = first_number(gas) else { continue };
            if let Some(last) = depths.last_mut().filter(|_| line.starts_with("    ")) {
                last[name.replace(' ', "_")] = json!(g);
            } else if name == "max proveStep" {
                continue;
            } else if !name.contains(' ') {
                vectors.push(json!({ "step": name, "gas": g }));
            }
        }
    }
    let mut append_tx = Map::new();
    let mut functions = Map::new();
    for line in report.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("appendBatch(") {
            if let (Some(r), Some(g)) =
                (first_number(rest), t.rsplit(':').next().and_then(first_number))
            {
                append_tx.insert(format!("{r}"), json!(g));
            }
            continue;
        }
        let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() == 6
            && ["depositETH", "depositERC20", "finalizeWithdrawal"].contains(&cells[0])
        {
            let n = |i: usize| first_number(cells[i]);
            functions.insert(
                cells[0].into(),
                json!({ "min": n(1), "avg": n(2), "median": n(3), "max": n(4), "calls": n(5) }),
            );
        }
    }
    if vectors.is_empty() || append_exec.is_empty() || functions.len() < 3 {
        bail!(
            "the forge output lacks the expected gas lines (was it run with -vv and --gas-report?)"
        );
    }
    let per_record = |m: &Map<String, Value>, n: &str| {
        m.get(n).and_then(Value::as_f64).map(|g| g / n.parse::<f64>().unwrap_or(1.0))
    };
    let max_vector = vectors.iter().filter_map(|v| v["gas"].as_f64()).fold(0.0, f64::max);
    Ok(json!({
        "prove_step_vectors": vectors,
        "prove_step_max_vector": max_vector,
        "prove_step_depths": depths,
        "append_batch_execution": append_exec,
        "append_batch_transaction": append_tx,
        "append_batch_transaction_per_record": {
            "100": per_record(&append_tx, "100"),
            "1000": per_record(&append_tx, "1000"),
        },
        "record_bytes": keel_core::RECORD_LEN,
        "functions": functions,
    }))
}

fn machine() -> Value {
    let nproc = Command::new("nproc")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib =
        meminfo.lines().find(|l| l.starts_with("MemTotal")).and_then(first_number).unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    json!({
        "nproc": nproc,
        "cpu": model,
        "memory_gib": (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": kernel.trim(),
        "rustc": rustc.trim(),
    })
}

fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `1234567.8` → `1,234,568` (with `decimals` digits after the point).
fn fmt_num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

fn num(v: &Value, decimals: usize) -> String {
    v.as_f64().map_or_else(|| "n/a".into(), |x| fmt_num(x, decimals))
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) if v.is_array() => &v[i],
        _ => &v[k],
    })
}

fn load_str(v: &Value) -> String {
    v.as_array()
        .map(|a| a.iter().map(|x| num(x, 2)).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|| "n/a".into())
}

/// The generated tables, by name.
fn tables(d: &Value) -> BTreeMap<&'static str, String> {
    let mut t = BTreeMap::new();
    let m = &d["machine"];
    t.insert(
        "machine",
        format!(
            "| | |\n|---|---|\n| date | {} |\n| machine | {} CPUs (`nproc`), {} (`/proc/cpuinfo`), {} GiB memory, Linux {} |\n| toolchain | {} (release profile, `lto = \"thin\"`) |\n| command | `{}` |\n| load average (1/5/15 min) at start / end | {} → {} |",
            d["date"].as_str().unwrap_or(""),
            num(&m["nproc"], 0),
            m["cpu"].as_str().unwrap_or(""),
            num(&m["memory_gib"], 1),
            m["kernel"].as_str().unwrap_or(""),
            m["rustc"].as_str().unwrap_or(""),
            d["command"].as_str().unwrap_or(""),
            load_str(&d["load"]["start"]),
            load_str(&d["load"]["end"]),
        ),
    );
    let mut core = String::from("| measure | median of 5 runs |\n|---|---|\n");
    for r in d["core"]["rows"].as_array().into_iter().flatten() {
        core += &format!(
            "| {} | {} |\n",
            r["measure"].as_str().unwrap_or(""),
            r["value"].as_str().unwrap_or("")
        );
    }
    t.insert("core", core.trim_end().to_string());

    let g = &d["gas"];
    let vectors: Vec<&Value> = g["prove_step_vectors"].as_array().into_iter().flatten().collect();
    let half = vectors.len().div_ceil(2);
    let mut pv = String::from("| step (vector) | gas | step (vector) | gas |\n|---|---|---|---|\n");
    for i in 0..half {
        let cell = |v: Option<&&Value>| match v {
            Some(v) => (v["step"].as_str().unwrap_or("").to_string(), num(&v["gas"], 0)),
            None => (String::new(), String::new()),
        };
        let (a, ag) = cell(vectors.get(i));
        let (b, bg) = cell(vectors.get(i + half));
        pv += &format!("| {a} | {ag} | {b} | {bg} |\n");
    }
    t.insert("prove_vectors", pv.trim_end().to_string());
    let mut pd = String::from(
        "| proof depth | transfer | transfer to a fresh account | withdraw | forced withdrawal |\n|---|---|---|---|---|\n",
    );
    for r in g["prove_step_depths"].as_array().into_iter().flatten() {
        pd += &format!(
            "| {} | {} | {} | {} | {} |\n",
            num(&r["depth"], 0),
            num(&r["transfer"], 0),
            num(&r["transfer_to_fresh_recipient"], 0),
            num(&r["withdraw"], 0),
            num(&r["forced_withdrawal"], 0)
        );
    }
    t.insert("prove_depth", pd.trim_end().to_string());
    let f = &g["functions"];
    t.insert(
        "batch_gas",
        format!(
            "| call | gas |\n|---|---|\n\
| appendBatch, 100 records: execution / whole transaction | {} / {} ({} per record) |\n\
| appendBatch, 1,000 records: execution / whole transaction | {} / {} ({} per record) |\n\
| bytes of calldata per transfer | {} |\n\
| depositETH (median; max {}) | {} |\n\
| depositERC20 (median; max {}) | {} |\n\
| finalizeWithdrawal (median; max {}) | {} |",
            num(&g["append_batch_execution"]["100"], 0),
            num(&g["append_batch_transaction"]["100"], 0),
            num(&g["append_batch_transaction_per_record"]["100"], 0),
            num(&g["append_batch_execution"]["1000"], 0),
            num(&g["append_batch_transaction"]["1000"], 0),
            num(&g["append_batch_transaction_per_record"]["1000"], 0),
            num(&g["record_bytes"], 0),
            num(&f["depositETH"]["max"], 0),
            num(&f["depositETH"]["median"], 0),
            num(&f["depositERC20"]["max"], 0),
            num(&f["depositERC20"]["median"], 0),
            num(&f["finalizeWithdrawal"]["max"], 0),
            num(&f["finalizeWithdrawal"]["median"], 0),
        ),
    );

    let e = &d["e2e"]["median"];
    let e_runs: Vec<&Value> = d["e2e"]["runs"].as_array().into_iter().flatten().collect();
    let e_loads = e_runs
        .iter()
        .map(|r| {
            format!(
                "{} (closed loop) / {} (open loop)",
                load_str(&r["load"]["closed_loop"]),
                load_str(&r["load"]["open_loop"])
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    t.insert(
        "e2e",
        format!(
            "| measure | median of {} runs |\n|---|---|\n\
| closed loop, one transfer per request ({} connections): accepted, durable transfers | {} /s |\n\
| — submit→ack p50 / p99 (client side) | {} / {} ms |\n\
| — inside the sequencer: mean commit group / mean commit / mean receive→ack | {} transfers / {} ms / {} ms |\n\
| closed loop, lists of one transfer per account ({} connections, `POST /v1/transactions/list`): accepted, durable transfers | {} /s |\n\
| — p99 per list / mean commit group | {} ms / {} transfers |\n\
| open loop at {} /s offered (one transfer per request, each account waits for its previous ack): accepted | {} /s |\n\
| — submit→ack p50 / p90 / p99 / p99.9 / max, from each transfer's scheduled time | {} / {} / {} / {} / {} ms |\n\
| after the last ack: until its batch is on L1 | {} s |\n\
| after the last ack: until the verifier agrees with its batch | {} s |\n\
| L1 posting rate the poster sustained (open loop's transfers / (its duration + the drain)); mean time per posting | {} transfers/s; {} s |\n\
| anvil, same transfers as signed ETH transactions, same client and concurrency | {} /s |\n\
| ratio Keel / anvil (one transfer per request, both) | {}× |\n\
| load average (1/5/15 min) when each run's loops started | {} |",
            e_runs.len(),
            num(&d["e2e"]["concurrency"], 0),
            num(&e["closed_loop_accepted_per_s"], 0),
            num(&e["closed_loop_p50_ms"], 1),
            num(&e["closed_loop_p99_ms"], 1),
            num(&e["closed_loop_commit_group_mean"], 0),
            num(&e["closed_loop_commit_mean_ms"], 1),
            num(&e["closed_loop_ack_mean_ms"], 1),
            num(&d["e2e"]["runs"][0]["closed_loop_lists"]["workers"], 0),
            num(&e["closed_loop_lists_accepted_per_s"], 0),
            num(&e["closed_loop_lists_p99_ms"], 1),
            num(&e["closed_loop_lists_commit_group_mean"], 0),
            num(&e["open_loop_offered_per_s"], 0),
            num(&e["open_loop_accepted_per_s"], 0),
            num(&e["open_loop_p50_ms"], 1),
            num(&e["open_loop_p90_ms"], 1),
            num(&e["open_loop_p99_ms"], 1),
            num(&e["open_loop_p999_ms"], 1),
            num(&e["open_loop_max_ms"], 1),
            num(&e["seconds_until_all_posted_on_l1"], 2),
            num(&e["seconds_until_verifier_agrees"], 2),
            num(&e["l1_posted_transfers_per_s"], 0),
            num(&e["batch_post_mean_s"], 2),
            num(&e["anvil_accepted_per_s"], 0),
            num(&e["ratio_keel_to_anvil"], 1),
            e_loads,
        ),
    );

    let r = &d["replay"];
    let rm = &r["median"];
    let r_loads = r["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| load_str(&x["load_before"]))
        .collect::<Vec<_>>()
        .join("; ");
    t.insert(
        "replay",
        format!(
            "| measure | median of {} runs |\n|---|---|\n\
| follower schedule (derive a batch, then execute it): transfers/s | {} /s ({} s for {} transfers) |\n\
| — of which decode + recovery / apply + root | {} s / {} s |\n\
| pipelined (recover batch k+1 while batch k executes): transfers/s | {} /s ({} s) |\n\
| batches of ≤ {} records, all agreed with the honest roots | {} of {} |\n\
| load average (1/5/15 min) before each timed replay | {} |",
            r["runs"].as_array().map_or(0, |a| a.len() / 2),
            num(&rm["follower_transfers_per_s"], 0),
            num(&rm["follower_seconds"], 1),
            num(&r["transfers"], 0),
            num(&rm["follower_derive_seconds"], 1),
            num(&rm["follower_execute_seconds"], 1),
            num(&rm["pipelined_transfers_per_s"], 0),
            num(&rm["pipelined_seconds"], 1),
            num(&r["batch_records"], 0),
            if r["all_batches_agreed"] == true { num(&r["batches"], 0) } else { "not all".into() },
            num(&r["batches"], 0),
            r_loads,
        ),
    );

    let p = &d["pg"];
    let mut pg = String::from(
        "| transactions per commit | records/s | commits/s | commit p50 / p99 |\n|---|---|---|---|\n",
    );
    for row in p["median"].as_array().into_iter().flatten() {
        pg += &format!(
            "| {} | {} | {} | {} / {} ms |\n",
            num(&row["group"], 0),
            num(&row["records_per_s"], 0),
            num(&row["commits_per_s"], 0),
            num(&row["commit_p50_ms"], 2),
            num(&row["commit_p99_ms"], 2)
        );
    }
    t.insert("pg", pg.trim_end().to_string());

    let mut tg =
        String::from("| target (DESIGN.md §6) | measured (median) | met |\n|---|---|---|\n");
    for row in d["targets"].as_array().into_iter().flatten() {
        tg += &format!(
            "| {} | {} | {} |\n",
            row["target"].as_str().unwrap_or(""),
            row["measured"].as_str().unwrap_or(""),
            if row["met"] == true { "yes" } else { "**no**" }
        );
    }
    t.insert("targets", tg.trim_end().to_string());
    t
}

fn targets(d: &Value) -> Value {
    let e = &d["e2e"]["median"];
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let closed = f(&e["closed_loop_accepted_per_s"]);
    let lists = f(&e["closed_loop_lists_accepted_per_s"]);
    let p99 = f(&e["open_loop_p99_ms"]);
    let offered = f(&e["open_loop_offered_per_s"]);
    let replay = f(&d["replay"]["median"]["follower_transfers_per_s"]);
    let ratio = f(&e["ratio_keel_to_anvil"]);
    let prove = f(&d["gas"]["prove_step_max_vector"]);
    let deep = d["gas"]["prove_step_depths"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["depth"] == 32.0))
        .map(|r| {
            ["transfer", "transfer_to_fresh_recipient", "withdraw", "forced_withdrawal"]
                .iter()
                .map(|k| f(&r[*k]))
                .fold(0.0, f64::max)
        })
        .unwrap_or(f64::NAN);
    json!([
        { "target": "≥ 20,000 durable transfers/s", "measured": format!("{} /s one per request, {} /s in lists (closed loops)", fmt_num(closed, 0), fmt_num(lists, 0)), "met": closed.max(lists) >= 20_000.0 },
        { "target": "p99 submit→ack ≤ 25 ms at 10,000/s offered", "measured": format!("{} ms at {} /s offered", fmt_num(p99, 1), fmt_num(offered, 0)), "met": p99 <= 25.0 && offered >= 10_000.0 },
        { "target": "verifier replay ≥ 40,000 transfers/s", "measured": format!("{} /s (follower schedule), {} /s (pipelined)", fmt_num(replay, 0), fmt_num(f(&d["replay"]["median"]["pipelined_transfers_per_s"]), 0)), "met": replay >= 40_000.0 },
        { "target": "≥ 10× anvil's rate on the same load", "measured": format!("{}×", fmt_num(ratio, 1)), "met": ratio >= 10.0 },
        { "target": "proveStep execution ≤ 250k gas for every step kind", "measured": format!("{} (vectors), {} (depth 32)", fmt_num(prove, 0), fmt_num(deep, 0)), "met": prove <= 250_000.0 && deep <= 250_000.0 },
    ])
}

/// Replace `{{path}}` / `{{path:decimals}}` with figures; unknown paths are an error, so a
/// renamed figure cannot silently print "n/a".
fn fill(
    template: &str,
    d: &Value,
    tables: &BTreeMap<&'static str, String>,
) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(a) = rest.find("{{") {
        out.push_str(&rest[..a]);
        let b = rest[a..].find("}}").context("unclosed {{ in the template")? + a;
        let inner = rest[a + 2..b].trim();
        let (path, decimals) = match inner.split_once(':') {
            Some((p, n)) => (p, n.parse::<usize>().ok()),
            None => (inner, None),
        };
        if let Some(name) = path.strip_prefix("tables.") {
            out.push_str(tables.get(name).with_context(|| format!("no table {name}"))?);
        } else {
            let v = get(d, path);
            match v {
                Value::Null => bail!("the template quotes {path}, which the figures lack"),
                Value::Number(_) => out.push_str(&num(v, decimals.unwrap_or(0))),
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
        }
        rest = &rest[b + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Write the document and the JSON; returns the JSON.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<Value> {
    let dir = &args.dir;
    let load = read_json(dir, "load.json").unwrap_or(Value::Null);
    let mut d = json!({
        "date": date(),
        "machine": machine(),
        "command": args.command,
        "load": load,
        "core": parse_core(&read(dir, "core.txt")?)?,
        "gas": parse_gas(&read(dir, "forge-vv.txt")?, &read(dir, "forge-gas-report.txt")?)?,
        "e2e": read_json(dir, "e2e.json")?,
        "replay": read_json(dir, "replay.json")?,
        "pg": read_json(dir, "pg.json")?,
    });
    d["targets"] = targets(&d);
    let tables = tables(&d);
    let template = std::fs::read_to_string(&args.template)
        .with_context(|| format!("reading {}", args.template.display()))?;
    let doc = fill(&template, &d, &tables)?;
    std::fs::write(&args.markdown, doc)?;
    std::fs::write(&args.json, serde_json::to_string_pretty(&d)? + "\n")?;
    tracing::info!(markdown = %args.markdown.display(), json = %args.json.display(), "benchmark report written");
    Ok(d["targets"].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(fmt_num(1234567.8, 0), "1,234,568");
        assert_eq!(fmt_num(999.0, 1), "999.0");
        assert_eq!(fmt_num(-12345.0, 0), "-12,345");
        assert_eq!(first_number("22,761 /s (43.9 µs each)"), Some(22761.0));
    }

    #[test]
    fn the_template_is_filled_and_unknown_figures_refused() {
        let d = json!({ "a": { "b": 12345.678 }, "s": "text" });
        let mut t = BTreeMap::new();
        t.insert("x", "TABLE".to_string());
        assert_eq!(
            fill("{{a.b}} {{a.b:1}} {{s}} {{tables.x}}", &d, &t).expect("fill"),
            "12,346 12,345.7 text TABLE"
        );
        assert!(fill("{{a.c}}", &d, &t).is_err());
    }
}
