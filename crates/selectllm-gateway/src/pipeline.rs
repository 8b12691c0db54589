//! The request pipeline, free of HTTP types: body -> behaviour (from `model`: a plan, or a
//! member's name) -> classify the last user message -> the plan's [`Execution`] over the
//! candidates -> `execute.rs` calls the members wave by wave, the client's messages and
//! parameters as sent, and cancels what can no longer change the answer -> the winner's full
//! response with the explanation. Streaming lives in `stream.rs`.

use std::sync::Arc;
use std::time::Instant;

use selectllm_core::plan::{Execution, Plan, PlanKind};
use selectllm_core::policy::{PoolInfo, preference, ranked_order};
use selectllm_core::{ClassifierError, Policy};
use selectllm_infer::InferError;
use serde_json::{Map, Value};

use crate::behaviour::Behaviour;
use crate::error::GatewayError;
use crate::gateway::{Decision, Gateway, PER_MEMBER, Reply, Waited, unix_now};
use crate::wire::{self, ChatRequest, Explanation, Usage};

impl Gateway {
    /// Answers one chat request body.
    pub async fn handle(self: &Arc<Self>, body: &[u8]) -> Result<Reply, GatewayError> {
        let (map, req) = parse(body)?;
        let stream = req.stream.unwrap_or(false);
        let forwarded = wire::forwarded(map);
        match self.behaviour(&req)? {
            Behaviour::Passthrough(i) => {
                if req.selectllm.is_some() {
                    return Err(GatewayError::bad(
                        "selectllm",
                        "applies to selectllm/* models only, not to a member's name",
                    ));
                }
                let decision = Decision {
                    policy: "passthrough".into(),
                    selected: vec![self.cfg.members[i].name.clone()],
                    winner: None,
                };
                let expl = Explanation {
                    policy: "passthrough".into(),
                    task: self.cfg.router.task.to_string(),
                    reason: "the model names a member".into(),
                    selected: decision.selected.clone(),
                    ..Explanation::default()
                };
                if stream {
                    return self
                        .stream_single(vec![i], &forwarded, &req.model, decision, expl, &[])
                        .await;
                }
                let one = Plan::new(PlanKind::Parallel(Policy::MaxConf { s: 1 }));
                let exec = Execution::new(&one, &[1.0], &PoolInfo::uniform(1), None, PER_MEMBER);
                let run = self.execute(exec, &[i], &forwarded).await;
                self.reply(run, None, &[i], &[], &req.model, decision, expl)
            }
            Behaviour::Select(plan) => self.select(&req, plan, &forwarded, stream).await,
        }
    }

