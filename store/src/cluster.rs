//! The embedded private PostgreSQL cluster.
//!
//! When no `DATABASE_URL` is given, the sequencer, the verifier, the devnet and every test run on a
//! PostgreSQL cluster of their own, made from the machine's server binaries (`initdb`, `pg_ctl`,
//! `postgres`) rather than a system service: [`PgCluster::start_temp`] makes one in a fresh
//! temporary folder (removed on drop), [`PgCluster::start_in`] keeps one in a folder of the
//! caller's choosing (reused across runs).
//!
//! Each cluster listens on `127.0.0.1` only, on a free port, with trust authentication for the
//! superuser [`SUPERUSER`], and puts its Unix socket in its own data directory, so nothing touches
//! `/var/run/postgresql` and any number of clusters can run side by side (nextest runs test
//! binaries in parallel). `fsync` stays on for every cluster: the sequencer's `kill -9` tests and
//! the devnet rely on real durability.
//!
//! PostgreSQL refuses to run as root. When this process is root (as on the dev machines and in
//! CI), `initdb` and `pg_ctl` run through `runuser` as an unprivileged OS user: `$KEEL_PG_OS_USER`,
//! else `postgres`; the folders the cluster lives in are handed to that user.
//!
//! A cluster must not outlive its owner: dropping a [`PgCluster`] stops the server it started, and
//! a small watchdog process (`sh`, in its own process group) stops that server too — and removes a
//! temporary cluster's folder — if the owning process dies without dropping it (`kill -9`, a test
//! timeout). Both aim at the server's process id, so a server started on the same data directory
//! by a new owner (a restarted process calling [`PgCluster::start_in`]) is left alone.

use std::collections::BTreeSet;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection};
use tempfile::TempDir;
use tracing::{debug, info, warn};

/// The superuser that `initdb` creates in every cluster; connections authenticate as it.
pub const SUPERUSER: &str = "keel";

/// Environment variable naming the folder that holds `initdb`, `pg_ctl` and `postgres`.
pub const ENV_PG_BIN: &str = "KEEL_PG_BIN";

/// Environment variable naming the unprivileged OS user that runs PostgreSQL when this process is
/// root (default `postgres`). Ignored when not root.
pub const ENV_PG_OS_USER: &str = "KEEL_PG_OS_USER";

/// How many fresh ports to try when the picked one is taken before the server binds it.
const PORT_ATTEMPTS: usize = 5;
/// How long `pg_ctl start -w` waits for the server to accept connections, in seconds.
const START_TIMEOUT_SECS: &str = "30";
/// How long `pg_ctl stop -w` waits for the server to shut down, in seconds.
const STOP_TIMEOUT_SECS: &str = "60";
/// The longest Unix socket path the kernel accepts (`sizeof(sun_path)` less the NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How much of the server log an error carries.
const LOG_TAIL_LINES: usize = 30;

