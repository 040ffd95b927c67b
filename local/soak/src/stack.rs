//! What the soak runs on: resource names of its own on the shared local
//! stack, the fault proxies in front of DynamoDB Local, moto's SNS and
//! PostgreSQL, two legacy databases (the runner's, and a scratch one the
//! check rebuilds into), the runner process and the downstream test queue.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use faults::{HttpFaultProxy, TcpProxy};
use legacy_sync::ConnectionSettings;
use tokio::sync::Mutex;

use crate::{Args, Context, SoakError};

/// SKUs with a `shop_product` row, so the sync links `product_id`; the
/// other SKUs stay unknown to the shop (NULL), as the design allows.
pub const KNOWN_PRODUCTS: [&str; 3] = ["muskie-casting-rod", "tourney-casting-rod", "braided-line"];

/// The runner's consumer queues, by the variable that names each.
pub const CONSUMER_QUEUES: [&str; 4] =
    ["INVENTORY_HOT_QUEUE", "INVENTORY_QUEUE", "FULFILLMENT_QUEUE", "LEGACY_SYNC_QUEUE"];

pub struct Stack {
    pub id: String,
    /// The runner's variables: names, endpoints through the proxies, the legacy database.
    vars: Vec<(&'static str, String)>,
    runner: PathBuf,
    pub dir: PathBuf,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    pub dynamodb_proxy: HttpFaultProxy,
    pub sns_proxy: HttpFaultProxy,
    pub postgres_proxy: Mutex<TcpProxy>,
    /// The PostgreSQL server, as the soak's own connections reach it.
    admin: ConnectionSettings,
    pub legacy: ConnectionSettings,
    /// Where the check rebuilds the legacy rows from the event store.
    pub legacy_expected: ConnectionSettings,
    pub downstream_url: String,
    /// Source queue URL → its DLQ's URL.
    pub dlqs: Vec<(String, String)>,
}

fn endpoint(var: &str) -> Result<String, SoakError> {
    let url = std::env::var(var).map_err(|_| {
        SoakError::Setup(format!(
            "{var} is not set: the soak runs on the local stack (scripts/local-stack up; eval \"$(scripts/local-stack env)\")"
        ))
    })?;
    url.strip_prefix("http://").map(|host| host.trim_end_matches('/').to_owned()).ok_or_else(|| {
        SoakError::Setup(format!("{var}={url}: the fault proxies forward plain http to the local stack"))
    })
}

/// The runner's tables, topic and queues for a run named `id`, as the
/// variables it reads: its own on a local stack other runs share.
pub fn resource_names(id: &str) -> Vec<(&'static str, String)> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    vec![
        (contract::config::EVENTS_TABLE, format!("{id}-events")),
        (contract::config::INVENTORY_TABLE, format!("{id}-inventory")),
        (contract::config::CATALOG_TABLE, format!("{id}-catalog")),
        (contract::config::FULFILLMENT_TABLE, format!("{id}-fulfillment")),
        (contract::config::ORDER_EVENTS_TOPIC_ARN, format!("arn:aws:sns:{region}:123456789012:{id}-topic")),
        ("INVENTORY_QUEUE", format!("{id}-inventory")),
        ("INVENTORY_HOT_QUEUE", format!("{id}-inventory-hot")),
        ("FULFILLMENT_QUEUE", format!("{id}-fulfillment")),
        ("LEGACY_SYNC_QUEUE", format!("{id}-legacy-sync")),
    ]
}

