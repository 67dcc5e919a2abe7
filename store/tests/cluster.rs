//! Tests of the embedded PostgreSQL cluster against the machine's real server binaries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_store::cluster::{ClusterError, PgCluster};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// Set (to a file path) only in the helper process of the watchdog tests: where it reports.
const CHILD_OUT_ENV: &str = "KEEL_CLUSTER_TEST_CHILD_OUT";
/// Set in the helper process to make it use `start_in` on this folder.
const CHILD_DIR_ENV: &str = "KEEL_CLUSTER_TEST_CHILD_DIR";

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .expect("connects")
}

async fn can_connect(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

/// Polls `check` every 100 ms for up to `limit`.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

/// A parent folder for `start_in`, traversable by the server's OS user when we are root.
fn traversable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("keel-pg-test-").tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[test]
fn test_find_bin_dir_has_server_binaries_succeeds() {
    let bin = PgCluster::find_bin_dir().expect("finds the binaries");
    for binary in ["initdb", "pg_ctl", "postgres"] {
        assert!(bin.join(binary).is_file(), "{} has no {binary}", bin.display());
    }
}

#[tokio::test]
async fn test_start_temp_create_database_and_query_succeeds() {
    let cluster = PgCluster::start_temp().await.expect("starts");
    assert!(cluster.is_ready().await);
    assert_ne!(cluster.port(), 0);

    let url = cluster.create_database("keel_app").await.expect("creates");
    assert_eq!(url, format!("postgres://keel@127.0.0.1:{}/keel_app", cluster.port()));
    assert_eq!(url, cluster.url("keel_app"));
    // Idempotent.
    assert_eq!(cluster.create_database("keel_app").await.expect("exists already"), url);

    let pool = pool(&url).await;
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.expect("selects");
    assert_eq!(one, 1);
    let (db, fsync): (String, String) =
        sqlx::query_as("SELECT current_database(), current_setting('fsync')")
            .fetch_one(&pool)
            .await
            .expect("selects");
    assert_eq!(db, "keel_app");
    assert_eq!(fsync, "on", "durability must stay real");
    pool.close().await;
}

#[tokio::test]
async fn test_create_database_concurrent_same_name_succeeds() {
    let cluster = PgCluster::start_temp().await.expect("starts");
    let (a, b, c) = tokio::join!(
        cluster.create_database("same"),
        cluster.create_database("same"),
        cluster.create_database("same"),
    );
    let url = a.expect("a");
    assert_eq!(b.expect("b"), url);
    assert_eq!(c.expect("c"), url);
    assert!(can_connect(&url).await);
}

#[tokio::test]
async fn test_start_temp_two_clusters_at_once_succeeds() {
    let (a, b) = tokio::join!(PgCluster::start_temp(), PgCluster::start_temp());
    let (a, b) = (a.expect("a starts"), b.expect("b starts"));
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());

    let pool_a = pool(&a.url("postgres")).await;
    let pool_b = pool(&b.url("postgres")).await;
    sqlx::query("CREATE TABLE only_in_a (x int)").execute(&pool_a).await.expect("creates");
    let in_a: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_in_a')::text")
        .fetch_one(&pool_a)
        .await
        .expect("selects");
    let in_b: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_in_a')::text")
        .fetch_one(&pool_b)
        .await
        .expect("selects");
    assert_eq!(in_a.as_deref(), Some("only_in_a"));
    assert_eq!(in_b, None, "the clusters are separate");
}

