//! The `datamin` binary: a closed pipe is a quiet end, and errors read as `error: <message>`
//! without DataFusion's category prefixes.

use std::io::Read;
use std::process::{Command, Output, Stdio};

const KEY: &str = "cli-test-secret-0123456789abcdef";

/// `datamin` with a fresh `DATAMIN_HOME` (no default keyring of the user's) and a key.
fn datamin(home: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_datamin"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATAMIN_HOME", home)
        .env("DATAMIN_KEY", KEY)
        .env_remove("DATAMIN_KEY_FILE")
        .env_remove("DATAMIN_LOG");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `args`, reads a few bytes of stdout, closes it and waits.
fn closed_pipe(home: &std::path::Path, args: &[&str]) -> Output {
    let mut child = datamin(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let home = tempfile::tempdir().unwrap();
    // far more than a pipe's buffer, so that writing hits the closed pipe
    for args in [
        &["sql", "SELECT * FROM range(200000)"][..],
        &["sql", "--format", "csv", "SELECT * FROM range(200000)"][..],
    ] {
        let o = closed_pipe(home.path(), args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

#[test]
fn a_missing_input_names_the_path_without_engine_prefixes() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let o = datamin(home.path())
        .args([
            "run",
            "-p",
            "examples/research.toml",
            "-i",
            "/nonexistent/x",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("/nonexistent/x"), "{err}");
    for prefix in [
        "Invalid or Unsupported Configuration",
        "Error during planning",
        "Execution error",
        "External error",
    ] {
        assert!(!err.contains(prefix), "{err}");
    }
}

#[test]
fn a_bad_policy_names_file_line_column_and_key() {
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("bad.toml");
    std::fs::write(
        &policy,
        "version = 1\n[tables.records]\nkeep = [\"nope\"]\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    for args in [
        vec!["explain", "-p", p],
        vec!["run", "-p", p, "-i", "testdata", "-o", "/nonexistent/out"],
    ] {
        let o = datamin(home.path()).args(&args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with(&format!(
                "error: {p}:3:9: tables.records.keep: unknown column 'nope'"
            )),
            "{err}"
        );
    }
}

#[test]
fn sql_errors_have_no_engine_prefix() {
    let home = tempfile::tempdir().unwrap();
    let o = datamin(home.path())
        .args(["sql", "SELECT nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "error: No field named nope.\n");
}
