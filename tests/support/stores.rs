//! Real object stores on loopback: moto's S3 server and Azurite's Blob service, each with one
//! bucket or container, stopped on Drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::util::*;

/// A real S3-protocol server on loopback (moto's server mode, from the project venv) with one
/// bucket, stopped on Drop.
pub struct S3 {
    child: Child,
    pub port: u16,
    pub bucket: String,
}

impl S3 {
    pub fn start() -> S3 {
        let port = free_port();
        let moto = repo_root().join(".tools/venv/bin/moto_server");
        assert!(
            moto.is_file(),
            "{} missing: run scripts/install-deps.sh --python",
            moto.display()
        );
        let child = Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let s3 = S3 {
            child,
            port,
            bucket: "soc-archive".into(),
        };
        wait_for_port(port, "moto_server");
        s3.python(&format!("s3.create_bucket(Bucket='{}')", s3.bucket));
        s3
    }

    /// The credentials and endpoint, as the tool reads them from the environment.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// [`S3::env`] with the endpoint at a front on `port` that forwards to this server.
    pub fn env_via(&self, port: u16) -> Vec<(String, String)> {
        self.env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_ENDPOINT_URL" => (k, format!("http://127.0.0.1:{port}")),
                _ => (k, v),
            })
            .collect()
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// Runs Python with `s3` (a boto3 client on this server) and `fs` (a pyarrow S3 filesystem)
    /// defined; returns stdout.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json, sys\n\
             import pyarrow.fs as pafs\n\
             s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{port}', aws_access_key_id='testing', \
             aws_secret_access_key='testing', region_name='us-east-1')\n\
             fs = pafs.S3FileSystem(endpoint_override='127.0.0.1:{port}', scheme='http', access_key='testing', \
             secret_key='testing', region='us-east-1')\n",
            port = self.port
        );
        run_python(&format!("{prelude}{code}"), &[])
    }

    /// Every key under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.python(&format!(
            "p = s3.get_paginator('list_objects_v2')\n\
             keys = [o['Key'] for page in p.paginate(Bucket='{}', Prefix='{prefix}') for o in page.get('Contents', [])]\n\
             print(json.dumps(sorted(keys)))",
            self.bucket
        ));
        serde_json::from_str(&out).unwrap()
    }

    /// An object's bytes, if it exists.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let out = self.python(&format!(
            "try:\n    sys.stdout.write(s3.get_object(Bucket='{}', Key='{key}')['Body'].read().hex())\n\
             except s3.exceptions.NoSuchKey:\n    sys.stdout.write('none')",
            self.bucket
        ));
        (out != "none").then(|| {
            (0..out.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&out[i..i + 2], 16).unwrap())
                .collect()
        })
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Azurite's well-known development account (public: it is in Microsoft's documentation).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";

const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A real Azure Blob Storage emulator (Azurite, from .tools/azurite) on loopback with one
/// container, stopped on Drop.
pub struct Azurite {
    child: Child,
    pub port: u16,
    pub container: String,
    _dir: TempDir,
}

impl Azurite {
    pub fn start() -> Azurite {
        let port = free_port();
        let bin = repo_root().join(".tools/azurite/node_modules/.bin/azurite-blob");
        assert!(
            bin.is_file(),
            "{} missing: run scripts/install-deps.sh --azurite",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite");
        let az = Azurite {
            child,
            port,
            container: "soc-archive".into(),
            _dir: dir,
        };
        wait_for_port(port, "azurite");
        az.python(&format!("svc.create_container('{}')", az.container));
        az
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR".into(), "true".into()),
            (
                "AZURITE_BLOB_STORAGE_URL".into(),
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("az://{}/{prefix}", self.container)
    }

    /// Runs Python with `svc` (a BlobServiceClient) and `cc` (the container's client) defined.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import json, sys\n\
             from azure.storage.blob import BlobServiceClient\n\
             svc = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};\
             AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{}/{AZURITE_ACCOUNT};')\n\
             cc = svc.get_container_client('{}')\n",
            self.port, self.container
        );
        run_python(&format!("{prelude}{code}"), &[])
    }

    /// Downloads every blob under `prefix/` into `dir` (keeping relative paths); returns the keys.
    pub fn download(&self, prefix: &str, dir: &Path) -> Vec<String> {
        let out = self.python(&format!(
            "import os\n\
             keys = sorted(b.name for b in cc.list_blobs(name_starts_with='{prefix}/'))\n\
             for k in keys:\n\
             \x20   path = os.path.join('{dir}', k[len('{prefix}/'):])\n\
             \x20   os.makedirs(os.path.dirname(path), exist_ok=True)\n\
             \x20   open(path, 'wb').write(cc.download_blob(k).readall())\n\
             print(json.dumps(keys))",
            dir = dir.display()
        ));
        serde_json::from_str(out.trim()).unwrap()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