#[tokio::test]
async fn test_stop_then_start_keeps_data_succeeds() {
    let cluster = PgCluster::start_temp().await.expect("starts");
    let url = cluster.create_database("restart").await.expect("creates");
    let pool = pool(&url).await;
    sqlx::query("CREATE TABLE t (id bigint PRIMARY KEY, note text NOT NULL)")
        .execute(&pool)
        .await
        .expect("creates");
    sqlx::query("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
        .execute(&pool)
        .await
        .expect("inserts");

    cluster.stop().await.expect("stops");
    assert!(!cluster.is_ready().await);
    assert!(!can_connect(&url).await, "connections fail while stopped");
    cluster.stop().await.expect("stopping a stopped server is fine");

    cluster.start().await.expect("starts again");
    assert!(cluster.is_ready().await);
    cluster.start().await.expect("starting a running server is fine");
    let port_after = cluster.port();
    assert_eq!(cluster.url("restart"), url, "same port ({port_after}), same URL");

    // The pool made before the restart recovers by itself.
    let notes: Vec<String> = sqlx::query_scalar("SELECT note FROM t ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("reads after restart");
    assert_eq!(notes, ["one", "two"]);
}

#[tokio::test]
async fn test_drop_temp_cluster_removes_it_succeeds() {
    let cluster = PgCluster::start_temp().await.expect("starts");
    let url = cluster.url("postgres");
    let data_dir = cluster.data_dir().to_owned();
    let folder = data_dir.parent().expect("temp folder").to_owned();
    assert!(data_dir.join("PG_VERSION").is_file());
    drop(cluster);
    assert!(!folder.exists(), "{} deleted", folder.display());
    assert!(!can_connect(&url).await, "server stopped");
}

#[tokio::test]
async fn test_start_in_reuses_existing_dir_succeeds() {
    let parent = traversable_tempdir();
    let dir = parent.path().join("pg");

    let cluster = PgCluster::start_in(&dir, 0).await.expect("initdb and start");
    let url = cluster.create_database("kept").await.expect("creates");
    {
        let pool = pool(&url).await;
        sqlx::query("CREATE TABLE kept (v text)").execute(&pool).await.expect("creates");
        sqlx::query("INSERT INTO kept VALUES ('survives')").execute(&pool).await.expect("inserts");
        pool.close().await;
    }
    drop(cluster);
    assert!(dir.join("PG_VERSION").is_file(), "data kept after drop");
    assert!(!can_connect(&url).await, "stopped on drop");

    let cluster = PgCluster::start_in(&dir, 0).await.expect("reuses");
    assert_eq!(
        cluster.data_dir(),
        std::fs::canonicalize(&dir).expect("canonical").as_path(),
        "same data directory"
    );
    let url = cluster.create_database("kept").await.expect("exists already");
    let pool = pool(&url).await;
    let v: String = sqlx::query_scalar("SELECT v FROM kept").fetch_one(&pool).await.expect("reads");
    assert_eq!(v, "survives");
}

#[tokio::test]
async fn test_start_in_explicit_port_succeeds() {
    let parent = traversable_tempdir();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        listener.local_addr().expect("addr").port()
    };
    let cluster = PgCluster::start_in(&parent.path().join("pg"), port).await.expect("starts");
    assert_eq!(cluster.port(), port);
    assert!(cluster.is_ready().await);
}

#[tokio::test]
async fn test_start_in_busy_port_reverts() {
    let parent = traversable_tempdir();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = busy.local_addr().expect("addr").port();
    match PgCluster::start_in(&parent.path().join("pg"), port).await {
        Err(ClusterError::StartFailed { port: failed_port, log_tail, .. }) => {
            assert_eq!(failed_port, port);
            assert!(log_tail.contains("Address already in use"), "log tail: {log_tail}");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    drop(busy);
}

#[tokio::test]
async fn test_start_in_non_cluster_dir_reverts() {
    let parent = traversable_tempdir();
    std::fs::write(parent.path().join("unrelated.txt"), b"not a cluster").expect("writes");
    match PgCluster::start_in(parent.path(), 0).await {
        Err(ClusterError::NotADataDir { .. }) => {}
        other => panic!("expected NotADataDir, got {other:?}"),
    }
}

#[tokio::test]
async fn test_create_database_invalid_name_reverts() {
    let cluster = PgCluster::start_temp().await.expect("starts");
    let too_long = "a".repeat(64);
    for name in ["", "Upper", "with-dash", "semi;colon", "sp ace", "quo\"te", too_long.as_str()] {
        match cluster.create_database(name).await {
            Err(ClusterError::InvalidDatabaseName { name: rejected }) => assert_eq!(rejected, name),
            other => panic!("{name:?} should be rejected, got {other:?}"),
        }
    }
    let longest = "a".repeat(63);
    cluster.create_database(&longest).await.expect("63 characters are fine");
    cluster.create_database("0_digits_first_9").await.expect("digits are fine");
}

/// The helper process of the watchdog tests: starts a cluster (in `$KEEL_CLUSTER_TEST_CHILD_DIR`
/// if set, else a temporary one), reports its port and data directory, and waits to be killed.
/// Does nothing when run on its own.
#[tokio::test]
#[ignore = "helper process for the watchdog tests"]
async fn helper_owner_process() {
    let Some(out) = std::env::var_os(CHILD_OUT_ENV) else { return };
    let cluster = match std::env::var_os(CHILD_DIR_ENV) {
        Some(dir) => PgCluster::start_in(Path::new(&dir), 0).await.expect("starts in dir"),
        None => PgCluster::start_temp().await.expect("starts"),
    };
    let report = format!("{}\n{}\n", cluster.port(), cluster.data_dir().display());
    let out = PathBuf::from(out);
    let partial = out.with_extension("partial");
    std::fs::write(&partial, report).expect("writes");
    std::fs::rename(&partial, &out).expect("renames");
    tokio::time::sleep(Duration::from_secs(300)).await;
}

/// A helper process owning a cluster (see `helper_owner_process`), with its port and data dir.
struct Helper {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Helper {
    async fn spawn(dir: Option<&Path>) -> Helper {
        let scratch = tempfile::tempdir().expect("tempdir");
        let out = scratch.path().join("cluster.txt");
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        cmd.args(["helper_owner_process", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_OUT_ENV, &out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(dir) = dir {
            cmd.env(CHILD_DIR_ENV, dir);
        }
        let mut child = cmd.spawn().expect("spawns the helper");
        if !eventually(Duration::from_secs(60), || out.exists()).await {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the helper never reported its cluster");
        }
        let report = std::fs::read_to_string(&out).expect("reads");
        let mut lines = report.lines();
        let port = lines.next().expect("port").parse().expect("number");
        let data_dir = PathBuf::from(lines.next().expect("data dir"));
        Helper { child, port, data_dir, _scratch: scratch }
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://keel@127.0.0.1:{}/{database}", self.port)
    }

    /// `kill -9`.
    fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaps");
    }
}

#[tokio::test]
async fn test_watchdog_owner_killed_succeeds() {
    let helper = Helper::spawn(None).await;
    let url = helper.url("postgres");
    let folder = helper.data_dir.parent().expect("temp folder").to_owned();
    assert!(can_connect(&url).await, "the helper's cluster runs");

    helper.kill();
    assert!(
        eventually(Duration::from_secs(30), || !folder.exists()).await,
        "the watchdog deletes {}",
        folder.display()
    );
    assert!(!can_connect(&url).await, "the watchdog stopped the server");
}

#[tokio::test]
async fn test_start_in_right_after_owner_killed_succeeds() {
    let parent = traversable_tempdir();
    let dir = parent.path().join("pg");
    let helper = Helper::spawn(Some(&dir)).await;
    {
        let pool = pool(&helper.url("postgres")).await;
        sqlx::query("CREATE TABLE acked (n int)").execute(&pool).await.expect("creates");
        sqlx::query("INSERT INTO acked SELECT generate_series(1, 1000)")
            .execute(&pool)
            .await
            .expect("inserts");
        pool.close().await;
    }

    // A restarted owner takes the data directory over at once, racing the old owner's watchdog.
    helper.kill();
    let cluster = PgCluster::start_in(&dir, 0).await.expect("starts after kill -9");
    let pool = pool(&cluster.url("postgres")).await;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM acked").fetch_one(&pool).await.expect("reads");
    assert_eq!(count, 1000, "committed rows survive");

    // The old owner's watchdog must not stop the new owner's server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cluster.is_ready().await, "the new server still runs");
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM acked").fetch_one(&pool).await.expect("reads");
    assert_eq!(count, 1000);
}
