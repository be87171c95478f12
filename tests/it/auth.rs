//! Every way of authenticating, against a server configured for it: user/password, token, nkey,
//! credentials file (operator/JWT mode), TLS with client certificates, and NATS CLI contexts.
//! Wrong credentials give exit code 3; secrets never appear in output or in the manifest.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine;

use crate::both_servers;
use crate::util::*;

fn fixture(name: &str) -> String {
    repo_root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[String], env: &[(&str, &Path)]) -> Output {
    env.iter()
        .fold(Run::new(args), |run, (k, v)| run.env(k, v))
        .output()
}

/// Loads a few messages with `publish --create`, exports them, and checks nothing leaks `secret`.
fn round_trip(auth: &[String], secret: &str, env: &[(&str, &Path)]) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.ndjson");
    let line = serde_json::json!({"subject": "events.sysdig.web-01", "payload": String::from_utf8(template("web-01", 1)).unwrap()});
    std::fs::write(&input, format!("{line}\n{line}\n")).unwrap();
    let mut args: Vec<String> = vec!["publish".into(), "--create".into()];
    args.extend(auth.iter().cloned());
    args.push(input.display().to_string());
    let o = run(&args, env);
    assert_ok(&o);
    let out = tmp.path().join("ds");
    let mut args: Vec<String> = vec![
        "export".into(),
        "-q".into(),
        "--json".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(auth.iter().cloned());
    let o = run(&args, env);
    assert_ok(&o);
    let m = check_manifest(&out);
    assert_eq!(m["rows"], 2);
    if !secret.is_empty() {
        let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
        for text in [
            manifest,
            String::from_utf8_lossy(&o.stdout).into(),
            String::from_utf8_lossy(&o.stderr).into(),
        ] {
            assert!(!text.contains(secret), "secret leaked: {text}");
        }
    }
}

fn refused(auth: &[String], env: &[(&str, &Path)]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec![
        "export".into(),
        "-q".into(),
        "-o".into(),
        tmp.path().join("x").display().to_string(),
    ];
    args.extend(auth.iter().cloned());
    let o = run(&args, env);
    assert_code(&o, 3, "cannot connect");
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn user_password(kind: Kind) {
    let server = Server::start_with(
        kind,
        "authorization { users = [ {user: \"responder\", password: \"pa55-w0rd\"} ] }",
    );
    round_trip(
        &strings(&[
            "-s",
            &server.url,
            "--user",
            "responder",
            "--password",
            "pa55-w0rd",
        ]),
        "pa55-w0rd",
        &[],
    );
    // The password inside the URL works too, and is redacted in the manifest.
    let url = format!("nats://responder:pa55-w0rd@127.0.0.1:{}", server.port);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let o = run(
        &strings(&["export", "-q", "-s", &url, "-o", out.to_str().unwrap()]),
        &[],
    );
    assert_ok(&o);
    assert!(!std::fs::read_to_string(out.join("manifest.json"))
        .unwrap()
        .contains("pa55-w0rd"));
    refused(
        &strings(&[
            "-s",
            &server.url,
            "--user",
            "responder",
            "--password",
            "wrong",
        ]),
        &[],
    );
    refused(&strings(&["-s", &server.url]), &[]);
}
both_servers!(user_password);

async fn token(kind: Kind) {
    let server = Server::start_with(kind, "authorization { token: \"t0ken-abc\" }");
    round_trip(
        &strings(&["-s", &server.url, "--token", "t0ken-abc"]),
        "t0ken-abc",
        &[],
    );
    refused(&strings(&["-s", &server.url, "--token", "nope"]), &[]);
}
both_servers!(token);

async fn nkey(kind: Kind) {
    let user = nkeys::KeyPair::new_user();
    let server = Server::start_with(
        kind,
        &format!(
            "authorization {{ users = [ {{nkey: \"{}\"}} ] }}",
            user.public_key()
        ),
    );
    let tmp = tempfile::tempdir().unwrap();
    let seed_file = tmp.path().join("user.nk");
    let seed = user.seed().unwrap();
    std::fs::write(&seed_file, format!("{seed}\n")).unwrap();
    round_trip(
        &strings(&["-s", &server.url, "--nkey", seed_file.to_str().unwrap()]),
        &seed,
        &[],
    );
    let other = tmp.path().join("other.nk");
    std::fs::write(&other, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    refused(
        &strings(&["-s", &server.url, "--nkey", other.to_str().unwrap()]),
        &[],
    );
}
both_servers!(nkey);

/// A JWT signed the way nsc signs them (`ed25519-nkey`).
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = serde_json::json!({
        "jti": format!("{:X}", rand_id()),
        "iat": 1_700_000_000,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let body = b64.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let sig = issuer.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64.encode(sig))
}

fn rand_id() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn creds(kind: Kind) {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let op_jwt = jwt(
        &operator,
        &operator.public_key(),
        "test-op",
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let acc_jwt = jwt(
        &operator,
        &account.public_key(),
        "responders",
        serde_json::json!({
            "type": "account", "version": 2,
            "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
                       "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
        }),
    );
    let user_jwt = jwt(
        &account,
        &user.public_key(),
        "responder",
        serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
    );
    // JetStream in operator mode needs a system account.
    let system = nkeys::KeyPair::new_account();
    let sys_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"type": "account", "version": 2}),
    );
    let tmp = tempfile::tempdir().unwrap();
    let op_file = tmp.path().join("op.jwt");
    std::fs::write(&op_file, &op_jwt).unwrap();
    let extra = format!(
        "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{ {}: \"{}\", {}: \"{}\" }}\n",
        op_file.display(),
        system.public_key(),
        account.public_key(),
        acc_jwt,
        system.public_key(),
        sys_jwt
    );
    let server = Server::start_with(kind, &extra);
    let seed = user.seed().unwrap();
    let creds = tmp.path().join("user.creds");
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        ),
    )
    .unwrap();
    round_trip(
        &strings(&["-s", &server.url, "--creds", creds.to_str().unwrap()]),
        &seed,
        &[],
    );
    refused(&strings(&["-s", &server.url]), &[]);
}
both_servers!(creds);

