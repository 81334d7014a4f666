//! Apache httpd with mod_auth_openidc (Debian's packages) as an OAuth 2.0
//! resource server in front of an API, verifying tokend's tokens offline from
//! its JWKS fetched over HTTPS (mod_auth_openidc refuses http:// JWKS URLs).
//! RS256 and ES256: a valid token passes, a tampered, expired or
//! wrong-audience one does not, and after `keys rotate --now` a token with
//! the new kid passes (it refetches the JWKS on an unknown kid).

use crate::certs::TestCa;
use crate::process::{Tokend, free_port};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MODULES: &str = "/usr/lib/apache2/modules";

struct Apache {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Apache {
    fn start(dir: &Path, jwks_uri: &str, ca: &Path, issuer: &str) -> Self {
        assert!(
            Path::new(MODULES).join("mod_auth_openidc.so").exists(),
            "mod_auth_openidc is not installed: run ./test.sh (apt apache2 libapache2-mod-auth-openidc)"
        );
        let root = dir.join("apache");
        std::fs::create_dir_all(root.join("htdocs")).unwrap();
        std::fs::write(root.join("htdocs/api"), "orders\n").unwrap();
        let port = free_port();
        let log = root.join("error.log");
        let conf = format!(
            r#"ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}"
Mutex file:{root} default
ErrorLog "{root}/error.log"
LogLevel warn auth_openidc:info
User www-data
Group www-data
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so
DocumentRoot "{root}/htdocs"
OIDCOAuthVerifyJwksUri {jwks_uri}
OIDCOAuthSSLValidateServer On
OIDCCABundlePath {ca}
OIDCCacheType shm
<Location /api>
    AuthType oauth20
    <RequireAll>
        Require claim iss:{issuer}
        Require claim aud:https://api.example
    </RequireAll>
</Location>
"#,
            root = root.display(),
            ca = ca.display(),
        );
        let conf_path = root.join("httpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // Apache drops to www-data: it must read its folder and the CA.
        for path in [dir, &root, &root.join("htdocs")] {
            Command::new("chmod").arg("755").arg(path).status().unwrap();
        }
        Command::new("chmod")
            .arg("-R")
            .arg("a+rX")
            .arg(&root)
            .status()
            .unwrap();
        Command::new("chmod").arg("644").arg(ca).status().unwrap();
        Command::new("chown")
            .arg("www-data")
            .arg(&root)
            .status()
            .unwrap();
        let child = Command::new("apache2")
            .arg("-X")
            .arg("-f")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("stderr.log")).unwrap())
            .spawn()
            .expect("apache2 starts");
        let apache = Self { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "apache did not start: {}",
                std::fs::read_to_string(root.join("stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        apache
    }

    /// The status of GET /api with `Authorization: Bearer token`.
    fn call(&self, token: &str) -> u16 {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("http://127.0.0.1:{}/api", self.port))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
    }
}

fn token(server: &Tokend, id: &str, secret: &str) -> String {
    let out = Command::new("curl")
        .args(["-sf", "--cacert"])
        .arg(server.env_value("TEST_CA_FILE").unwrap())
        .args([
            "-u",
            &format!("{id}:{secret}"),
            "-d",
            "grant_type=client_credentials",
        ])
        .arg(server.url("/token"))
        .output()
        .unwrap();
    assert!(out.status.success(), "a token for {id}");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[test]
fn mod_auth_openidc_verifies_tokend_tokens_over_https_and_follows_rotate_now() {
    for alg in ["RS256", "ES256"] {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path());
        let (cert, key) = ca.server("tokend");
        let mut env = Tokend::sqlite_env(dir.path());
        env.push(("TOKEND_KEYS__ALGORITHM".into(), alg.into()));
        env.push(("TOKEND_TLS__CERT_FILE".into(), cert.display().to_string()));
        env.push(("TOKEND_TLS__KEY_FILE".into(), key.display().to_string()));
        env.push(("TEST_CA_FILE".into(), ca.cert.display().to_string()));
        let server = Tokend::start(&env, dir.path());
        let mut ids = Vec::new();
        for (id, extra) in [
            ("orders", vec!["--audience", "https://api.example"]),
            ("other", vec!["--audience", "https://other.example"]),
            (
                "brief",
                vec!["--audience", "https://api.example", "--ttl", "1s"],
            ),
        ] {
            let mut args = vec![
                "client", "create", "--name", id, "--id", id, "--scope", "read",
            ];
            args.extend(extra);
            let (code, created, stderr) = server.cli(&args);
            assert_eq!(code, 0, "{stderr}");
            ids.push((id, created["client_secret"].as_str().unwrap().to_owned()));
        }
        let secret = |id: &str| ids.iter().find(|(i, _)| *i == id).unwrap().1.clone();
        let apache = Apache::start(
            dir.path(),
            &server.url("/.well-known/jwks.json"),
            &ca.cert,
            &server.issuer(),
        );
        let log = || std::fs::read_to_string(&apache.log).unwrap_or_default();

        let good = token(&server, "orders", &secret("orders"));
        assert_eq!(apache.call(&good), 200, "{alg} valid token: {}", log());

        let mut tampered = good.clone().into_bytes();
        let at = tampered.len() - 5;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(apache.call(&tampered), 401, "{alg} tampered");

        let foreign = token(&server, "other", &secret("other"));
        assert_eq!(apache.call(&foreign), 401, "{alg} wrong audience");

        let brief = token(&server, "brief", &secret("brief"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while apache.call(&brief) != 401 {
            assert!(
                Instant::now() < deadline,
                "{alg}: an expired token is refused"
            );
            std::thread::sleep(Duration::from_millis(200));
        }

        let (code, _, stderr) = server.cli(&["keys", "rotate", "--now"]);
        assert_eq!(code, 0, "{stderr}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let fresh = loop {
            let t = token(&server, "orders", &secret("orders"));
            if kid(&t) != kid(&good) {
                break t;
            }
            assert!(Instant::now() < deadline, "the new key signs");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(
            apache.call(&fresh),
            200,
            "{alg} new kid after rotate --now: {}",
            log()
        );
    }
}