    async fn select(
        self: &Arc<Self>,
        req: &ChatRequest,
        plan: Plan,
        forwarded: &Map<String, Value>,
        stream: bool,
    ) -> Result<Reply, GatewayError> {
        let text = req
            .last_user_text()
            .ok_or_else(|| GatewayError::bad("messages", "no message with role `user`"))?;
        if text.trim().is_empty() {
            return Err(GatewayError::bad(
                "messages",
                "the last user message has no text",
            ));
        }
        let allowed = self.allowed(req)?;
        let asked = Instant::now();
        let classified = self
            .worker
            .classify_ranked(text.clone())
            .await
            .map_err(|e| match e {
                InferError::Overloaded => GatewayError::Overloaded("classifier queue full".into()),
                InferError::Closed => GatewayError::Unavailable("classifier stopped".into()),
                InferError::Classifier(ClassifierError::EmptyInput) => {
                    GatewayError::bad("messages", "the last user message has no text")
                }
                InferError::Classifier(e) => GatewayError::Internal(e.to_string()),
            })?;
        let wait = asked.elapsed();
        self.metrics.classifier_wait.observe(wait.as_secs_f64());
        let conf: Vec<f32> = self
            .conf_index
            .iter()
            .map(|&c| classified.probs.get(c).copied().unwrap_or(0.0))
            .collect();
        let now = Instant::now();
        let cand: Vec<usize> = allowed
            .into_iter()
            .filter(|&i| self.members[i].breaker.available(now))
            .collect();
        if cand.is_empty() {
            return Err(GatewayError::Unavailable(
                "every candidate member's circuit is open; retry later".into(),
            ));
        }
        let sub_conf: Vec<f32> = cand.iter().map(|&i| conf[i]).collect();
        // a checkpoint's own member order for this question (classifier columns), in pool
        // members restricted to the candidates
        let sub_rank: Option<Vec<usize>> = classified.ranking.map(|r| {
            r.iter()
                .filter_map(|&c| self.conf_index.iter().position(|&ci| ci == c))
                .filter_map(|m| cand.iter().position(|&c| c == m))
                .collect()
        });
        let pool = self.pool_info(&plan, &cand);
        let exec = Execution::ranked(
            &plan,
            &sub_conf,
            &pool,
            sub_rank.as_deref(),
            self.cfg.router.task.options(),
            PER_MEMBER,
        );
        let first: Vec<usize> = exec.first_wave().iter().map(|&j| cand[j]).collect();
        if first.is_empty() {
            return Err(GatewayError::bad(
                "model",
                format!("plan `{plan}` calls no member within its ceiling"),
            ));
        }
        let names = |v: &[usize]| -> Vec<String> {
            v.iter()
                .map(|&i| self.cfg.members[i].name.clone())
                .collect()
        };
        let decision = Decision {
            policy: plan.short_name(),
            selected: names(&first),
            winner: None,
        };
        let mut expl = Explanation {
            policy: plan.short_name(),
            task: self.cfg.router.task.to_string(),
            reason: exec.selection_reason().to_string(),
            selected: decision.selected.clone(),
            route_only: req.selectllm.as_ref().is_some_and(|e| e.route_only),
            members: self.reports(&conf, &first, &cand),
            ..Explanation::default()
        };
        if expl.route_only {
            expl.plan = Some(plan.to_string());
            expl.waves = vec![decision.selected.clone()];
            let body = serde_json::json!({
                "id": self.next_id(), "object": "chat.completion", "created": unix_now(),
                "model": req.model, "choices": [], "usage": Usage::default(), "selectllm": expl,
            });
            return Ok(Reply::Complete {
                body,
                decision,
                waited: Waited {
                    classifier: wait,
                    members: std::time::Duration::ZERO,
                },
            });
        }
        if stream && first.len() == 1 && matches!(plan.kind, PlanKind::Parallel(_)) {
            // failover, before the first byte, to the next candidates in the order the policy
            // ranked by (the checkpoint's, else by confidence)
            let mut order = first.clone();
            order.extend(
                ranked_order(&sub_conf, &pool.latency, sub_rank.as_deref())
                    .into_iter()
                    .map(|j| cand[j])
                    .filter(|i| !first.contains(i)),
            );
            return self
                .stream_single(order, forwarded, &req.model, decision, expl, &conf)
                .await;
        }
        // the winner among members that agree: the policy's first, by the checkpoint's order
        // when it ranked them (per pool member; members not candidates come last)
        let mut prefer = vec![f32::NEG_INFINITY; conf.len()];
        for (j, p) in preference(&sub_conf, sub_rank.as_deref())
            .into_iter()
            .enumerate()
        {
            prefer[cand[j]] = p;
        }
        let run = self.execute(exec, &cand, forwarded).await;
        let mut reply = self.reply(run, Some(&plan), &cand, &prefer, &req.model, decision, expl)?;
        if let Reply::Complete { waited, .. } = &mut reply {
            waited.classifier = wait;
        }
        Ok(if stream {
            crate::stream::replay(reply)
        } else {
            reply
        })
    }
}

/// Parses and validates a body: the object as sent (to forward) and the fields read.
fn parse(body: &[u8]) -> Result<(Map<String, Value>, ChatRequest), GatewayError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::bad("body", format!("invalid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(GatewayError::bad("body", "must be a JSON object"));
    };
    let value = Value::Object(map);
    let req: ChatRequest = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let param = if path == "." {
            "body".to_string()
        } else {
            path
        };
        GatewayError::BadRequest {
            msg: format!("{param}: {}", e.inner()),
            param: Some(param),
        }
    })?;
    req.validate()
        .map_err(|(field, msg)| GatewayError::bad(&field, msg))?;
    let map = match value {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok((map, req))
}
