//! Starts a real `redis-server` on 127.0.0.1 with a free port, no persistence, and stops it on drop.
//! `restart` keeps the port, so clients can prove they reconnect.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, ErrorKind, Result};

/// A `redis-server` child process owned by this value.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port. The binary is `$TRINITY_REDIS_SERVER`, else `redis-server` on PATH.
    pub fn start() -> Result<Self> {
        let binary = find_binary()?;
        let mut last = None;
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..5 {
            let mut server = RedisServer {
                binary: binary.clone(),
                port: free_port()?,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::internal("redis-server did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (all data is lost) and starts a new one on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Kills the server; the port stays reserved for `restart`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one inline command (e.g. `SCRIPT FLUSH`) and returns the raw reply line.
    pub fn command(&self, line: &str) -> Result<String> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| Error::io("redis", e))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| Error::io("redis", e))?;
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| Error::io("redis", e))?;
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).map_err(|e| Error::io("redis", e))?;
        Ok(String::from_utf8_lossy(&buf[..n]).trim_end().to_string())
    }

    fn spawn(&mut self) -> Result<()> {
        let mut child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io("starting redis-server", e))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("redis-server exited at start: {status}"),
                ));
            }
            self.child = Some(child);
            if self.command("PING").map(|r| r == "+PONG").unwrap_or(false) {
                return Ok(());
            }
            child = self.child.take().expect("just set");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(Error::new(
            ErrorKind::Timeout,
            "redis-server did not answer PING within 10 s",
        ))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("TRINITY_REDIS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::not_found("redis-server not found: install it (apt-get install redis-server) or set TRINITY_REDIS_SERVER")
        })
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("probing a free port", e))?;
    Ok(listener
        .local_addr()
        .map_err(|e| Error::io("probing a free port", e))?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_restarts_and_stops() {
        let mut server = RedisServer::start().expect("redis-server installed by `make setup`");
        assert_eq!(server.command("SET k v").unwrap(), "+OK");
        server.restart().unwrap();
        assert_eq!(
            server.command("GET k").unwrap(),
            "$-1",
            "a restart loses the data"
        );
        let port = server.port();
        drop(server);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "stopped on drop"
        );
    }
}
