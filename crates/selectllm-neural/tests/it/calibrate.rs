use selectllm_core::metrics::ece;
use selectllm_neural::calibrate::fit_temperature;

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
    let y = [y];
    assert!(ece(&[after], &y) < ece(&[before], &y));
    assert_eq!(fit_temperature(&[], &[]), 1.0);
}

#[test]
fn ece_of_perfect_calibration_is_small() {
    let p = vec![0.25f32; 8];
    let y = [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    assert!(ece(&[p], &[y.to_vec()]) < 1e-6);
}