fn tls_block(verify: bool) -> String {
    format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: {verify} }}",
        fixture("tls/server.pem"),
        fixture("tls/server-key.pem"),
        fixture("tls/ca.pem")
    )
}

async fn tls(kind: Kind) {
    // Server TLS only.
    let server = Server::start_with(kind, &tls_block(false));
    let url = format!("tls://127.0.0.1:{}", server.port);
    round_trip(
        &strings(&["-s", &url, "--tlsca", &fixture("tls/ca.pem")]),
        "",
        &[],
    );
    // An untrusted server certificate is refused.
    refused(&strings(&["-s", &url]), &[]);
    drop(server);

    // Mutual TLS: the client must present a certificate.
    let server = Server::start_with(kind, &tls_block(true));
    let url = format!("tls://127.0.0.1:{}", server.port);
    let cert = strings(&[
        "--tlscert",
        &fixture("tls/client.pem"),
        "--tlskey",
        &fixture("tls/client-key.pem"),
    ]);
    let mut args = strings(&["-s", &url, "--tlsca", &fixture("tls/ca.pem")]);
    args.extend(cert);
    round_trip(&args, "", &[]);
    refused(
        &strings(&["-s", &url, "--tlsca", &fixture("tls/ca.pem")]),
        &[],
    );
}
both_servers!(tls);

async fn context(kind: Kind) {
    let server = Server::start_with(
        kind,
        "authorization { users = [ {user: \"ctx\", password: \"ctx-secret\"} ] }",
    );
    let config_home = tempfile::tempdir().unwrap();
    let dir: PathBuf = config_home.path().join("nats/context");
    std::fs::create_dir_all(&dir).unwrap();
    let ctx = serde_json::json!({"description": "incident", "url": server.url, "user": "ctx", "password": "ctx-secret"});
    std::fs::write(dir.join("incident.json"), ctx.to_string()).unwrap();
    let env = [("XDG_CONFIG_HOME", config_home.path())];
    round_trip(&strings(&["--context", "incident"]), "ctx-secret", &env);
    // Flags win over the context.
    refused(
        &strings(&["--context", "incident", "--password", "wrong"]),
        &env,
    );
    let o = run(
        &strings(&["export", "--context", "missing", "-o", "/tmp/never"]),
        &env,
    );
    assert_code(&o, 2, "cannot read NATS context");
}
both_servers!(context);
