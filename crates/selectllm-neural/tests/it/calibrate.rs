use selectllm_neural::calibrate::{ece, fit_temperature, reliability, reliability_svg};

#[test]
fn temperature_undoes_overconfidence() {
    // True logits z/3 generate the outcomes; the model reports z (3x overconfident).
    let z: Vec<f32> = (0..400).map(|i| (i as f32 / 400.0 - 0.5) * 12.0).collect();
    let y: Vec<f32> = z
        .iter()
        .enumerate()
        .map(|(i, z)| {
            let p = 1.0 / (1.0 + (-z / 3.0).exp());
            // deterministic "sampling": a low-discrepancy sequence
            f32::from(((i as f32 * 0.618_034) % 1.0) < p)
        })
        .collect();
    let t = fit_temperature(&z, &y);
    assert!((2.0..4.5).contains(&t), "temperature {t}");
    let before: Vec<f32> = z.iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect();
    let after: Vec<f32> = z.iter().map(|z| 1.0 / (1.0 + (-z / t).exp())).collect();
    assert!(ece(&after, &y) < ece(&before, &y));
    let svg = reliability_svg(
        "t",
        &[
            ("before", reliability(&before, &y, 10)),
            ("after", reliability(&after, &y, 10)),
        ],
    );
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    assert_eq!(fit_temperature(&[], &[]), 1.0);
}

#[test]
fn ece_of_perfect_calibration_is_small() {
    let p = vec![0.25f32; 8];
    let y = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    assert!(ece(&p, &y) < 1e-6);
}
