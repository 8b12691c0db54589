//! How a request is served, from its `model` and `selectllm` object: the plan to run (or the
//! member to pass through to), the members it may use, and what the plans know of them.

use selectllm_core::Policy;
use selectllm_core::plan::{LatencyStat, Plan, PlanKind};
use selectllm_core::policy::PoolInfo;

use crate::error::GatewayError;
use crate::gateway::{AUTO_MODEL, Gateway, MODEL_PREFIX};
use crate::wire::{ChatRequest, MemberReport};

/// How a request is served.
#[derive(Debug, Clone)]
pub(crate) enum Behaviour {
    Select(Plan),
    Passthrough(usize),
}

impl Gateway {
    pub(crate) fn behaviour(&self, req: &ChatRequest) -> Result<Behaviour, GatewayError> {
        let model = req.model.as_str();
        let ext = req.selectllm.as_ref();
        let asked = match (
            ext.and_then(|e| e.policy.as_deref()),
            ext.and_then(|e| e.plan.as_deref()),
        ) {
            (Some(_), Some(_)) => {
                return Err(GatewayError::bad(
                    "selectllm.plan",
                    "give `plan` or `policy`, not both",
                ));
            }
            (Some(p), None) => Some(
                Policy::parse(p)
                    .map(|p| Plan::new(PlanKind::Parallel(p)))
                    .map_err(|e| GatewayError::bad("selectllm.policy", e))?,
            ),
            (None, Some(p)) => Some(
                self.plan_named(p)
                    .map_err(|e| GatewayError::bad("selectllm.plan", e))?,
            ),
            (None, None) => None,
        };
        let selecting = model == AUTO_MODEL || model.starts_with(MODEL_PREFIX);
        if let (Some(plan), true) = (asked, selecting) {
            return Ok(Behaviour::Select(plan));
        }
        if model == AUTO_MODEL {
            return Ok(Behaviour::Select(self.cfg.router.plan.clone()));
        }
        if let Some(p) = model.strip_prefix(MODEL_PREFIX) {
            return self
                .plan_named(p)
                .map(Behaviour::Select)
                .map_err(|e| GatewayError::bad("model", format!("`{model}`: {e}")));
        }
        match self.cfg.members.iter().position(|m| m.name == model) {
            Some(i) => Ok(Behaviour::Passthrough(i)),
            None => Err(GatewayError::UnknownModel(
                model.chars().take(200).collect(),
            )),
        }
    }

    /// A plan by name: `cascade` is the configured cascade, anything else a plan or a policy.
    fn plan_named(&self, s: &str) -> Result<Plan, String> {
        if s.eq_ignore_ascii_case("cascade") {
            return Ok(self.cfg.router.cascade.clone());
        }
        Plan::parse_or_policy(s)
    }

    /// What `plan` knows of the candidates: each one's latency on this replica (at the
    /// ceiling's statistic when the plan has a latency ceiling, else the mean; 1 s before the
    /// first answer) and mean cost per call (0 while unknown), for ceilings and budgets.
    pub(crate) fn pool_info(&self, plan: &Plan, cand: &[usize]) -> PoolInfo {
        let at = match plan.ceiling.latency {
            Some(_) => plan.ceiling.at,
            None => LatencyStat::Mean,
        };
        let latency = |i: usize| {
            let h = &self.metrics.members[i].latency;
            match at {
                LatencyStat::Mean => h.mean(),
                LatencyStat::P50 => h.quantile(0.5),
                LatencyStat::P95 => h.quantile(0.95),
            }
            .unwrap_or(1.0)
        };
        PoolInfo {
            latency: cand.iter().map(|&i| latency(i)).collect(),
            cost: cand
                .iter()
                .map(|&i| self.metrics.members[i].mean_cost())
                .collect(),
        }
    }

    /// The members this request may use: all, or the `selectllm.members` list.
    pub(crate) fn allowed(&self, req: &ChatRequest) -> Result<Vec<usize>, GatewayError> {
        let Some(list) = req.selectllm.as_ref().and_then(|e| e.members.as_ref()) else {
            return Ok((0..self.members.len()).collect());
        };
        if list.is_empty() {
            return Err(GatewayError::bad("selectllm.members", "must not be empty"));
        }
        let mut out = Vec::with_capacity(list.len());
        for n in list {
            let i = self
                .cfg
                .members
                .iter()
                .position(|m| &m.name == n)
                .ok_or_else(|| {
                    GatewayError::bad(
                        "selectllm.members",
                        format!(
                            "unknown member `{}`",
                            n.chars().take(200).collect::<String>()
                        ),
                    )
                })?;
            if !out.contains(&i) {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// A report line per candidate member, selected ones first.
    pub(crate) fn reports(
        &self,
        conf: &[f32],
        selected: &[usize],
        cand: &[usize],
    ) -> Vec<MemberReport> {
        let mut order: Vec<usize> = selected.to_vec();
        order.extend(cand.iter().copied().filter(|i| !selected.contains(i)));
        order
            .into_iter()
            .map(|i| MemberReport {
                name: self.cfg.members[i].name.clone(),
                probability: conf.get(i).copied(),
                selected: selected.contains(&i),
                ..MemberReport::default()
            })
            .collect()
    }
}