impl Stack {
    /// Proxies, names, tables, topic, queues, databases: everything the
    /// runner needs, made with its own `provision` command.
    pub async fn provision(args: &Args, runner: PathBuf) -> Result<Stack, SoakError> {
        let id = format!("soak-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let dir = std::env::temp_dir().join(&id);
        std::fs::create_dir_all(&dir).step(format!("create {}", dir.display()))?;
        let dynamodb_proxy =
            HttpFaultProxy::start(endpoint("AWS_ENDPOINT_URL_DYNAMODB")?).await.step("DynamoDB proxy")?;
        let sns_proxy = HttpFaultProxy::start(endpoint("AWS_ENDPOINT_URL_SNS")?).await.step("SNS proxy")?;

        let admin_url = std::env::var(contract::config::LEGACY_DATABASE_URL)
            .map_err(|_| SoakError::Setup("LEGACY_DATABASE_URL is not set (scripts/local-stack env)".into()))?;
        let admin = ConnectionSettings::from_url(&admin_url).step(contract::config::LEGACY_DATABASE_URL)?;
        let server = {
            let host = match admin.config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                _ => "127.0.0.1".to_owned(),
            };
            format!("{host}:{}", admin.config.get_ports().first().copied().unwrap_or(5432))
        };
        let postgres_proxy = TcpProxy::start(server).await.step("PostgreSQL proxy")?;
        let db = id.replace('-', "_");
        let legacy = admin.with_dbname(&db);
        let legacy_expected = admin.with_dbname(&format!("{db}_expected"));
        let user = admin.config.get_user().unwrap_or("postgres");
        let password =
            admin.config.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
        let proxied_url = format!("postgres://{user}{password}@127.0.0.1:{}/{db}?sslmode=disable", postgres_proxy.port);

        let mut vars = resource_names(&id);
        vars.extend([
            (contract::config::HOT_SKUS, "muskie-casting-rod".to_owned()),
            ("STREAM_CHECKPOINT", dir.join("checkpoint.json").display().to_string()),
            ("ORDER_PLATFORM_ISSUER_KEY", dir.join("issuer-key.pem").display().to_string()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_proxy.url()),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", dynamodb_proxy.url()),
            ("AWS_ENDPOINT_URL_SNS", sns_proxy.url()),
            (contract::config::LEGACY_DATABASE_URL, proxied_url),
            ("RUST_LOG", "warn".to_owned()),
            ("CONSUMER_BACKOFF_BASE_SECONDS", args.backoff_base_seconds.to_string()),
            ("CONSUMER_BACKOFF_CAP_SECONDS", args.backoff_cap_seconds.to_string()),
        ]);
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let mut stack = Stack {
            id,
            vars,
            runner,
            dir,
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            dynamodb_proxy,
            sns_proxy,
            postgres_proxy: Mutex::new(postgres_proxy),
            admin,
            legacy,
            legacy_expected,
            downstream_url: String::new(),
            dlqs: Vec::new(),
        };
        for settings in [&stack.legacy, &stack.legacy_expected] {
            stack.create_legacy_database(settings).await?;
        }
        let provision = stack.command(&["provision"]).output().step("run `order-platform provision`")?;
        if !provision.status.success() {
            return Err(SoakError::Setup(format!(
                "order-platform provision failed: {}",
                String::from_utf8_lossy(&provision.stderr)
            )));
        }
        stack.queues(args).await?;
        Ok(stack)
    }

