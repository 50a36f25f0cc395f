//! The Debian package (issue 21), built by `scripts/package-deb` from this build's binary:
//! its unit is hardened as the README says and `systemd-analyze verify` finds nothing to say;
//! installed with `dpkg -i` (as root, which CI is), it makes its own user and a 0700 data
//! directory, and the installed binary serves `/healthz` as that user with the packaged
//! configuration; removed, it leaves the data (the master key) behind, and purged, its
//! configuration goes. Not root (a developer's machine): the package is unpacked into a scratch
//! directory and its binary and configuration are run from there instead.

use super::*;

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn is_root() -> bool {
    run("id", &["-u"]).stdout.starts_with(b"0\n")
}

fn wait_for_health(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/healthz", None).map(|(status, _)| status) != Some(200) {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("the packaged tessera exited ({status}): {stderr}");
        }
        assert!(Instant::now() < deadline, "no /healthz on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM; its stderr.
fn stop(child: Child) -> String {
    run("kill", &["-TERM", &child.id().to_string()]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "SIGTERM drains and exits 0");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_debian_package_installs_a_hardened_service_that_serves_and_leaves_its_data_when_removed() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scratch = tempfile::tempdir().unwrap();
    let built = Command::new(workspace.join("scripts/package-deb"))
        .args(["--binary", env!("CARGO_BIN_EXE_tessera"), "--out"])
        .arg(scratch.path())
        .env("TESSERA_DEB_COMPRESSION", "gzip")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let deb = String::from_utf8(built.stdout).unwrap().trim().to_string();
    assert!(deb.ends_with(".deb"), "{deb}");

    // What it holds, as dpkg-deb reads it.
    let contents = String::from_utf8(run("dpkg-deb", &["-c", &deb]).stdout).unwrap();
    for (mode, path) in [
        ("-rwxr-xr-x root/root", "./usr/bin/tessera"),
        ("-rw-r--r-- root/root", "./usr/lib/systemd/system/tessera.service"),
        ("-rw-r----- root/root", "./etc/tessera/tessera.toml"),
        ("-rw-r--r-- root/root", "./usr/share/doc/tessera/configuration.md"),
    ] {
        assert!(contents.lines().any(|l| l.starts_with(mode) && l.ends_with(path)), "{mode} {path} in:\n{contents}");
    }
    let conffiles = String::from_utf8(run("dpkg-deb", &["-I", &deb, "conffiles"]).stdout).unwrap();
    assert_eq!(conffiles.trim(), "/etc/tessera/tessera.toml");
    let unpacked = scratch.path().join("root");
    run("dpkg-deb", &["-x", &deb, unpacked.to_str().unwrap()]);
    let unit = std::fs::read_to_string(unpacked.join("usr/lib/systemd/system/tessera.service")).unwrap();
    for line in [
        "User=tessera",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/tessera",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "Restart=on-failure",
        "StateDirectoryMode=0700",
        "ExecStart=/usr/bin/tessera serve",
        "Environment=TESSERA_CONFIG=/etc/tessera/tessera.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit says {line:?}");
    }
    let config = std::fs::read_to_string(unpacked.join("etc/tessera/tessera.toml")).unwrap();
    assert!(config.contains("\ndata_dir = \"/var/lib/tessera\"\n"));
    assert!(config.contains("#session_idle_minutes = 60"), "every key, commented");

    if !is_root() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI runs as root and installs the package");
        eprintln!("not root: running the unpacked package instead of installing it");
        let data = scratch.path().join("data");
        let port = free_port();
        let mut child = Command::new(unpacked.join("usr/bin/tessera"))
            .args(["--config", unpacked.join("etc/tessera/tessera.toml").to_str().unwrap(), "serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env("TESSERA_DATA_DIR", &data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_health(port, &mut child);
        stop(child);
        return;
    }

    // Installed on this machine; everything it adds is taken away again, also on failure.
    let data = Path::new("/var/lib/tessera");
    let _cleanup = Uninstall {
        had_user: Command::new("getent").args(["passwd", "tessera"]).output().unwrap().status.success(),
        had_data: data.exists(),
    };
    run("dpkg", &["-i", &deb]);
    let mode = |path: &str| {
        let out = run("stat", &["-c", "%a %U:%G", path]);
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(mode("/var/lib/tessera"), "700 tessera:tessera");
    assert_eq!(mode("/etc/tessera/tessera.toml"), "640 root:tessera");
    assert_eq!(mode("/usr/bin/tessera"), "755 root:root");
    if Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let verified = Command::new("systemd-analyze")
            .args(["verify", "/usr/lib/systemd/system/tessera.service"])
            .output()
            .unwrap();
        let said =
            format!("{}{}", String::from_utf8_lossy(&verified.stdout), String::from_utf8_lossy(&verified.stderr));
        assert!(verified.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    } else {
        eprintln!("systemd-analyze is not installed: the unit is not verified");
    }

    // setpriv execs (runuser would stay the parent, and die of the signal meant for tessera).
    let as_service = ["--reuid=tessera", "--regid=tessera", "--init-groups", "--"];
    // The first administrator, made before the first start as the README says: then no
    // one-time password is printed (into the journal).
    let mut add = Command::new("setpriv")
        .args(as_service)
        .args(["env", "TESSERA_CONFIG=/etc/tessera/tessera.toml", "/usr/bin/tessera", "admin", "add", "alice"])
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"Adm1n-passw0rd-long-enough\n").unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    // What the unit runs, as the unit's user (no systemd to start it in a container).
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new("setpriv")
        .args(as_service)
        .args(["env", "TESSERA_CONFIG=/etc/tessera/tessera.toml", "/usr/bin/tessera", "serve"])
        .args(["--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_health(port, &mut child);
    let stderr = stop(child);
    assert!(!stderr.contains("one-time password"), "{stderr}");
    assert_eq!(mode("/var/lib/tessera/master.key"), "600 tessera:tessera");
    // An operator's command, as the service's user, against the packaged configuration.
    let mut status = as_service.to_vec();
    status.extend(["env", "TESSERA_CONFIG=/etc/tessera/tessera.toml", "/usr/bin/tessera", "migrate", "status"]);
    let users = run("setpriv", &status);
    assert!(String::from_utf8_lossy(&users.stdout).contains("0 pending"));

    run("dpkg", &["-r", "tessera"]);
    assert!(!Path::new("/usr/bin/tessera").exists());
    assert!(data.join("master.key").exists(), "removing the package keeps the data and the master key");
    assert!(Path::new("/etc/tessera/tessera.toml").exists(), "remove keeps the configuration");
    run("dpkg", &["-P", "tessera"]);
    assert!(!Path::new("/etc/tessera").exists(), "purge takes the configuration");
    assert!(data.join("master.key").exists(), "purge keeps the data");
}

/// Purges the package, and removes the data directory and user it made where there were none.
struct Uninstall {
    had_user: bool,
    had_data: bool,
}

impl Drop for Uninstall {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-P", "tessera"]).output();
        if !self.had_data {
            let _ = std::fs::remove_dir_all("/var/lib/tessera");
        }
        if !self.had_user {
            let _ = Command::new("deluser").args(["--system", "--quiet", "tessera"]).output();
        }
    }
}
