use super::raster::rasterize;
use super::render::BACKGROUND;
use super::xml_check::check_xml;
use super::*;

fn pt(x: f64, y: f64) -> Point {
    Point::new(format!("({x},{y})"), x, y, "g")
}

#[test]
fn pareto_front_hand_cases() {
    assert!(pareto_front(&[]).is_empty());
    assert_eq!(pareto_front(&[pt(1.0, 0.5)]), vec![0]);
    // dominated in both, in one with a tie, and a non-finite point
    let pts = [
        pt(3.0, 0.80),
        pt(1.0, 0.60),
        pt(2.0, 0.55), // dominated by (1, 0.60)
        pt(2.0, 0.70),
        pt(4.0, 0.80),      // same y, more cost: dominated by (3, 0.80)
        pt(1.0, 0.60),      // identical to index 1: only the first counts
        pt(f64::NAN, 0.99), // ignored
        pt(5.0, 0.90),
    ];
    assert_eq!(pareto_front(&pts), vec![1, 3, 0, 7]);
    // equal x: only the best y
    assert_eq!(pareto_front(&[pt(1.0, 0.2), pt(1.0, 0.3)]), vec![1]);
    // a cheaper, better point dominates everything
    assert_eq!(
        pareto_front(&[pt(2.0, 0.5), pt(3.0, 0.4), pt(1.0, 0.9)]),
        vec![2]
    );
}

fn demo_points() -> Vec<Point> {
    // synthetic values, only to exercise the layout (not results)
    let mut pts = Vec::new();
    for (name, acc) in [
        ("mistral", 0.42),
        ("metamath", 0.66),
        ("zephyr", 0.35),
        ("llama3", 0.72),
    ] {
        pts.push(
            Point::new(format!("single:{name}"), 1.0, acc, "single")
                .with_interval(acc - 0.025, acc + 0.025),
        );
    }
    for s in 1..=5 {
        let s_f = f64::from(s);
        pts.push(Point::new(
            format!("maxconf:{s}"),
            s_f,
            0.70 + 0.012 * s_f,
            "maxconf",
        ));
        pts.push(Point::new(
            format!("weightedmaxconf:{s}"),
            s_f,
            0.71 + 0.014 * s_f - 0.001 * s_f * s_f,
            "weightedmaxconf",
        ));
        pts.push(Point::new(
            format!("random:{s}"),
            s_f,
            0.50 + 0.03 * s_f,
            "random",
        ));
    }
    pts.push(Point::new("all", 7.0, 0.77, "all"));
    pts.push(Point::new("oracle <&>", 7.0, 0.861, "oracle"));
    pts.push(Point::new("threshold", 2.6, 0.745, "threshold"));
    pts
}

#[test]
fn svg_is_well_formed_and_escaped() {
    let chart = accuracy_chart(
        "GSM8K \"demo\" <synthetic> & co",
        "mean calls",
        demo_points(),
    );
    let doc = svg(&chart);
    let n = check_xml(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
    assert!(n > 50, "only {n} elements");
    assert!(doc.contains("oracle &lt;&amp;&gt;"));
    assert!(check_xml("<a><b></a></b>").is_err());
    assert!(check_xml("<a x=\"1 & 2\"/>").is_err());
    // degenerate charts still make valid documents
    for chart in [
        Chart::new("", "", ""),
        accuracy_chart("one", "calls", vec![pt(1.0, 1.0)]),
        accuracy_chart("nan", "calls", vec![pt(f64::NAN, f64::INFINITY)]),
        reliability_chart("r", &[]),
        Chart::new("a very long title ".repeat(20), "x", "y"),
    ] {
        check_xml(&svg(&chart)).unwrap_or_else(|e| panic!("{e}"));
        assert!(png(&chart, 300, 200).is_ok());
    }
}

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = ::png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    buf.truncate(info.buffer_size());
    assert_eq!(info.color_type, ::png::ColorType::Rgb);
    (info.width, info.height, buf)
}

/// Pixels that differ between two renders of the same size: their bounding box.
fn diff_box(a: &[u8], b: &[u8], w: u32) -> Option<[u32; 4]> {
    let mut bx: Option<[u32; 4]> = None;
    for (i, (pa, pb)) in a.chunks(3).zip(b.chunks(3)).enumerate() {
        if pa != pb {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let e = bx.get_or_insert([x, y, x, y]);
            *e = [e[0].min(x), e[1].min(y), e[2].max(x), e[3].max(y)];
        }
    }
    bx
}

#[test]
fn png_decodes_and_draws_points_where_they_are() {
    let chart_with = |x: f64, y: f64| {
        let mut c = Chart::new("t", "x", "y");
        (c.x_range, c.y_range) = (Some((0.0, 1.0)), Some((0.0, 1.0)));
        c.series.push(Series::new(
            "",
            SeriesKind::Scatter,
            vec![Point::new("", x, y, "")],
        ));
        c
    };
    let (w, h) = (640, 400);
    let empty = png(
        &Chart {
            series: vec![],
            ..chart_with(0.0, 0.0)
        },
        w,
        h,
    )
    .expect("png");
    let (ew, eh, empty) = decode(&empty);
    assert_eq!((ew, eh), (w, h));
    let (_, _, low_left) = decode(&png(&chart_with(0.25, 0.25), w, h).expect("png"));
    let (_, _, up_right) = decode(&png(&chart_with(0.75, 0.75), w, h).expect("png"));
    let a = diff_box(&empty, &low_left, w).expect("a marker is drawn");
    let b = diff_box(&empty, &up_right, w).expect("a marker is drawn");
    // a small marker, and x grows rightwards, y upwards
    assert!(a[2] - a[0] < 20 && a[3] - a[1] < 20, "{a:?}");
    assert!(b[0] > a[2] && b[3] < a[1], "{a:?} {b:?}");
    // the decoded PNG is the canvas, and the marker's centre is not background
    let canvas = rasterize(&chart_with(0.25, 0.25), w, h);
    let (cx, cy) = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2);
    assert_ne!(canvas.pixel(cx, cy), BACKGROUND);
    let i = 3 * (cy * w + cx) as usize;
    assert_eq!(&low_left[i..i + 3], &canvas.pixel(cx, cy));
}

