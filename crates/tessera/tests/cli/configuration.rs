//! The configuration (issue 21): the TOML file sets every global and `serve` setting below the
//! environment and the flags; bad keys and values are refused naming the file, before anything
//! is created; the reference in `docs/configuration.md` is what the binary prints.

use super::*;

fn write_config(env: &Env, text: &str) -> PathBuf {
    let path = env.dir.path().join("tessera.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_configuration_reference_in_docs_is_the_binarys() {
    let env = Env::sqlite();
    let printed = env.ok(&["config", "reference"]);
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let committed = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        printed == committed,
        "docs/configuration.md differs from `tessera config reference`: run\n  \
         cargo run -q -p tessera -- config reference > docs/configuration.md"
    );
    // Every flag of `serve` is in it, with its environment variable.
    for setting in ["`--listen ADDR`", "`TESSERA_LISTEN`", "`trusted_proxy`", "`TESSERA_SESSION_IDLE_MINUTES`"] {
        assert!(printed.contains(setting), "{setting}");
    }
    assert!(!env.data_dir().exists(), "printing the reference touches no data directory");
}

#[test]
fn the_file_sets_serve_below_the_environment_and_the_flags() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    let (from_file, from_env, from_flag) = (free_port(), free_port(), free_port());
    let example = env.ok(&["config", "example"]);
    let config = write_config(
        &env,
        &format!(
            "{example}\nlisten = \"127.0.0.1:{from_file}\"\npublic_url = \"https://idp.contoso.test\"\n\
             trusted_proxy = [\"10.0.0.0/8\", \"192.0.2.1\"]\nsession_idle_minutes = 15\nadmin_mfa = \"optional\"\n"
        ),
    );
    let config = config.to_str().unwrap();
    let start = |mut command: Command, port: u16| {
        let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(port, "/healthz", None).is_none() {
            assert!(Instant::now() < deadline, "no answer on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    };
    // The file's listen and public URL.
    let server = start(env.command(&["serve", "--config", config]), from_file);
    let metadata = env.ok(&["app", "metadata", "M365"]);
    assert!(metadata.contains("https://idp.contoso.test/"), "the file's public_url");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    // The environment over the file, the flag over both.
    let mut command = env.command(&["serve", "--config", config]);
    command.env("TESSERA_LISTEN", format!("127.0.0.1:{from_env}"));
    let server = start(command, from_env);
    assert!(http_get(from_file, "/healthz", None).is_none());
    server.terminate();
    let listen = format!("127.0.0.1:{from_flag}");
    let mut command = env.command(&["--config", config, "serve", "--listen", &listen]);
    command.env("TESSERA_LISTEN", format!("127.0.0.1:{from_env}"));
    let server = start(command, from_flag);
    server.terminate();
    // Keys of `serve` are ignored by the other commands, not refused.
    env.ok(&["user", "list", "--config", config]);
}

#[test]
fn a_bad_configuration_file_is_refused_naming_it_before_anything_is_created() {
    let env = Env::sqlite();
    let cases = [
        ("colour = \"blue\"\n", "unknown key \"colour\""),
        ("session_idle_minutes = \"ten\"\n", "session_idle_minutes must be a whole number"),
        ("listen = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n", "listen must be one value, not a list"),
        ("data_dir = 5\n", "data_dir must be a string"),
        ("admin_mfa = \"sometimes\"\n", "'sometimes'"),
        ("json = true\n", "unknown key \"json\""),
        ("listen = \n", "not valid"),
    ];
    for (text, expected) in cases {
        let config = write_config(&env, text);
        let error = env.fails(&["serve", "--config", config.to_str().unwrap()], 1);
        assert!(error.contains(expected), "{text:?}: expected {expected:?} in {error}");
        assert!(error.contains("tessera.toml"), "names the file: {error}");
        assert_eq!(error.trim().lines().count(), 1, "{error}");
        assert!(!env.data_dir().exists(), "{text:?} created the data directory");
    }
    let error = env.fails(&["serve", "--config", env.dir.path().join("missing.toml").to_str().unwrap()], 1);
    assert!(error.contains("cannot read config file"), "{error}");

    // A flag that needs another the file gives is taken with it (then the missing files are
    // what is wrong); bad usage stays clap's, exit 2.
    let config = write_config(&env, "tls_key = \"/nonexistent/key.pem\"\n");
    let config = config.to_str().unwrap();
    let error = env.fails(&["serve", "--config", config, "--tls-cert", "/nonexistent/cert.pem"], 1);
    assert!(error.contains("/nonexistent/cert.pem"), "{error}");
    env.fails(&["serve", "--config", config, "--no-such-flag"], 2);
    env.fails(&["--config", config, "no-such-command"], 2);
    assert!(!env.data_dir().exists());
}
