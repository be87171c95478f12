//! Connecting to NATS the way the NATS CLI does: server URL, credentials file, nkey seed file,
//! user and password, token, TLS (CA, client certificate and key), and `--context NAME` reading
//! the CLI's context files (`$XDG_CONFIG_HOME/nats/context/NAME.json`, default `~/.config/...`),
//! so a responder reuses what is already set up. Flags win over the context's values.
//!
//! Secrets never leave this module: [`ConnectSpec`]'s `Debug` and [`redact_url`] hide them, and
//! errors name the server with its password removed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, ConnectOptions};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The default server when neither a flag, `NATS_URL` nor a context names one.
pub const DEFAULT_SERVER: &str = "nats://127.0.0.1:4222";

/// How to reach and authenticate to a server, after merging flags and context.
#[derive(Clone, Default)]
pub struct ConnectSpec {
    pub server: Option<String>,
    pub creds: Option<PathBuf>,
    pub nkey: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_first: bool,
    pub context: Option<String>,
    pub connect_timeout: Option<Duration>,
}

impl fmt::Debug for ConnectSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("ConnectSpec")
            .field("server", &self.server.as_deref().map(redact_url))
            .field("creds", &self.creds)
            .field("nkey", &self.nkey)
            .field("user", &self.user)
            .field("password", &hidden(&self.password))
            .field("token", &hidden(&self.token))
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("context", &self.context)
            .finish()
    }
}

/// The fields of a NATS CLI context file that the tool uses.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContextFile {
    url: String,
    user: String,
    password: String,
    creds: String,
    nkey: String,
    token: String,
    cert: String,
    key: String,
    ca: String,
    tls_first: bool,
}

fn context_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("nats").join("context"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/nats/context"))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Expands a leading `~/` the way the NATS CLI does for paths in context files.
fn expand_home(p: String) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

impl ConnectSpec {
    /// Fills unset fields from the named context file, if any.
    pub fn resolve_context(mut self) -> Result<Self> {
        let Some(name) = self.context.clone() else {
            return Ok(self);
        };
        let path = if name.ends_with(".json") || name.contains('/') {
            PathBuf::from(&name)
        } else {
            context_dir()
                .ok_or_else(|| Error::Usage("cannot locate the NATS context folder".into()))?
                .join(format!("{name}.json"))
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Usage(format!(
                "cannot read NATS context {name:?} ({}): {e}",
                path.display()
            ))
        })?;
        let ctx: ContextFile = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "NATS context {} is not valid JSON: {e}",
                path.display()
            ))
        })?;
        self.server = self.server.or(non_empty(ctx.url));
        self.creds = self.creds.or(non_empty(ctx.creds).map(expand_home));
        self.nkey = self.nkey.or(non_empty(ctx.nkey).map(expand_home));
        self.user = self.user.or(non_empty(ctx.user));
        self.password = self.password.or(non_empty(ctx.password));
        self.token = self.token.or(non_empty(ctx.token));
        self.tls_cert = self.tls_cert.or(non_empty(ctx.cert).map(expand_home));
        self.tls_key = self.tls_key.or(non_empty(ctx.key).map(expand_home));
        self.tls_ca = self.tls_ca.or(non_empty(ctx.ca).map(expand_home));
        self.tls_first |= ctx.tls_first;
        Ok(self)
    }

    /// The server URL(s) to dial.
    pub fn server(&self) -> String {
        self.server
            .clone()
            .unwrap_or_else(|| DEFAULT_SERVER.to_string())
    }

    async fn options(&self) -> Result<ConnectOptions> {
        let mut opts = ConnectOptions::new()
            .name(concat!("jsreplay/", env!("CARGO_PKG_VERSION")))
            .connection_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(5)))
            .request_timeout(Some(Duration::from_secs(10)))
            // Replies to direct gets and pulls can arrive in bursts: keep them all.
            .subscription_capacity(1 << 20);
        if let Some(creds) = &self.creds {
            opts = opts.credentials_file(creds).await.map_err(|e| {
                Error::Usage(format!(
                    "cannot use credentials file {}: {e}",
                    creds.display()
                ))
            })?;
        }
        if let Some(path) = &self.nkey {
            opts = opts.nkey(read_nkey_seed(path)?);
        }
        match (&self.user, &self.password) {
            (Some(u), p) => opts = opts.user_and_password(u.clone(), p.clone().unwrap_or_default()),
            (None, Some(_)) => return Err(Error::Usage("--password needs --user".into())),
            (None, None) => {}
        }
        if let Some(t) = &self.token {
            opts = opts.token(t.clone());
        }
        if let Some(ca) = &self.tls_ca {
            require_file(ca, "--tlsca")?;
            opts = opts.add_root_certificates(ca.clone()).require_tls(true);
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => {
                require_file(c, "--tlscert")?;
                require_file(k, "--tlskey")?;
                opts = opts
                    .add_client_certificate(c.clone(), k.clone())
                    .require_tls(true);
            }
            (None, None) => {}
            _ => return Err(Error::Usage("--tlscert and --tlskey go together".into())),
        }
        if self.tls_first {
            opts = opts.tls_first();
        }
        Ok(opts)
    }

    /// Connects, failing fast with a clear reason when the server is down or refuses us.
    pub async fn connect(&self) -> Result<Client> {
        let server = self.server();
        // async-nats ignores credentials inside URLs; the NATS CLI honours them, and so do we.
        let (clean, userinfo) = split_userinfo(&server);
        let mut spec = self.clone();
        if let Some((user, pass)) = userinfo {
            match pass {
                _ if spec.user.is_some() || spec.token.is_some() => {}
                Some(p) => {
                    spec.user = Some(user);
                    spec.password = Some(p);
                }
                None => spec.token = Some(user),
            }
        }
        let opts = spec.options().await?;
        let server = clean;
        // A comma-separated list, as the NATS CLI takes it (async-nats parses one URL per entry).
        let addrs = server
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<async_nats::ServerAddr>()
                    .map_err(|e| Error::Connect {
                        server: redact_url(s),
                        reason: format!("bad server address: {e}"),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        opts.connect(addrs.as_slice()).await.map_err(|e| {
            let reason = match e.kind() {
                ConnectErrorKind::AuthorizationViolation => {
                    "authorization violation (wrong or missing credentials)".to_string()
                }
                ConnectErrorKind::TimedOut => "timed out".to_string(),
                ConnectErrorKind::Tls => format!("TLS failed: {e}"),
                ConnectErrorKind::ServerParse => format!("bad server address: {e}"),
                _ => e.to_string(),
            };
            Error::Connect {
                server: redact_url(&server),
                reason,
            }
        })
    }
}

fn require_file(p: &Path, flag: &str) -> Result<()> {
    if p.is_file() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{flag}: no such file {}",
            p.display()
        )))
    }
}

