use selectllm_neural::{Encoder, Packing, cosine};

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

#[test]
fn long_and_short_inputs_are_handled() {
    let e = encoder();
    let long = "word ".repeat(20_000); // 100k characters: truncated to max_len tokens
    let ids = e.tokenize(&[&long, ""]).expect("tokenize");
    assert_eq!(ids[0].len(), 128);
    assert_eq!(ids[1].len(), 2, "an empty text is [CLS] [SEP]");
    let v = e.embed(&[&long]).expect("embed long");
    assert!(v[0].iter().all(|x| x.is_finite()));
}

#[test]
fn batched_and_single_embeddings_agree() {
    let e = encoder();
    let texts = [
        "A short one.",
        "A somewhat longer question about apples and oranges?",
        "Hi",
    ];
    let batched = e.embed(&texts).expect("batch");
    for (t, b) in texts.iter().zip(&batched) {
        let single = e.embed(&[t]).expect("single");
        assert!(
            cosine(&single[0], b) > 0.9999,
            "padding changed the embedding of {t:?}"
        );
    }
}

fn scratch_encoder(config_edit: impl Fn(&mut serde_json::Value), skip: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = crate::encoder_dir();
    for f in ["tokenizer.json", "model.safetensors"] {
        if f != skip {
            std::os::unix::fs::symlink(src.join(f), dir.path().join(f)).expect("symlink");
        }
    }
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("config.json")).expect("config"))
            .expect("json");
    config_edit(&mut cfg);
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).expect("write");
    dir
}

#[test]
fn bad_encoder_folders_give_clear_errors() {
    let missing = scratch_encoder(|_| {}, "model.safetensors");
    let err = Encoder::load(missing.path(), 128)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("missing model.safetensors"), "{err}");

    let small_vocab = scratch_encoder(|c| c["vocab_size"] = 1000.into(), "");
    let err = Encoder::load(small_vocab.path(), 128)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("do not belong together"), "{err}");

    let wrong_shape = scratch_encoder(|c| c["intermediate_size"] = 1024.into(), "");
    let err = Encoder::load(wrong_shape.path(), 128)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("weights do not match config.json"), "{err}");

    let too_long = Encoder::load(&crate::encoder_dir(), 4096)
        .err()
        .expect("must fail")
        .to_string();
    assert!(too_long.contains("max_position_embeddings"), "{too_long}");

    let garbage = scratch_encoder(|c| *c = serde_json::json!({"nonsense": true}), "");
    let err = Encoder::load(garbage.path(), 128)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn packed_embeddings_equal_padded_ones() {
    let e = encoder();
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    let texts = [
        "",
        "Hi",
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
        long.as_str(),
        "Which of the following is a prime number?",
    ];
    let mut ids = e.tokenize(&texts).expect("tokenize");
    ids.push(vec![101]); // a single token ([CLS])
    let lens: Vec<usize> = ids.iter().map(Vec::len).collect();
    assert_eq!(lens.iter().max(), Some(&128), "{lens:?}");
    assert_eq!(lens.iter().min(), Some(&1), "{lens:?}");
    let packed = e.embed_tokens(&ids, Packing::Packed).expect("packed");
    let padded = e.embed_tokens(&ids, Packing::Padded).expect("padded");
    assert_eq!(packed.len(), ids.len());
    for (i, (a, b)) in packed.iter().zip(&padded).enumerate() {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-5,
            "text {i} ({} tokens): max |packed - padded| = {diff}",
            lens[i]
        );
    }
    // Order is preserved: each text alone gives its own row of the batch.
    for (i, row) in ids.iter().enumerate() {
        let single = e
            .embed_tokens(std::slice::from_ref(row), Packing::Packed)
            .expect("single");
        let diff = single[0]
            .iter()
            .zip(&packed[i])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-5,
            "text {i}: batch row differs from the text alone by {diff}"
        );
    }
}