#[test]
fn charts_have_the_expected_series() {
    let c = accuracy_chart("t", "calls", demo_points());
    assert_eq!(c.series[0].name, "Pareto front");
    let xs: Vec<f64> = c.series[0].points.iter().map(|p| p.x).collect();
    assert_eq!(xs, [1.0, 2.0, 2.6, 4.0, 5.0, 7.0]);
    assert!(c.series[0].points.iter().all(|p| p.label.is_empty()));
    let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names[1..4], ["single", "maxconf", "weightedmaxconf"]);
    let r = reliability_chart(
        "r",
        &[
            ("before", &[(0.1, 0.2, 10), (0.5, 0.4, 0)]),
            ("after", &[(0.1, 0.1, 10)]),
        ],
    );
    assert_eq!(r.series.len(), 3);
    assert_eq!(r.series[1].points.len(), 1, "empty bins are skipped");
}

#[test]
fn write_makes_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::env::var_os("SELECTLLM_PLOT_DEMO").map_or(dir.path().to_path_buf(), Into::into);
    let [s, p] = write(
        &out.join("accuracy"),
        &accuracy_chart("GSM8K demo (synthetic values)", "mean calls", demo_points()),
    )
    .expect("write");
    assert!(s.ends_with("accuracy.svg") && p.ends_with("accuracy.png"));
    let (w, h, _) = decode(&std::fs::read(&p).expect("read png"));
    assert_eq!((w, h), (1600, 1000));
    let before: Vec<_> = (0..10)
        .map(|i| {
            (
                (f64::from(i) + 0.5) / 10.0,
                (f64::from(i) + 0.5) / 10.0 * 0.8,
                20,
            )
        })
        .collect();
    let after: Vec<_> = (0..10)
        .map(|i| {
            (
                (f64::from(i) + 0.5) / 10.0,
                (f64::from(i) + 0.5) / 10.0 * 0.97,
                20,
            )
        })
        .collect();
    write(
        &out.join("reliability"),
        &reliability_chart(
            "calibration demo (synthetic values)",
            &[("before", &before), ("after", &after)],
        ),
    )
    .expect("write");
}

fn row(name: &str, calls: f64, accuracy: f64) -> crate::eval::Row {
    crate::eval::Row {
        name: name.to_string(),
        kind: if name.starts_with("single:") {
            crate::eval::RowKind::Single
        } else {
            crate::eval::RowKind::Policy
        },
        accuracy,
        ci_low: accuracy - 0.02,
        ci_high: accuracy + 0.02,
        accuracy_low: None,
        accuracy_high: None,
        simulated: false,
        calls,
        latency_sum: calls,
        latency_max: 1.0,
        latency_max_p95: 1.0,
        cost: None,
        detail: String::new(),
        tasks: Default::default(),
        macro_accuracy: None,
        macro_accuracy_low: None,
        macro_accuracy_high: None,
        per_question: Vec::new(),
    }
}

#[test]
fn report_plots_are_written() {
    use crate::eval::metrics::{CalibrationBin, F1};
    let f1 = F1 {
        micro: 0.5,
        macro_: 0.5,
        weighted: 0.5,
    };
    let mut classifier = crate::eval::ClassifierMetrics::from_f1("lexical".into(), f1);
    classifier.reliability = vec![CalibrationBin {
        confidence: 0.3,
        accuracy: 0.25,
        count: 10,
    }];
    let report = crate::eval::Report {
        dataset: "toy".into(),
        members: vec!["org/a".into(), "b".into()],
        n_test: 10,
        protocol: String::new(),
        vote: String::new(),
        vote_mode: String::new(),
        latency_source: String::new(),
        classifier,
        rows: vec![
            row("single:org/a", 1.0, 0.6),
            row("single:b", 1.0, 0.5),
            row("maxconf:2", 2.0, 0.7),
            row("oracle", 2.0, 0.8),
        ],
        tasks: Vec::new(),
        sweep: Vec::new(),
        notes: Vec::new(),
        timing: Default::default(),
    };
    let pts = super::report::report_points(&report, |r| Some(r.calls));
    let labels: Vec<&str> = pts.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        ["a", "b", "", "oracle"],
        "short member names; front rows named"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write_report_plots(dir.path(), &report).expect("plots");
    for f in [
        "accuracy-calls.svg",
        "accuracy-calls.png",
        "reliability.svg",
        "reliability.png",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    // latency equal to calls and no cost: no latency or cost plot
    assert!(!dir.path().join("accuracy-latency.svg").exists());
    assert!(!dir.path().join("accuracy-cost.svg").exists());
}

#[test]
fn coincident_markers_are_dodged_apart_alternating_sides() {
    use super::render::dodge;
    let r = 10.0;
    let mut drawn = Vec::new();
    let mut shifts = Vec::new();
    for _ in 0..4 {
        shifts.push(dodge(&drawn, (100.0, 50.0), r));
        drawn.push((100.0, 50.0));
    }
    assert_eq!(
        shifts,
        vec![0.0, 12.0, -12.0, 0.0],
        "at most one radius-and-a-bit aside"
    );
    // a marker a radius away is not moved
    assert_eq!(dodge(&drawn, (110.0, 50.0), r), 0.0);
}
