//! Against a real PostgreSQL: TLS modes, the statement timeout, migrations,
//! and credentials from Secrets Manager (moto).

use crate::support;

use legacy_sync::settings::ConnectionSettings;
use legacy_sync::{connect, migrate, DatabaseSource};
use support::*;
use tokio_postgres::Client;

async fn uses_tls(client: &Client) -> bool {
    client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0)
}

/// The server's certificate file. The local server (Debian's) has TLS on
/// with a self-signed certificate for `localhost`, which these tests trust
/// explicitly as their CA bundle.
async fn server_certificate(db: &TestDb) -> String {
    let client = db.client().await;
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(ssl, "on", "these tests need TLS enabled on the PostgreSQL server (ssl = on)");
    client.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0)
}

fn url(db: &TestDb, host: &str, query: &str) -> String {
    let port = db.settings.config.get_ports().first().copied().unwrap_or(5432);
    let user = db.settings.config.get_user().unwrap_or("postgres");
    format!("postgres://{user}@{host}:{port}/{}?{query}", db.name)
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_host_name_against_the_given_ca() {
    let db = TestDb::create().await;
    let certificate = server_certificate(&db).await;

    let trusted =
        ConnectionSettings::from_url(&url(&db, "localhost", &format!("sslmode=verify-full&sslrootcert={certificate}")))
            .unwrap();
    assert!(uses_tls(&connect(&trusted).await.expect("verified TLS connects")).await);

    let untrusted = ConnectionSettings::from_url(&url(&db, "localhost", "sslmode=verify-full")).unwrap();
    let error = connect(&untrusted).await.expect_err("a certificate no trusted CA signed is refused").to_string();
    assert!(error.contains("certificate"), "{error}");

    let wrong_name =
        ConnectionSettings::from_url(&url(&db, "127.0.0.1", &format!("sslmode=verify-full&sslrootcert={certificate}")))
            .unwrap();
    let error = connect(&wrong_name).await.expect_err("a certificate for another name is refused").to_string();
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test]
async fn require_and_prefer_encrypt_without_verifying_and_disable_does_not() {
    let db = TestDb::create().await;
    server_certificate(&db).await;
    for (query, tls) in [("sslmode=require", true), ("", true), ("sslmode=disable", false)] {
        let settings = ConnectionSettings::from_url(&url(&db, "127.0.0.1", query)).unwrap();
        assert_eq!(uses_tls(&connect(&settings).await.unwrap()).await, tls, "{query:?}");
    }
}

#[tokio::test]
async fn every_connection_has_the_statement_timeout() {
    let db = TestDb::create().await;
    let timeout: String = db.client().await.query_one("SHOW statement_timeout", &[]).await.unwrap().get(0);
    assert_eq!(timeout, "5s");
}

#[tokio::test]
async fn migrations_create_only_the_order_sync_schema_and_run_once() {
    let db = TestDb::create_legacy_only().await;
    let mut client = db.client().await;
    let legacy_shape =
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default
                        FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2";
    let shape = |rows: Vec<tokio_postgres::Row>| {
        rows.iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, Option<i32>>(3),
                    r.get::<_, String>(4),
                    r.get::<_, Option<String>>(5),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = shape(client.query(legacy_shape, &[]).await.unwrap());
    assert_eq!(migrate(&mut client).await.unwrap(), vec![1]);
    assert_eq!(migrate(&mut client).await.unwrap(), Vec::<i32>::new(), "a second run has nothing to do");
    assert_eq!(shape(client.query(legacy_shape, &[]).await.unwrap()), before, "no legacy table is altered");
    let sync_tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'order_sync' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sync_tables, ["applied", "rebuild_segment", "schema_migrations"]);
}

#[tokio::test]
async fn rds_credentials_come_from_secrets_manager() {
    let db = TestDb::create().await;
    let certificate = server_certificate(&db).await;
    // moto serves every AWS service on one port: the local stack's SQS endpoint is it.
    let aws = testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL_SQS"))
        .expect("checked by testkit");
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&aws).endpoint_url(endpoint).build(),
    );
    let port = db.settings.config.get_ports().first().copied().unwrap_or(5432);
    let secret = serde_json::json!({
        "username": db.settings.config.get_user().unwrap_or("postgres"),
        "password": "unused with trust authentication",
        "engine": "postgres",
        "host": "localhost",
        "port": port,
        "dbname": db.name,
    });
    let arn = secrets
        .create_secret()
        .name(testkit::unique_name("legacy-db"))
        .secret_string(secret.to_string())
        .send()
        .await
        .expect("create the secret in moto")
        .arn
        .expect("an ARN");
    let source = DatabaseSource::Secret { arn, client: secrets, extra_roots: Some(certificate.into()) };
    let client = source.connect().await.expect("connects with the secret's credentials");
    assert!(uses_tls(&client).await, "a secret's database is always reached over verified TLS");
    let database: String = client.query_one("SELECT current_database()", &[]).await.unwrap().get(0);
    assert_eq!(database, db.name);
}

/// The Lambda refuses, at start, a URL that would reach a remote database
/// without checking its certificate, and says what to write instead.
#[test]
fn the_lambda_refuses_a_remote_database_url_without_verify_full_at_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_legacy-sync"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_REGION", "us-east-1")
        .env("EVENTS_TABLE", "order-events")
        .env("LEGACY_DATABASE_URL", "postgres://sync:pw@legacy-db.example:5432/shop?sslmode=require")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the sync started: {stderr}");
    assert!(stderr.contains("legacy-db.example") && stderr.contains("sslmode=verify-full"), "{stderr}");
    assert!(!stderr.contains("pw@"), "the error shows no password: {stderr}");
}
