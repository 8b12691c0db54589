//! A gateway over fake members with a deterministic classifier double.

use std::path::Path;
use std::sync::Arc;

use selectllm_core::{Classifier, ClassifierError};
use selectllm_gateway::{Config, Gateway};
use selectllm_pool::fake::{FakeOptions, FakeServer};

/// Fixed probabilities per member, whatever the question.
pub struct FixedClassifier {
    pub members: Vec<String>,
    pub probs: Vec<f32>,
}

impl Classifier for FixedClassifier {
    fn name(&self) -> &str {
        "fixed"
    }
    fn members(&self) -> &[String] {
        &self.members
    }
    fn predict_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ClassifierError> {
        Ok(texts.iter().map(|_| self.probs.clone()).collect())
    }
}

pub struct MemberSpec {
    pub name: &'static str,
    pub prob: f32,
    pub opts: FakeOptions,
    /// Extra lines of the member's table (`timeout_s = 0.3`, ...).
    pub extra: &'static str,
}

pub fn member(name: &'static str, prob: f32, reply: &str) -> MemberSpec {
    MemberSpec {
        name,
        prob,
        opts: FakeOptions {
            reply: Some(reply.to_string()),
            ..FakeOptions::default()
        },
        extra: "",
    }
}

pub struct Harness {
    pub fakes: Vec<FakeServer>,
    pub url: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The gateway file for `specs`; `server` and `router` are extra lines of those tables.
pub fn config(specs: &[MemberSpec], fakes: &[FakeServer], server: &str, router: &str) -> Config {
    let urls: Vec<String> = fakes.iter().map(FakeServer::base_url).collect();
    config_at(specs, &urls, server, router)
}

/// [`config`] with each member at the given base URL.
pub fn config_at(specs: &[MemberSpec], urls: &[String], server: &str, router: &str) -> Config {
    let mut t = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n[router]\ncheckpoint = \"unused\"\ntask = \"gsm8k\"\n{router}\n"
    );
    for (s, url) in specs.iter().zip(urls) {
        t.push_str(&format!(
            "[[member]]\nname = \"{}\"\nbase_url = \"{}\"\nmodel = \"{}\"\nprompt = \"chat-cot\"\nretries = 0\n{}\n{}\n",
            s.name,
            url,
            s.name,
            if s.extra.contains("timeout_s") { "" } else { "timeout_s = 5" },
            s.extra
        ));
    }
    Config::parse(Path::new("test-gateway.toml"), &t).expect("valid test config")
}

pub fn gateway(
    specs: &[MemberSpec],
    fakes: &[FakeServer],
    server: &str,
    router: &str,
) -> Arc<Gateway> {
    gateway_for(specs, config(specs, fakes, server, router))
}

/// The gateway of `cfg` with the fixed classifier of `specs`.
pub fn gateway_for(specs: &[MemberSpec], cfg: Config) -> Arc<Gateway> {
    let clf = FixedClassifier {
        members: specs.iter().map(|s| s.name.to_string()).collect(),
        probs: specs.iter().map(|s| s.prob).collect(),
    };
    Arc::new(Gateway::new(cfg, Arc::new(clf)).expect("gateway"))
}

/// The gateway of `specs` whose classifier ranks members by a fixed `order` (a checkpoint's
/// member order), keeping the specs' probabilities.
pub fn ordered_gateway(
    specs: &[MemberSpec],
    fakes: &[FakeServer],
    router: &str,
    order: Vec<usize>,
) -> Arc<Gateway> {
    use selectllm_core::order::{MemberOrder, Ordered};
    let clf = Ordered {
        inner: Box::new(FixedClassifier {
            members: specs.iter().map(|s| s.name.to_string()).collect(),
            probs: specs.iter().map(|s| s.prob).collect(),
        }),
        order: MemberOrder::Constant(order),
    };
    let cfg = config(specs, fakes, "", router);
    Arc::new(Gateway::new(cfg, Arc::new(clf)).expect("gateway"))
}

pub fn fakes(specs: &[MemberSpec]) -> Vec<FakeServer> {
    specs
        .iter()
        .map(|s| FakeServer::with_options(s.opts.clone()).expect("fake server"))
        .collect()
}

impl Harness {
    pub async fn start(specs: Vec<MemberSpec>, server: &str, router: &str) -> Harness {
        Harness::start_with_keys(specs, server, router, Vec::new()).await
    }

    pub async fn start_with_keys(
        specs: Vec<MemberSpec>,
        server: &str,
        router: &str,
        keys: Vec<String>,
    ) -> Harness {
        let fakes = fakes(&specs);
        let gw = gateway(&specs, &fakes, server, router);
        Harness::serve(gw, fakes, keys).await
    }

    /// Serves `gw` on 127.0.0.1:0 (prober included), keeping `fakes` alive with it.
    pub async fn serve(gw: Arc<Gateway>, fakes: Vec<FakeServer>, keys: Vec<String>) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(selectllm_gateway::http::serve(
            gw.clone(),
            keys,
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        Harness {
            fakes,
            url,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("client"),
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn post(&self, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.url))
            .json(body)
            .send()
            .await
            .expect("gateway answers")
    }

    /// `GET path` without a key.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("gateway answers")
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

pub fn ask(model: &str, question: &str) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": question}
        ],
        "temperature": 0.3,
        "max_tokens": 64,
        "stop": ["\n\n"]
    })
}

/// Parses an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data:").map(|d| d.trim().to_string()))
        .collect()
}
