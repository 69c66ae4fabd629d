//! Helpers shared by the process tests: run the `diffver` binary with a clean
//! environment, wait for a server to listen, read its output lines.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) fn diffver() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diffver"));
    for (k, _) in std::env::vars() {
        if k.starts_with("DIFFVER_") || k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn");
    c
}

/// A server process, killed on drop; its stdout and stderr lines arrive on channels.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) out: mpsc::Receiver<String>,
    pub(crate) err: mpsc::Receiver<String>,
    pub(crate) addr: Option<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

pub(crate) fn spawn(mut cmd: Command, serving: bool) -> Proc {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn diffver");
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let mut p = Proc {
        child,
        out,
        err,
        addr: None,
    };
    if serving {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = p
                .err
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the server did not start: {:?}", p.child.try_wait()));
            if let Some(rest) = line.strip_prefix("diffver: listening on http://") {
                p.addr = Some(rest.split_whitespace().next().unwrap().to_owned());
                break;
            }
        }
    }
    p
}

pub(crate) fn url(p: &Proc, path: &str) -> String {
    format!("http://{}{path}", p.addr.as_ref().unwrap())
}