    pub fn var(&self, name: &str) -> &str {
        self.vars.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v.as_str())
    }

    /// The runner with the soak's variables.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.runner);
        command.args(args).envs(self.vars.iter().map(|(k, v)| (*k, v.as_str()))).env_remove("AWS_ENDPOINT_URL");
        command
    }

    /// A database with the legacy shop's tables, the sync's migrations and the known products (same ids in both).
    async fn create_legacy_database(&self, settings: &ConnectionSettings) -> Result<(), SoakError> {
        let name = settings.config.get_dbname().unwrap_or_default().to_owned();
        let admin = legacy_sync::connect(&self.admin).await.step("connect to PostgreSQL (LEGACY_DATABASE_URL)")?;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.step(format!("create database {name}"))?;
        let mut client = legacy_sync::connect(settings).await.step(format!("connect to {name}"))?;
        legacy_sync::migrations::create_legacy_tables_if_missing(&client).await.step("legacy tables")?;
        legacy_sync::migrate(&mut client).await.step("legacy-sync migrations")?;
        for (i, slug) in KNOWN_PRODUCTS.iter().enumerate() {
            let id = uuid::Uuid::from_u128(0x50a4_0000_0000_0000_0000_0000_0000_0000 + i as u128);
            client
                .execute(
                    "INSERT INTO shop_product (id, title, description, slug, in_stock, price) VALUES ($1, $2, '', $3, true, 1999)",
                    &[&id, slug, slug],
                )
                .await
                .step("insert a product")?;
        }
        Ok(())
    }

    /// Visibility timeouts, the DLQs, and the downstream team's queue (raw delivery, no filter).
    async fn queues(&mut self, args: &Args) -> Result<(), SoakError> {
        for var in CONSUMER_QUEUES {
            let name = self.var(var).to_owned();
            let url = self.queue_url(&name).await?;
            let dlq = self.queue_url(&format!("{name}-dlq")).await?;
            self.sqs
                .set_queue_attributes()
                .queue_url(&url)
                .attributes(QueueAttributeName::VisibilityTimeout, args.visibility_timeout.to_string())
                .send()
                .await
                .step(format!("visibility timeout of {name}"))?;
            self.dlqs.push((url, dlq));
        }
        let name = format!("{}-downstream", self.id);
        let downstream = Downstream::subscribe(
            self.sqs.clone(),
            &self.sns,
            self.var(contract::config::ORDER_EVENTS_TOPIC_ARN),
            &name,
        )
        .await?;
        self.downstream_url = downstream.url;
        Ok(())
    }

    pub async fn queue_url(&self, name: &str) -> Result<String, SoakError> {
        let out = self.sqs.get_queue_url().queue_name(name).send().await.step(format!("queue {name}"))?;
        Ok(out.queue_url.unwrap_or_default())
    }

    /// A token of the runner's own issuer with every scope.
    pub async fn token(&self) -> Result<String, SoakError> {
        let scopes =
            ["orders:write", "orders:read", "orders:ship", "inventory:read", "inventory:write", "catalog:write"];
        let mut args = vec!["token", "--minutes", "600", "--service", "checkout-backend", "--scope"];
        args.extend(scopes);
        let out = self.command(&args).output().step("order-platform token")?;
        if !out.status.success() {
            return Err(SoakError::Setup(format!("order-platform token: {}", String::from_utf8_lossy(&out.stderr))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    pub async fn start_runner(&self) -> Result<Runner, SoakError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).step("a free port")?.port();
        let mut runner = Runner { child: None, base: format!("http://127.0.0.1:{port}"), port, starts: 0 };
        runner.start(self).await?;
        Ok(runner)
    }

    pub fn downstream_reader(&self) -> Downstream {
        Downstream { sqs: self.sqs.clone(), url: self.downstream_url.clone(), received: HashMap::new() }
    }

    /// Deletes the tables, queues, topic and databases, and with `logs` the runner's logs.
    pub async fn clean_up(&self, logs: bool) {
        for table in [
            contract::config::EVENTS_TABLE,
            contract::config::INVENTORY_TABLE,
            contract::config::FULFILLMENT_TABLE,
            contract::config::CATALOG_TABLE,
        ] {
            let _ = self.dynamodb.delete_table().table_name(self.var(table)).send().await;
            let _ = self.dynamodb.delete_table().table_name(format!("{}-expected", self.var(table))).send().await;
        }
        let mut urls = vec![self.downstream_url.clone()];
        urls.extend(self.dlqs.iter().flat_map(|(q, d)| [q.clone(), d.clone()]));
        for url in urls {
            let _ = self.sqs.delete_queue().queue_url(url).send().await;
        }
        let _ = self.sns.delete_topic().topic_arn(self.var(contract::config::ORDER_EVENTS_TOPIC_ARN)).send().await;
        if let Ok(admin) = legacy_sync::connect(&self.admin).await {
            for settings in [&self.legacy, &self.legacy_expected] {
                let name = settings.config.get_dbname().unwrap_or_default();
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            }
        }
        if logs {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The runner process.
pub struct Runner {
    child: Option<Child>,
    pub base: String,
    port: u16,
    pub starts: u32,
}

impl Runner {
    async fn start(&mut self, stack: &Stack) -> Result<(), SoakError> {
        self.starts += 1;
        let log = std::fs::File::create(stack.dir.join(format!("runner-{}.log", self.starts))).step("runner log")?;
        let child = stack
            .command(&["serve", "--addr", &format!("127.0.0.1:{}", self.port)])
            .stdout(log.try_clone().step("runner log")?)
            .stderr(log)
            .spawn()
            .step("start the runner")?;
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while http.get(format!("{}/orders/{}", self.base, uuid::Uuid::nil())).send().await.is_err() {
            if Instant::now() > deadline {
                return Err(SoakError::Setup(format!("the runner did not answer on {} within 60 s", self.base)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, then a new process on the same port with the same
    /// checkpoint file; returns once it answers.
    pub async fn kill_and_restart(&mut self, stack: &Stack) -> Result<(), SoakError> {
        self.stop();
        self.start(stack).await
    }

    /// SIGKILL (`Child::kill` on Unix).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The downstream team's queue, drained as it fills: deliveries per eventId.
pub struct Downstream {
    sqs: aws_sdk_sqs::Client,
    url: String,
    pub received: HashMap<String, u32>,
}

impl Downstream {
    /// Creates the queue `name` and subscribes it to `topic_arn` as a
    /// downstream team would: raw delivery, no filter.
    pub async fn subscribe(
        sqs: aws_sdk_sqs::Client,
        sns: &aws_sdk_sns::Client,
        topic_arn: &str,
        name: &str,
    ) -> Result<Downstream, SoakError> {
        let url = sqs.create_queue().queue_name(name).send().await.step("create the downstream queue")?;
        let url = url.queue_url.unwrap_or_default();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .step("downstream queue ARN")?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        sns.subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .step("subscribe the downstream queue")?;
        Ok(Downstream { sqs, url, received: HashMap::new() })
    }

    /// Takes what the queue holds now.
    pub async fn drain(&mut self) -> Result<(), SoakError> {
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .send()
                .await
                .step("receive from the downstream queue")?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(());
            }
            let mut entries = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
                let event_id = body["eventId"].as_str().unwrap_or("unreadable").to_owned();
                *self.received.entry(event_id).or_default() += 1;
                if let Some(handle) = m.receipt_handle() {
                    entries.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(handle)
                            .build()
                            .step("delete entry")?,
                    );
                }
            }
            self.sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .step("delete from the downstream queue")?;
        }
    }
}

impl Downstream {
    /// Drains the queue every second until `stop` fires, so that it never
    /// grows long (moto's per-message work grows with a queue's length).
    pub async fn follow(mut self, mut stop: tokio::sync::oneshot::Receiver<()>) -> Result<Downstream, SoakError> {
        loop {
            self.drain().await?;
            tokio::select! {
                _ = &mut stop => return Ok(self),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Builds the runner (`cargo build --release -p runner`, with
/// the cargo that runs the soak) and answers the binary's path, so that the
/// soak never drives a runner older than the code.
pub fn build_runner() -> Result<PathBuf, SoakError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let out = Command::new(cargo)
        .args(["build", "--release", "-p", "runner", "--bin", "order-platform", "--message-format=json"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .step("cargo build --release -p runner")?;
    if !out.status.success() {
        return Err(SoakError::Setup("cargo build --release -p runner failed".into()));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "order-platform")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| SoakError::Setup("cargo built no order-platform executable".into()))
}
