use super::*;

#[test]
fn neighbours_recover_each_topic_s_best_member() {
    // member 0 is best on arithmetic questions, member 1 on history questions
    let mut texts = Vec::new();
    let mut success = Vec::new();
    for i in 0..30 {
        texts.push(format!(
            "how many apples does sam have after buying {i} more"
        ));
        success.push(vec![1.0, if i % 3 == 0 { 1.0 } else { 0.0 }]);
        texts.push(format!(
            "which emperor ruled rome in the year {i} of the empire"
        ));
        success.push(vec![if i % 3 == 0 { 1.0 } else { 0.0 }, 1.0]);
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let nb = Neighbourhood::fit(&refs, &success, 20);
    let a = nb.rates("how many apples does kim have after buying 7 more");
    let h = nb.rates("which emperor ruled rome in the year 12");
    assert!(a[0] > a[1], "{a:?}");
    assert!(h[1] > h[0], "{h:?}");
    // the global rates are equal, so the constant order could not tell them apart
    assert_eq!(nb.global[0], nb.global[1]);
    assert_eq!(order_by(&blend(&a, &[0.5, 0.5], 0.0)), vec![0, 1]);
    assert_eq!(order_by(&blend(&h, &[0.5, 0.5], 0.0)), vec![1, 0]);
    // lambda = 1 is the classifier's own order
    assert_eq!(order_by(&blend(&h, &[0.9, 0.1], 1.0)), vec![0, 1]);
}

#[test]
fn dense_columns_give_the_same_rates_to_the_bit() {
    let words = [
        "the", "a", "of", "sum", "river", "king", "seven", "apples", "rome",
    ];
    let texts: Vec<String> = (0..200)
        .map(|i| {
            (0..6)
                .map(|w| words[(i * (w + 3) + w * w) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
                + &format!(" question {i}")
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let success: Vec<Vec<f32>> = (0..200)
        .map(|i| vec![(i % 3) as f32 / 2.0, (i % 5 == 0) as u8 as f32])
        .collect();
    let data = Neighbourhood::fit(&refs, &success, 10).data;
    let dense = Neighbourhood::build_with(data.clone(), DENSE_SHARE);
    let sparse = Neighbourhood::build_with(data, f32::INFINITY);
    let n_dense = dense
        .postings
        .get()
        .expect("built for the nearest-questions search")
        .values()
        .filter(|p| matches!(p, Postings::Dense(_)))
        .count();
    assert!(n_dense > 10, "the common words are stored dense: {n_dense}");
    for q in [
        "the king of rome",
        "seven apples and a river",
        "sum of the question 7",
    ] {
        assert_eq!(
            dense.rates_at(q, &[1, 10, 50]),
            sparse.rates_at(q, &[1, 10, 50]),
            "{q}"
        );
    }
}

#[test]
fn repeated_texts_are_indexed_once_and_the_data_round_trips() {
    let nb = Neighbourhood::fit(
        &["a b", "a b", "c d"],
        &[vec![1.0], vec![1.0], vec![0.0]],
        5,
    );
    assert_eq!(nb.data.texts, vec!["a b".to_string(), "c d".to_string()]);
    let json = serde_json::to_string(&nb.data).unwrap();
    let back = Neighbourhood::build(serde_json::from_str(&json).unwrap());
    assert_eq!(back.rates("a b"), nb.rates("a b"));
    // several neighbour counts in one pass, each as if asked alone
    let at = nb.rates_at("a b", &[1, 2]);
    assert_eq!(at[0], vec![(1.0 + 10.0 * 0.5) / 11.0]);
    assert_eq!(at[1], vec![(1.0 + 10.0 * 0.5) / 12.0]);
}

#[test]
fn task_centroid_search_answers_with_the_detected_task_s_rates() {
    let mut texts = Vec::new();
    let mut success = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..12 {
        // same topics in both tasks, different formats
        let topic = ["rivers", "kings", "apples"][i % 3];
        texts.push(format!("Question: what about {topic} number {i}?\nAnswer:"));
        success.push(vec![1.0, 0.0]);
        tasks.push(Some("arc"));
        texts.push(format!(
            "Tell me of {topic} {i}\nA. yes\nB. no\nC. maybe\nD. never"
        ));
        success.push(vec![0.0, 1.0]);
        tasks.push(Some("mmlu"));
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let nb =
        Neighbourhood::fit_with_tasks(&refs, &success, &tasks, 5).with_search(Search::TaskCentroid);
    assert!(nb.task_rates("anything").is_some());
    assert_eq!(nb.data.tasks, vec!["arc".to_string(), "mmlu".to_string()]);
    let q = "Tell me of rivers again\nA. one\nB. two\nC. three\nD. four";
    assert_eq!(nb.rates(q), vec![0.0, 1.0]);
    assert_eq!(nb.rates("Question: rivers?\nAnswer:"), vec![1.0, 0.0]);
    // stored and read back, the search and the tasks come with it
    let json = serde_json::to_string(&nb.data).unwrap();
    let back = Neighbourhood::build(serde_json::from_str(&json).unwrap());
    assert_eq!(back.data.search, Search::TaskCentroid);
    assert_eq!(back.rates(q), nb.rates(q));
    // read back as a centroid index, it skips the neighbour postings until one asks for them,
    // then answers the nearest-questions search as the index built with them
    assert!(back.postings.get().is_none(), "not built at load");
    assert!(nb.postings.get().is_some(), "built by the fit");
    assert_eq!(back.rates_at(q, &[1, 5]), nb.rates_at(q, &[1, 5]));
    assert!(back.postings.get().is_some());
    // a file written before tasks existed reads as the nearest-questions search
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    for f in ["tasks", "task_of", "search"] {
        old.as_object_mut().unwrap().remove(f);
    }
    let old = Neighbourhood::build(serde_json::from_value(old).unwrap());
    assert_eq!(old.data.search, Search::Nearest);
    assert!(old.task_rates(q).is_none());
    // a text without a task: no centroids, and the search falls back to the neighbours
    let mut partial = tasks.clone();
    partial[0] = None;
    let nb = Neighbourhood::fit_with_tasks(&refs, &success, &partial, 5)
        .with_search(Search::TaskCentroid);
    assert!(nb.task_rates(q).is_none());
    assert_eq!(nb.rates(q), nb.rates_at(q, &[5]).pop().unwrap());
}

#[test]
fn stored_data_names_what_is_wrong_with_it() {
    let texts = ["a b", "c d", "e f"];
    let success = [vec![1.0, 0.0], vec![0.0, 1.0], vec![0.5, 0.5]];
    let tasks = [Some("x"), Some("y"), Some("y")];
    let good = Neighbourhood::fit_with_tasks(&texts, &success, &tasks, 2)
        .with_search(Search::TaskCentroid)
        .data;
    assert_eq!(good.problem(), None);
    let broken = |f: &dyn Fn(&mut NeighbourhoodData)| {
        let mut d = good.clone();
        f(&mut d);
        d.problem().expect("refused")
    };
    assert!(broken(&|d| d.success.truncate(2)).contains("`success` needs one row"));
    assert!(broken(&|d| d.success[2] = vec![0.5]).contains("`success` row 2"));
    assert!(broken(&|d| d.success[1][0] = f32::NAN).contains("`success` row 1"));
    assert!(broken(&|d| d.task_of[1] = 7).contains("`task_of` entry 1"));
    assert!(
        broken(&|d| {
            d.task_of.pop();
        })
        .contains("one task per question")
    );
    assert!(broken(&|d| d.tasks.truncate(1)).contains("`tasks` (two or more names)"));
    assert!(
        broken(&|d| {
            d.tasks.clear();
            d.task_of.clear();
        })
        .contains("needs `tasks`")
    );
    // the nearest-questions search needs no tasks
    let mut plain = good.clone();
    plain.tasks.clear();
    plain.task_of.clear();
    plain.search = Search::Nearest;
    assert_eq!(plain.problem(), None);
}
