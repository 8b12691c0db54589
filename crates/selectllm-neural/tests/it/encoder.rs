use selectllm_neural::cosine;

use crate::encoder;

#[test]
fn reference_cosine_similarities() {
    let e = encoder();
    let v = e
        .embed(&[
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
        ])
        .expect("embed");
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].len(), 384);
    // Published sentence-transformers figures for all-MiniLM-L6-v2.
    for (a, b, want) in [(0, 1, 0.6660), (0, 2, 0.1046), (1, 2, 0.1411)] {
        let got = cosine(&v[a], &v[b]);
        assert!(
            (got - want).abs() < 1e-3,
            "cos({a},{b}) = {got}, want {want}"
        );
    }
}
