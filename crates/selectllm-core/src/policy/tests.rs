//! Tests of the selection policies.

use super::*;

#[test]
fn maxconf_ties_to_lower_latency() {
    let pool = PoolInfo {
        latency: vec![3.0, 1.0, 2.0],
        cost: vec![0.0; 3],
    };
    let s = Policy::MaxConf { s: 2 }.select(&[0.7, 0.7, 0.9], &pool);
    assert_eq!(s.members, vec![2, 1]);
    assert!(s.weights.is_none());
}

#[test]
fn labelled_falls_back_to_top1() {
    let pool = PoolInfo::uniform(3);
    let s = Policy::LabelledMaxConf { s: 3 }.select(&[0.2, 0.4, 0.3], &pool);
    assert_eq!(s.members, vec![1]);
    let s = Policy::LabelledMaxConf { s: 3 }.select(&[0.6, 0.4, 0.9], &pool);
    assert_eq!(s.members, vec![2, 0]);
}

#[test]
fn weighted_carries_confidences() {
    let pool = PoolInfo::uniform(3);
    let s = Policy::WeightedMaxConf { s: 2 }.select(&[0.6, 0.4, 0.9], &pool);
    assert_eq!(s.members, vec![2, 0]);
    assert_eq!(s.weights, Some(vec![0.9, 0.6]));
}

#[test]
fn threshold_and_fallback() {
    let pool = PoolInfo::uniform(3);
    let s = Policy::Threshold { tau: 0.5 }.select(&[0.6, 0.4, 0.9], &pool);
    assert_eq!(s.members, vec![2, 0]);
    let s = Policy::Threshold { tau: 0.95 }.select(&[0.6, 0.4, 0.9], &pool);
    assert_eq!(s.members, vec![2]);
}

#[test]
fn budget_respects_limits() {
    let pool = PoolInfo {
        latency: vec![1.0, 5.0, 1.0, 1.0],
        cost: vec![0.0; 4],
    };
    let conf = [0.7, 0.95, 0.7, 0.7];
    let s = Policy::Budget(Budget {
        latency: Some(2.0),
        ..Budget::default()
    })
    .select(&conf, &pool);
    assert!(!s.members.contains(&1));
    // three independent 0.7s beat one 0.7
    assert_eq!(s.members.len(), 3);
    let s = Policy::Budget(Budget {
        calls: Some(1),
        ..Budget::default()
    })
    .select(&conf, &pool);
    assert_eq!(s.members, vec![1]);
}

#[test]
fn vote_probability_matches_hand_computation() {
    let lat = [1.0, 1.0, 1.0];
    // single member: its confidence
    assert!((vote_success_probability(&[0], &[0.8, 0.1, 0.1], &lat) - 0.8).abs() < 1e-6);
    // three at p: P(>=2 right) + P(exactly one right and it is the tie-break winner)
    let p: f64 = 0.6;
    let expect = 3.0 * p * p * (1.0 - p) + p.powi(3) + p * (1.0 - p) * (1.0 - p);
    let got = vote_success_probability(&[0, 1, 2], &[0.6; 3], &lat);
    assert!((got - expect).abs() < 1e-6, "{got} vs {expect}");
}

/// Exact enumeration of the 2^k outcomes (the former implementation), for small k.
fn enumerate(set: &[usize], conf: &[f32], latency: &[f64]) -> f64 {
    let k = set.len();
    let first = (0..k)
        .min_by(|&a, &b| tie_rank(set[a], set[b], conf, latency))
        .unwrap();
    let mut total = 0.0;
    for mask in 0u32..(1u32 << k) {
        let right = mask.count_ones() as usize;
        let win = right > 1 || (right == 1 && (k == 1 || mask & (1 << first) != 0));
        if win {
            total += set
                .iter()
                .enumerate()
                .map(|(i, &m)| {
                    let c = conf[m] as f64;
                    if mask & (1 << i) != 0 { c } else { 1.0 - c }
                })
                .product::<f64>();
        }
    }
    total
}