/// Why a cluster could not be made, started, stopped or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The PostgreSQL server binaries were not found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: {searched}; install them \
         with `apt-get install postgresql-15`, or set KEEL_PG_BIN to the folder that holds them"
    )]
    BinariesNotFound {
        /// Where they were looked for.
        searched: String,
    },
    /// This process is root and the OS user meant to run PostgreSQL cannot be used.
    #[error(
        "PostgreSQL refuses to run as root, and OS user `{user}` cannot run it instead: {reason} \
         (set KEEL_PG_OS_USER to an existing unprivileged user)"
    )]
    OsUser {
        /// The OS user that was tried.
        user: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// This process is root and `runuser` (util-linux), needed to drop privileges, is missing.
    #[error(
        "PostgreSQL refuses to run as root and `runuser` (util-linux) was not found to run it as \
         `{user}`; install util-linux or run as an unprivileged user"
    )]
    RunuserNotFound {
        /// The OS user PostgreSQL was to run as.
        user: String,
    },
    /// The data directory's path cannot be handed to `pg_ctl`.
    #[error("unsupported data directory path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The folder given to [`PgCluster::start_in`] holds something other than a cluster.
    #[error("{path:?} is neither empty nor a PostgreSQL data directory (it has no PG_VERSION)")]
    NotADataDir {
        /// The folder.
        path: PathBuf,
    },
    /// `initdb` failed.
    #[error("initdb failed for {data_dir:?} ({status}): {stderr}")]
    InitdbFailed {
        /// The data directory being created.
        data_dir: PathBuf,
        /// initdb's exit status.
        status: String,
        /// initdb's standard error.
        stderr: String,
    },
    /// The server did not start (or did not accept connections in time).
    #[error(
        "PostgreSQL did not start in {data_dir:?} on port {port}: {stderr}\n\
         --- tail of the server log ---\n{log_tail}"
    )]
    StartFailed {
        /// The cluster's data directory.
        data_dir: PathBuf,
        /// The port it was to listen on.
        port: u16,
        /// `pg_ctl start`'s output.
        stderr: String,
        /// The end of the server log written during this attempt.
        log_tail: String,
    },
    /// The server did not stop.
    #[error("pg_ctl stop failed for {data_dir:?} ({status}): {stderr}")]
    StopFailed {
        /// The cluster's data directory.
        data_dir: PathBuf,
        /// pg_ctl's exit status.
        status: String,
        /// pg_ctl's standard error.
        stderr: String,
    },
    /// A database name outside `[a-z0-9_]{1,63}`.
    #[error("invalid database name {name:?}: use 1 to 63 characters among a-z, 0-9 and _")]
    InvalidDatabaseName {
        /// The rejected name.
        name: String,
    },
    /// A statement run on the cluster (or connecting to it) failed.
    #[error("SQL on the cluster at port {port} failed: {source}")]
    Sql {
        /// The cluster's port.
        port: u16,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A file system or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for mapping an [`std::io::Error`] to [`ClusterError::Io`].
fn io_err(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let action = action.into();
    move |source| ClusterError::Io { action, source }
}

/// A private PostgreSQL cluster (one `postgres` server and its data directory) owned by this
/// process.
///
/// Dropping it stops the server at once (`pg_ctl stop -m immediate`; committed data stays durable
/// since `fsync` is on) and, for [`PgCluster::start_temp`], deletes its folder.
#[derive(Debug)]
pub struct PgCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    run_as: RunAs,
    /// Serializes [`PgCluster::start`] and [`PgCluster::stop`].
    lifecycle: tokio::sync::Mutex<()>,
    /// Process id of the postmaster this handle last started (0: none).
    server_pid: AtomicU32,
    /// Stops the server (and removes `_temp`) if this process dies without dropping the cluster.
    watchdog: Option<Watchdog>,
    /// Declared last: dropped (folder deleted) after `Drop::drop` has stopped the server.
    _temp: Option<TempDir>,
}

