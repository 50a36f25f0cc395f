//! A PostgreSQL cluster of a test's own (`initdb`, `pg_ctl`, a free port), for tests that stop
//! the database: the machine's own server on 5432 is never touched. As root (CI), the cluster
//! runs as the `postgres` user. Stopped and removed when dropped.

use super::*;

pub(super) struct OwnPostgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path()).collect();
    versions.sort();
    versions.into_iter().rev().map(|v| v.join("bin")).find(|b| b.join("initdb").exists())
}

fn as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl OwnPostgres {
    /// A running cluster with a database `tessera`; `None` where PostgreSQL's programs are
    /// missing (never under CI=true, where scripts/test installs them).
    pub fn start() -> Option<OwnPostgres> {
        let Some(bin) = postgres_bin() else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "initdb is required under CI=true");
            eprintln!("skipping: PostgreSQL's programs (initdb, pg_ctl) are not installed");
            return None;
        };
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tessera-own-pg-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = OwnPostgres { dir, bin, port };
        if as_root() {
            assert!(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&pg.dir).status().unwrap().success());
        }
        let data = pg.dir.join("data");
        pg.run("initdb", &["-D", &data.display().to_string(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        pg.start_again();
        pg.run("createdb", &["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "tessera"]);
        Some(pg)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command.args(args).current_dir(&self.dir).output().unwrap();
        assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/tessera", self.port)
    }

    /// Starts (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let data = self.dir.join("data").display().to_string();
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, self.dir.display());
        let log = self.dir.join("log").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-o", &options, "-l", &log, "-w", "start"]);
    }

    /// Stops at once (`-m fast`: sessions cut, as when the database goes away).
    pub fn stop(&self) {
        let data = self.dir.join("data").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let path = self.bin.join("pg_ctl");
        let mut command = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = command.args(["-D", &data, "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