proptest::proptest! {
    #[test]
    fn vote_probability_equals_enumeration(
        conf in proptest::collection::vec(0.0f32..=1.0, 1..11),
        lat in proptest::collection::vec(0.5f64..3.0, 10),
        take in proptest::collection::vec(proptest::bool::ANY, 10),
    ) {
        let n = conf.len();
        let mut set: Vec<usize> = (0..n).filter(|&m| take[m]).collect();
        if set.is_empty() {
            set.push(0);
        }
        // a coarse latency grid makes latency ties, so the confidence tie-break is exercised too
        let lat: Vec<f64> = lat.iter().map(|l| l.round()).collect();
        let dp = vote_success_probability(&set, &conf, &lat);
        let brute = enumerate(&set, &conf, &lat);
        proptest::prop_assert!((dp - brute).abs() < 1e-9, "{dp} vs {brute}");
    }
}

#[test]
fn vote_probability_handles_large_pools() {
    let conf: Vec<f32> = (0..64).map(|i| 0.3 + 0.01 * i as f32).collect();
    let lat = vec![1.0; 64];
    let set: Vec<usize> = (0..64).collect();
    let p = vote_success_probability(&set, &conf, &lat);
    assert!(p > 0.99 && p <= 1.0, "{p}");
    // a budget policy over 40 members keeps every prefix and must not overflow
    let conf40 = &conf[..40];
    let pool = PoolInfo::uniform(40);
    let s = Policy::Budget(Budget {
        latency: Some(1.0),
        ..Budget::default()
    })
    .select(conf40, &pool);
    assert!(!s.members.is_empty());
}

#[test]
fn parse_roundtrip() {
    for s in [
        "maxconf:3",
        "labelledmaxconf:2",
        "weightedmaxconf:1",
        "threshold:0.6",
        "budget:calls=2,latency=1.5",
    ] {
        assert_eq!(Policy::parse(s).unwrap().to_string(), s);
    }
    assert!(Policy::parse("maxconf:0").is_err());
    assert!(Policy::parse("nope").is_err());
}

mod ranked_tests {
    use super::*;

    #[test]
    fn a_fixed_ranking_replaces_the_confidence_order_only() {
        let pool = PoolInfo::uniform(3);
        let conf = [0.2f32, 0.9, 0.6];
        let r = [2usize, 0, 1];
        let p = Policy::MaxConf { s: 1 };
        assert_eq!(p.select(&conf, &pool).members, vec![1]);
        assert_eq!(p.select_ranked(&conf, &pool, Some(&r)).members, vec![2]);
        // weights still come from the confidences
        let w = Policy::WeightedMaxConf { s: 2 }.select_ranked(&conf, &pool, Some(&r));
        assert_eq!((w.members, w.weights), (vec![2, 0], Some(vec![0.6, 0.2])));
        // thresholds filter by confidence, ordered by the ranking
        let t = Policy::Threshold { tau: 0.5 }.select_ranked(&conf, &pool, Some(&r));
        assert_eq!(t.members, vec![2, 1]);
        // the reason says which order chose
        assert_eq!(p.select(&conf, &pool).reason, "top 1 by confidence");
        let ranked = p.select_ranked(&conf, &pool, Some(&r));
        assert_eq!(ranked.reason, "top 1 in the checkpoint's order");
        // vote ties follow the ranking when there is one
        assert_eq!(preference(&conf, Some(&r)), vec![2.0, 1.0, 3.0]);
        assert_eq!(preference(&conf, None), conf.to_vec());
        assert_eq!(preference(&conf, Some(&[1])), conf.to_vec(), "wrong length");
        let none = Policy::Threshold { tau: 0.95 }.select_ranked(&conf, &pool, Some(&r));
        assert_eq!(
            (none.members, none.reason.as_str()),
            (
                vec![2],
                "no member at p >= 0.95: the first in the checkpoint's order"
            )
        );
    }
}