impl PgCluster {
    /// Locates the PostgreSQL server binaries: `$KEEL_PG_BIN`, else `pg_config --bindir` if that
    /// folder has `initdb`, else the highest-versioned `/usr/lib/postgresql/*/bin`.
    pub fn find_bin_dir() -> Result<PathBuf, ClusterError> {
        if let Some(dir) = std::env::var_os(ENV_PG_BIN).filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            return if has_server_binaries(&dir) {
                Ok(dir)
            } else {
                Err(ClusterError::BinariesNotFound {
                    searched: format!("{ENV_PG_BIN}={} lacks them", dir.display()),
                })
            };
        }
        let mut searched = Vec::new();
        match Command::new("pg_config").arg("--bindir").stdin(Stdio::null()).output() {
            Ok(out) if out.status.success() => {
                let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if has_server_binaries(&dir) {
                    return Ok(dir);
                }
                searched.push(format!("`pg_config --bindir` ({}) lacks them", dir.display()));
            }
            Ok(out) => searched.push(format!("`pg_config --bindir` failed ({})", out.status)),
            Err(e) => searched.push(format!("no pg_config ({e})")),
        }
        let root = Path::new("/usr/lib/postgresql");
        let best = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = parse_version(entry.file_name().to_str()?)?;
                let bin = entry.path().join("bin");
                has_server_binaries(&bin).then_some((version, bin))
            })
            .max_by_key(|(version, _)| *version);
        match best {
            Some((_, bin)) => Ok(bin),
            None => {
                searched.push(format!("nothing in {}/*/bin", root.display()));
                Err(ClusterError::BinariesNotFound { searched: searched.join("; ") })
            }
        }
    }

    /// Makes a new cluster in a fresh temporary folder and starts it on a free loopback port.
    ///
    /// Meant for tests and throwaway devnets: `initdb --no-sync` skips syncing the initial files
    /// to disk (an OS crash during the test would lose them, which does not matter), while the
    /// running server keeps `fsync` on, so `kill -9` semantics are real. The server is stopped and
    /// the folder deleted on drop.
    pub async fn start_temp() -> Result<Self, ClusterError> {
        let started = Instant::now();
        let bin_dir = Self::find_bin_dir()?;
        let run_as = RunAs::detect()?;
        let temp = tempfile::Builder::new()
            .prefix("keel-pg-")
            .tempdir()
            .map_err(io_err("creating a temporary folder for PostgreSQL"))?;
        // The folder is 0700 and root's when we are root: hand it to the server's user.
        run_as.give(temp.path())?;
        let data_dir = temp.path().join("data");
        check_path(&data_dir)?;
        let watchdog = Watchdog::spawn(&data_dir, Some(temp.path()))?;
        // Built before initdb so that any failure below cleans up through Drop.
        let mut cluster = PgCluster {
            bin_dir,
            data_dir,
            port: 0,
            run_as,
            lifecycle: tokio::sync::Mutex::new(()),
            server_pid: AtomicU32::new(0),
            watchdog: Some(watchdog),
            _temp: Some(temp),
        };
        cluster.initdb(true).await?;
        cluster.start_on_free_port().await?;
        info!(
            port = cluster.port,
            data_dir = %cluster.data_dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "temporary PostgreSQL cluster started"
        );
        Ok(cluster)
    }

    /// Starts the cluster kept in `dir` (its data directory: `initdb` on first use, when `dir` is
    /// missing or empty; reused after) on `port`, or on a free loopback port if `port` is 0.
    ///
    /// A server still running on `dir` (left by a process that died) is stopped first and started
    /// again under this handle. On drop the server is stopped; the data is kept. When this process
    /// is root, every folder above `dir` must be traversable by the server's OS user.
    pub async fn start_in(dir: &Path, port: u16) -> Result<Self, ClusterError> {
        let started = Instant::now();
        let bin_dir = Self::find_bin_dir()?;
        let run_as = RunAs::detect()?;
        let absolute = std::path::absolute(dir)
            .map_err(io_err(format!("resolving the data directory {}", dir.display())))?;
        check_path(&absolute)?;
        std::fs::create_dir_all(dir)
            .map_err(io_err(format!("creating the data directory {}", dir.display())))?;
        let data_dir = std::fs::canonicalize(dir)
            .map_err(io_err(format!("resolving the data directory {}", dir.display())))?;
        check_path(&data_dir)?;
        let fresh = if data_dir.join("PG_VERSION").is_file() {
            false
        } else {
            let mut entries = std::fs::read_dir(&data_dir)
                .map_err(io_err(format!("reading {}", data_dir.display())))?;
            if entries.next().is_some() {
                return Err(ClusterError::NotADataDir { path: data_dir });
            }
            run_as.give(&data_dir)?;
            true
        };
        let watchdog = Watchdog::spawn(&data_dir, None)?;
        let mut cluster = PgCluster {
            bin_dir,
            data_dir,
            port,
            run_as,
            lifecycle: tokio::sync::Mutex::new(()),
            server_pid: AtomicU32::new(0),
            watchdog: Some(watchdog),
            _temp: None,
        };
        if fresh {
            cluster.initdb(false).await?;
        } else if cluster.server_running().await {
            warn!(
                data_dir = %cluster.data_dir.display(),
                "a server already runs on this data directory; restarting it under this handle"
            );
            cluster.stop_server().await?;
        }
        if port == 0 {
            cluster.start_on_free_port().await?;
        } else {
            cluster.start_server(port).await.map_err(|failure| failure.error)?;
        }
        info!(
            port = cluster.port,
            data_dir = %cluster.data_dir.display(),
            initialized = fresh,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "PostgreSQL cluster started"
        );
        Ok(cluster)
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's data directory (it also holds `server.log` and the Unix socket).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The connection URL of `database`: `postgres://keel@127.0.0.1:<port>/<database>` (trust
    /// authentication, loopback only, so no password).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates database `name` (1 to 63 characters among `a-z`, `0-9`, `_`) unless it exists, and
    /// returns its URL. Safe to call concurrently for the same name.
    pub async fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        let valid = (1..=63).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(ClusterError::InvalidDatabaseName { name: name.to_owned() });
        }
        let sql_err = |source| ClusterError::Sql { port: self.port, source };
        let mut conn = PgConnection::connect(&self.url("postgres")).await.map_err(sql_err)?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(&mut conn)
                .await
                .map_err(sql_err)?;
        if exists.is_none() {
            // The name is validated above, so quoting it is enough.
            let create = format!("CREATE DATABASE \"{name}\"");
            match sqlx::raw_sql(&create).execute(&mut conn).await {
                Ok(_) => debug!(port = self.port, database = name, "database created"),
                // Lost a race with a concurrent creator: duplicate_database or unique_violation.
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
                Err(e) => return Err(sql_err(e)),
            }
        }
        if let Err(e) = conn.close().await {
            debug!(error = %e, "closing the admin connection failed");
        }
        Ok(self.url(name))
    }

    /// Stops the server (`pg_ctl stop -m fast`: clients are disconnected, data is checkpointed),
    /// keeping the data. Stopping a stopped server is not an error.
    pub async fn stop(&self) -> Result<(), ClusterError> {
        let _lifecycle = self.lifecycle.lock().await;
        self.stop_server().await?;
        info!(port = self.port, data_dir = %self.data_dir.display(), "PostgreSQL cluster stopped");
        Ok(())
    }

    /// Starts the server again on the same port and data, and waits until it accepts connections.
    /// Starting a running server is not an error.
    pub async fn start(&self) -> Result<(), ClusterError> {
        let _lifecycle = self.lifecycle.lock().await;
        if self.server_running().await {
            return Ok(());
        }
        // The port was free a moment ago; something briefly holding it is worth a few retries,
        // but the port cannot change: clients hold URLs with it.
        let mut attempt = 1;
        loop {
            match self.start_server(self.port).await {
                Ok(()) => break,
                Err(failure) if failure.addr_in_use && attempt < PORT_ATTEMPTS => {
                    warn!(port = self.port, attempt, "port busy, retrying PostgreSQL start");
                    tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                    attempt += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
        info!(port = self.port, data_dir = %self.data_dir.display(), "PostgreSQL cluster restarted");
        Ok(())
    }

    /// Whether the server accepts connections now (a real connection as the superuser, with a
    /// 2 s limit).
    pub async fn is_ready(&self) -> bool {
        let connect = PgConnection::connect(&self.url("postgres"));
        match tokio::time::timeout(Duration::from_secs(2), connect).await {
            Ok(Ok(conn)) => {
                if let Err(e) = conn.close().await {
                    debug!(error = %e, "closing the readiness connection failed");
                }
                true
            }
            Ok(Err(_)) | Err(_) => false,
        }
    }

    /// A command running `binary` from the server's bin folder as the server's OS user.
    fn pg_command(&self, binary: &str) -> Command {
        self.run_as.command(&self.bin_dir.join(binary))
    }

    /// Runs `initdb` into the (missing or empty) data directory.
    async fn initdb(&self, no_sync: bool) -> Result<(), ClusterError> {
        let mut cmd = self.pg_command("initdb");
        cmd.args(["-A", "trust", "-U", SUPERUSER, "--encoding=UTF8", "--locale=C"]);
        if no_sync {
            cmd.arg("--no-sync");
        }
        cmd.arg("-D").arg(&self.data_dir);
        let out = run(cmd, "running initdb").await?;
        if !out.status.success() {
            let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            if let RunAs::User { user, .. } = &self.run_as {
                if stderr.contains("Permission denied") {
                    stderr.push_str(&format!(
                        " (this process is root, so PostgreSQL runs as OS user `{user}`: every \
                         folder above the data directory must be traversable by it)"
                    ));
                }
            }
            return Err(ClusterError::InitdbFailed {
                data_dir: self.data_dir.clone(),
                status: out.status.to_string(),
                stderr,
            });
        }
        debug!(data_dir = %self.data_dir.display(), "initdb done");
        Ok(())
    }

    /// Starts the server on fresh free ports until one sticks, and records the port.
    async fn start_on_free_port(&mut self) -> Result<(), ClusterError> {
        let mut attempt = 1;
        loop {
            let port = pick_free_port()?;
            match self.start_server(port).await {
                Ok(()) => {
                    self.port = port;
                    return Ok(());
                }
                Err(failure) if failure.addr_in_use && attempt < PORT_ATTEMPTS => {
                    warn!(port, attempt, "port taken before PostgreSQL bound it, trying another");
                    attempt += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// One `pg_ctl start -w` on `port`.
    async fn start_server(&self, port: u16) -> Result<(), StartFailure> {
        let log = self.data_dir.join("server.log");
        let log_offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        // Checked by check_path; the socket goes in the data directory unless its path would be
        // too long for the kernel, in which case only TCP is offered (all we use anyway).
        let dir = self.data_dir.to_str().unwrap_or_default();
        let socket_dir =
            if dir.len() + "/.s.PGSQL.".len() + port.to_string().len() <= MAX_SOCKET_PATH {
                shell_quote(dir)
            } else {
                debug!(data_dir = dir, "data directory path too long for a Unix socket; TCP only");
                "''".to_owned()
            };
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir} -c max_connections=200 \
             -c shared_buffers=128MB"
        );
        let mut cmd = self.pg_command("pg_ctl");
        cmd.args(["start", "-w", "-t", START_TIMEOUT_SECS, "-D"])
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(&options);
        let out = run(cmd, "running pg_ctl start").await.map_err(StartFailure::other)?;
        if out.status.success() {
            let pid = self.running_pid().unwrap_or(0);
            self.server_pid.store(pid, Ordering::SeqCst);
            if let Some(watchdog) = &self.watchdog {
                watchdog.watch(pid);
            }
            debug!(port, pid, data_dir = dir, "pg_ctl start done");
            return Ok(());
        }
        let log_tail = read_log_tail(&log, log_offset);
        let addr_in_use = log_tail.contains("Address already in use");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        // pg_ctl gives up after its timeout while the server it started may still be coming up:
        // stop it before reporting the failure.
        if stderr.contains("did not start in time") || stdout.contains("did not start in time") {
            self.server_pid.store(self.running_pid().unwrap_or(0), Ordering::SeqCst);
            self.stop_now();
        }
        if stderr.is_empty() {
            stderr = stdout.trim().to_owned();
        }
        Err(StartFailure {
            addr_in_use,
            error: ClusterError::StartFailed {
                data_dir: self.data_dir.clone(),
                port,
                stderr,
                log_tail,
            },
        })
    }

    /// `pg_ctl stop -m fast`; fine if no server was running.
    async fn stop_server(&self) -> Result<(), ClusterError> {
        let mut cmd = self.pg_command("pg_ctl");
        cmd.args(["stop", "-m", "fast", "-w", "-t", STOP_TIMEOUT_SECS, "-D"]).arg(&self.data_dir);
        let out = run(cmd, "running pg_ctl stop").await?;
        if out.status.success() || !self.server_running().await {
            return Ok(());
        }
        Err(ClusterError::StopFailed {
            data_dir: self.data_dir.clone(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// Whether a server runs on the data directory (`pg_ctl status` exits 0).
    async fn server_running(&self) -> bool {
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("status").arg("-D").arg(&self.data_dir);
        matches!(run(cmd, "running pg_ctl status").await, Ok(out) if out.status.success())
    }

    /// The process id in `postmaster.pid`, if a server runs (or crashed) on the data directory.
    fn running_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// `pg_ctl stop -m immediate` of the server this handle started (if it still runs),
    /// synchronously, ignoring failures: for Drop and cleanup.
    fn stop_now(&self) {
        let ours = self.server_pid.load(Ordering::SeqCst);
        if ours == 0 || self.running_pid() != Some(ours) {
            return;
        }
        let mut cmd = self.pg_command("pg_ctl");
        cmd.args(["stop", "-m", "immediate", "-w", "-t", STOP_TIMEOUT_SECS, "-D"])
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match cmd.status() {
            Ok(status) if status.success() => {
                debug!(port = self.port, data_dir = %self.data_dir.display(), "PostgreSQL stopped")
            }
            Ok(status) => debug!(%status, "pg_ctl stop -m immediate failed"),
            Err(e) => debug!(error = %e, "could not run pg_ctl stop -m immediate"),
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop_now();
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
        // `_temp`, if any, is dropped next and deletes the folder.
    }
}

/// A failed start attempt, and whether another port may fix it.
struct StartFailure {
    addr_in_use: bool,
    error: ClusterError,
}

impl StartFailure {
    fn other(error: ClusterError) -> Self {
        StartFailure { addr_in_use: false, error }
    }
}

/// Who runs the server binaries.
#[derive(Debug, Clone)]
enum RunAs {
    /// This process's own user (not root).
    Me,
    /// An unprivileged OS user, through `runuser`, because this process is root.
    User { runuser: PathBuf, user: String, uid: u32, gid: u32 },
}

impl RunAs {
    /// `Me` unless this process is root; then `$KEEL_PG_OS_USER` (default `postgres`).
    fn detect() -> Result<Self, ClusterError> {
        if effective_uid() != 0 {
            return Ok(RunAs::Me);
        }
        let user = std::env::var(ENV_PG_OS_USER)
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres".to_owned());
        let uid = id_of(&user, "-u")?;
        let gid = id_of(&user, "-g")?;
        if uid == 0 {
            return Err(ClusterError::OsUser { user, reason: "it is root".to_owned() });
        }
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| ClusterError::RunuserNotFound { user: user.clone() })?;
        Ok(RunAs::User { runuser, user, uid, gid })
    }

    /// A command running `program` as this user, from `/` (the caller's working directory may
    /// be closed to the server's user), with no standard input.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = match self {
            RunAs::Me => Command::new(program),
            RunAs::User { runuser, user, .. } => {
                let mut cmd = Command::new(runuser);
                cmd.arg("-u").arg(user).arg("--").arg(program);
                cmd
            }
        };
        cmd.current_dir("/").stdin(Stdio::null());
        cmd
    }

    /// Hands `path` to the server's user (when running as root).
    fn give(&self, path: &Path) -> Result<(), ClusterError> {
        match self {
            RunAs::Me => Ok(()),
            RunAs::User { user, uid, gid, .. } => {
                std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                    .map_err(io_err(format!("handing {} to OS user {user}", path.display())))
            }
        }
    }
}

/// This process's effective user id (the owner of `/proc/self`, else `id -u`).
fn effective_uid() -> u32 {
    static EUID: OnceLock<u32> = OnceLock::new();
    *EUID.get_or_init(|| {
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            return meta.uid();
        }
        Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            // Unknown: assume root, the case that needs care; runuser then reports clearly.
            .unwrap_or(0)
    })
}

/// `id <flag> <user>`: the user's uid (`-u`) or primary gid (`-g`).
fn id_of(user: &str, flag: &str) -> Result<u32, ClusterError> {
    let out =
        Command::new("id").arg(flag).arg(user).stdin(Stdio::null()).output().map_err(|e| {
            ClusterError::OsUser { user: user.to_owned(), reason: format!("cannot run `id`: {e}") }
        })?;
    if !out.status.success() {
        return Err(ClusterError::OsUser {
            user: user.to_owned(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|e| ClusterError::OsUser {
        user: user.to_owned(),
        reason: format!("unexpected `id {flag}` output: {e}"),
    })
}

/// Stops the server (and deletes a temporary cluster's folder) when its owner dies.
///
/// A `sh` in its own process group (so signals sent to the owner's group, such as a test
/// runner's, do not reach it) reads lines from a pipe held by the owner: `pid <n>` after each
/// start names the postmaster to stop, `done` means the owner cleaned up itself. End of file
/// without `done` means the owner died: the watchdog then sends the postmaster SIGQUIT (an
/// immediate shutdown) if `postmaster.pid` still names it, waits for it to exit, and removes the
/// temporary folder, if any.
#[derive(Debug)]
struct Watchdog {
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
}

impl Watchdog {
    const SCRIPT: &'static str = r#"trap '' INT TERM HUP
pid=
while IFS= read -r line; do
  case "$line" in
    done) exit 0 ;;
    "pid "*) pid=${line#pid } ;;
  esac
done
remove=$1
pidfile=$2/postmaster.pid
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -f "$pidfile" ] && [ "$(head -n 1 "$pidfile")" = "$pid" ]; then
  kill -QUIT "$pid" 2>/dev/null
  n=0
  while [ -f "$pidfile" ] && [ "$n" -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
fi
if [ -n "$remove" ]; then rm -rf -- "$remove"; fi
"#;

    fn spawn(data_dir: &Path, remove: Option<&Path>) -> Result<Self, ClusterError> {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(Self::SCRIPT)
            .arg("keel-pg-watchdog")
            .arg(remove.map(Path::as_os_str).unwrap_or_default())
            .arg(data_dir)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child =
            cmd.spawn().map_err(io_err("starting the PostgreSQL watchdog (/bin/sh)"))?;
        let stdin = Mutex::new(child.stdin.take());
        Ok(Watchdog { child, stdin })
    }

    /// Sends the watchdog a line (a few bytes: the pipe never blocks on it).
    fn send(&self, line: &str) {
        let mut stdin = self.stdin.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pipe) = stdin.as_mut() {
            if let Err(e) = pipe.write_all(line.as_bytes()) {
                warn!(error = %e, "the PostgreSQL watchdog is gone");
            }
        }
    }

    /// Names the postmaster to stop if the owner dies.
    fn watch(&self, pid: u32) {
        self.send(&format!("pid {pid}\n"));
    }

    /// Tells the watchdog the owner cleaned up, and reaps it.
    fn disarm(mut self) {
        self.send("done\n");
        drop(self.stdin.get_mut().unwrap_or_else(PoisonError::into_inner).take());
        if let Err(e) = self.child.wait() {
            debug!(error = %e, "reaping the PostgreSQL watchdog failed");
        }
    }
}

/// Whether `dir` holds `initdb`, `pg_ctl` and `postgres`.
fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file())
}

/// `"15"` → (15, 0), `"9.6"` → (9, 6); anything else → None.
fn parse_version(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.splitn(2, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(minor) => minor.parse().ok()?,
        None => 0,
    };
    Some((major, minor))
}

/// Rejects paths `pg_ctl` cannot pass through its shell command line (it wraps `-D` and `-l` in
/// double quotes for `/bin/sh`).
fn check_path(path: &Path) -> Result<(), ClusterError> {
    let invalid = |reason: &str| ClusterError::InvalidPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let text = path.to_str().ok_or_else(|| invalid("not UTF-8"))?;
    if text.chars().any(|c| matches!(c, '"' | '$' | '`' | '\\' | '\n' | '\r')) {
        return Err(invalid("contains one of \" $ ` \\ or a line break"));
    }
    Ok(())
}

/// `text` single-quoted for `/bin/sh`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A loopback port that is free now and not handed out before by this process.
///
/// Another process can still take it before the server binds it; callers retry on
/// "Address already in use".
fn pick_free_port() -> Result<u16, ClusterError> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let mut last = 0;
    for _ in 0..64 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(io_err("binding 127.0.0.1:0 to find a free port"))?;
        let port = listener.local_addr().map_err(io_err("reading a bound port"))?.port();
        if handed_out.insert(port) {
            return Ok(port);
        }
        last = port;
    }
    // Every port the kernel offered was used before; one of them is as good as any.
    Ok(last)
}

/// Runs `cmd` to completion without blocking the runtime, capturing its output.
async fn run(cmd: Command, action: &str) -> Result<Output, ClusterError> {
    debug!(command = ?cmd, "running");
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.output().await.map_err(io_err(action))
}

/// The last lines of `log` written from byte `offset` on (empty if it cannot be read).
fn read_log_tail(log: &Path, offset: u64) -> String {
    let mut text = String::new();
    let read = std::fs::File::open(log).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(())
    });
    if let Err(e) = read {
        return format!("(cannot read {}: {e})", log.display());
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}
