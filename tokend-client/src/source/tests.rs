use super::fetch::form_encode;
use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A token endpoint that answers each request with the next canned
/// response, and records when each arrived.
async fn canned(answers: Vec<String>) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let _ = socket.read(&mut buf).await.unwrap();
            log.lock().unwrap().push(Instant::now());
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
        }
    });
    (url, seen)
}

fn http(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

const TOKEN: &str = r#"{"access_token":"t1","token_type":"Bearer","expires_in":60,"scope":"a"}"#;

fn source(url: &str) -> TokenSource {
    TokenSource::builder(url)
        .client_id("c")
        .credentials(Credentials::secret("s"))
        .retry(RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(10),
            max_wait: Duration::from_secs(5),
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn retry_after_of_a_429_is_honoured() {
    let (url, seen) = canned(vec![
        http(
            "429 Too Many Requests",
            "retry-after: 1\r\n",
            r#"{"error":"temporarily_unavailable"}"#,
        ),
        http("200 OK", "", TOKEN),
    ])
    .await;
    let token = source(&url).token().await.unwrap();
    assert_eq!(token.secret(), "t1");
    let seen = seen.lock().unwrap();
    assert!(
        seen[1] - seen[0] >= Duration::from_secs(1),
        "{:?}",
        seen[1] - seen[0]
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let (url, seen) = canned(vec![
        http("503 Service Unavailable", "", "{}"),
        http("502 Bad Gateway", "", "{}"),
        http(
            "500 Internal Server Error",
            "",
            r#"{"error":"server_error","error_description":"x"}"#,
        ),
    ])
    .await;
    let err = source(&url).token().await.unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 3);
    let text = err.to_string();
    assert!(
        text.contains("3 attempt(s)") && text.contains("HTTP 500 server_error"),
        "{text}"
    );
    assert!(!text.contains("the cached token"), "{text}");
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let (url, seen) = canned(vec![http(
        "401 Unauthorized",
        "",
        r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
    )])
    .await;
    let err = source(&url).token().await.unwrap_err();
    assert_eq!(
        err,
        Error::Refused {
            status: 401,
            error: "invalid_client".into(),
            description: "client authentication failed".into()
        }
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn secrets_never_print() {
    let s = source("http://127.0.0.1:1/token");
    assert!(!format!("{s:?}").contains("\"s\""));
    assert!(format!("{s:?}").contains("redacted"));
    assert_eq!(form_encode("a b:c%"), "a+b%3Ac%25");
}

#[test]
fn builder_refuses_nonsense() {
    let no_id = TokenSource::builder("http://x/token").credentials(Credentials::secret("s"));
    assert!(matches!(no_id.build(), Err(Error::Config(_))));
    let bad_url = TokenSource::builder("ftp://x")
        .client_id("c")
        .credentials(Credentials::secret("s"));
    assert!(matches!(bad_url.build(), Err(Error::Config(_))));
    let file = TokenSource::builder("http://x/token").credentials(Credentials::token_file("/t"));
    assert!(file.build().is_ok(), "a token file may name no client");
}