/// Reads a user nkey seed (`SU…`) from a seed file as `nsc` and `nk` write them.
fn read_nkey_seed(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read nkey file {}: {e}", path.display())))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("SU"))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} holds no user nkey seed (a line starting with SU)",
                path.display()
            ))
        })
}

/// Removes `user:password@` (or `token@`) from each URL; returns the first credentials found.
fn split_userinfo(urls: &str) -> (String, Option<(String, Option<String>)>) {
    let mut found = None;
    let clean: Vec<String> = urls
        .split(',')
        .map(|one| {
            let (scheme, rest) = match one.split_once("://") {
                Some((s, r)) => (format!("{s}://"), r),
                None => (String::new(), one),
            };
            match rest.rsplit_once('@') {
                Some((auth, host)) => {
                    if found.is_none() {
                        found = Some(match auth.split_once(':') {
                            Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
                            None => (percent_decode(auth), None),
                        });
                    }
                    format!("{scheme}{host}")
                }
                None => one.to_string(),
            }
        })
        .collect();
    (clean.join(","), found)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `nats://user:secret@host:4222` -> `nats://user:***@host:4222`; a lone token becomes `***`.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let (scheme, rest) = match one.split_once("://") {
                Some((s, r)) => (format!("{s}://"), r),
                None => (String::new(), one),
            };
            match rest.rsplit_once('@') {
                Some((auth, host)) => match auth.split_once(':') {
                    Some((user, _)) => format!("{scheme}{user}:***@{host}"),
                    None => format!("{scheme}***@{host}"),
                },
                None => one.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(redact_url("nats://a:b@h:1"), "nats://a:***@h:1");
        assert_eq!(redact_url("nats://tok@h:1"), "nats://***@h:1");
        assert_eq!(
            redact_url("nats://h:1,tls://u:p@x"),
            "nats://h:1,tls://u:***@x"
        );
        let spec = ConnectSpec {
            password: Some("hunter2".into()),
            token: Some("s3cret".into()),
            ..Default::default()
        };
        assert_eq!(
            split_userinfo("nats://u:p%40ss@h:1,nats://h2:2"),
            (
                "nats://h:1,nats://h2:2".to_string(),
                Some(("u".into(), Some("p@ss".into())))
            )
        );
        assert_eq!(split_userinfo("tok@h:1").1, Some(("tok".into(), None)));
        let dbg = format!("{spec:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("s3cret"));
    }
}
