//! A miniature of every kind of study, run end to end through the `experiments` binary on real
//! MNIST: a test-error study, a training-MSE study and a table, each tiny (1 seed, 2 epochs,
//! a few hundred images). Checks the CSVs, figures, result files and report they produce, and
//! (system tier) the runs' TensorBoard event files read by TensorBoard itself.

use std::path::Path;
use std::process::Command;

use experiments::results::StudyResult;
use experiments::study::Study;

#[path = "../../lenet/tests/support/tensorboard.rs"]
mod tensorboard;
use tensorboard::{curve, tensorboard_dump};
#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

const CURVES: &str = r#"
name = "mini_batch"
title = "Mini: batch size"
claim = "Smaller batches converge faster."
curve = "test_error"
seeds = [7]
levels = [95.0]
[base]
epochs = 2
train_size = 300
test_size = 100
[[variant]]
label = "batch 20"
set = { batch_size = 20 }
[[variant]]
label = "batch 50"
set = { batch_size = 50, learning_rate = 0.5 }
seeds = [7, 8]
"#;

/// A curve study on a validation split (`holdout`): the report says so.
const VALIDATION: &str = r#"
name = "mini_validation"
title = "Mini: validation"
claim = "Chosen on held-out training images."
curve = "test_error"
seeds = [5]
few_seeds_reason = "a miniature"
[base]
epochs = 1
holdout = 1000
train_size = 300
test_size = 100
batch_size = 20
[[variant]]
label = "held out"
"#;

const MSE: &str = r#"
name = "mini_mse"
title = "Mini: MSE"
claim = "The MSE falls."
curve = "train_mse"
seeds = [3]
[base]
epochs = 2
train_size = 200
test_size = 100
batch_size = 25
[[variant]]
label = "lr 1.0"
"#;

const TABLE: &str = r#"
name = "mini_table"
title = "Mini: table"
claim = "The CNN wins."
[[protocol]]
label = "300 / 100"
train_size = 300
test_size = 100
seeds = [1, 2]
[[protocol]]
label = "400 / 100"
train_size = 400
test_size = 100
seeds = [1]
skip = [{ classifier = "k-NN", reason = "too slow here" }]
[[classifier]]
name = "1-NN"
paper_error = 15.0
model = { method = "nearest_neighbour", k = [1] }
[[classifier]]
name = "k-NN"
model = { method = "nearest_neighbour", k = [1, 3], validation_fraction = 0.2 }
[[classifier]]
name = "CNN"
paper_error = 0.98
model = { method = "cnn", set = { epochs = 40, batch_size = 10 } }
"#;

/// The SVM of Table 1, through libsvm's programs (the system tier: they must be installed).
const SVM_TABLE: &str = r#"
name = "mini_svm"
title = "Mini: SVM"
claim = "libsvm runs."
[[protocol]]
label = "300 / 100"
train_size = 300
test_size = 100
seeds = [1]
[[classifier]]
name = "SVM"
deskew = true
model = { method = "svm", c = [1.0, 10.0], gamma = [0.05], max_train = 200 }
"#;

/// Runs `experiments all` on these study definitions (file name, text) in a new folder;
/// returns the folder (results in `results/`, the report in `REPORT.md`).
fn run_studies(definitions: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("defs");
    std::fs::create_dir(&folder).unwrap();
    for (name, text) in definitions {
        std::fs::write(folder.join(name), text).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_experiments"))
        .arg("all")
        .arg("--data-dir")
        .arg(mnist_dir())
        .arg("--work-dir")
        .arg(root.path().join("work"))
        .arg("--definitions")
        .arg(&folder)
        .arg("--results")
        .arg(root.path().join("results"))
        .arg("--report")
        .arg(root.path().join("REPORT.md"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    root
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

#[test]
fn a_miniature_of_each_study_kind_runs_end_to_end() {
    let root = run_studies(&[
        ("a_curves.toml", CURVES),
        ("b_mse.toml", MSE),
        ("c_table.toml", TABLE),
        ("d_validation.toml", VALIDATION),
    ]);
    let results = root.path().join("results");
    let report = root.path().join("REPORT.md");

    // Curve study: a per-epoch CSV per run, a summary with both lines, the figure.
    let dir = results.join("mini_batch");
    for run in ["batch-20-seed7", "batch-50-seed7", "batch-50-seed8"] {
        let (header, rows) = read_csv(&dir.join("runs").join(format!("{run}.csv")));
        assert_eq!(
            header,
            [
                "epoch",
                "train_loss",
                "train_error",
                "test_loss",
                "test_error",
                "seconds"
            ]
        );
        assert_eq!(rows.len(), 2, "{run}: one row per epoch");
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(number(&row[0]), (i + 1) as f64);
            let error = number(&row[4]);
            assert!((0.0..=100.0).contains(&error), "{run}: test error {error}");
            assert!(number(&row[1]) > 0.0 && number(&row[1]).is_finite());
        }
    }
    let (header, rows) = read_csv(&dir.join("summary.csv"));
    assert_eq!(header, ["label", "x", "mean", "min", "max"]);
    assert_eq!(rows.len(), 4, "2 variants x 2 epochs");
    for row in &rows {
        let (mean, min, max) = (number(&row[2]), number(&row[3]), number(&row[4]));
        if row[0] == "batch 20" {
            // One seed: the band collapses onto the mean.
            assert_eq!((mean, mean), (min, max));
        } else {
            // The variant's own two seeds.
            assert!(min <= mean && mean <= max, "{row:?}");
        }
    }
    let png = image::open(dir.join("mini_batch.png")).unwrap();
    assert_eq!((png.width(), png.height()), experiments::plot::SIZE);
    let svg = std::fs::read_to_string(dir.join("mini_batch.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for text in ["batch 20", "batch 50", "epoch", "test error (%)"] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    let result = StudyResult::load(&dir).unwrap();
    assert_eq!(result.lines.len(), 2);
    assert_eq!(result.lines[0].runs.len(), 1);
    let seeds: Vec<u64> = result.lines[1].runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, [7, 8]);
    // The last point of each line is the mean of its runs' final test errors, re-measured
    // after training; every run recorded each epoch's time.
    for line in &result.lines {
        let last = line.points.last().unwrap().mean;
        let mean =
            line.runs.iter().map(|r| r.final_test_error).sum::<f64>() / line.runs.len() as f64;
        assert!((last - mean).abs() < 1e-6, "{}", line.label);
        for run in &line.runs {
            assert_eq!(run.epoch_seconds.len(), 2);
            assert!(run.epoch_seconds.iter().all(|s| *s > 0.0));
            assert!(run.epoch_seconds.iter().sum::<f64>() <= run.seconds);
        }
    }
    assert!(!result.provenance.git_revision.is_empty() && result.provenance.wall_seconds > 0.0);

    // MSE study: per-batch CSV, x = samples seen in steps of the batch size.
    let dir = results.join("mini_mse");
    let (header, rows) = read_csv(&dir.join("runs/lr-1p0-seed3-batches.csv"));
    assert_eq!(header, ["epoch", "samples_seen", "loss"]);
    assert_eq!(rows.len(), 2 * 200 / 25);
    let seen: Vec<f64> = rows.iter().map(|r| number(&r[1])).collect();
    assert_eq!(seen.first(), Some(&25.0));
    assert_eq!(seen.last(), Some(&400.0));
    assert!(seen.windows(2).all(|w| w[1] - w[0] == 25.0));
    let result = StudyResult::load(&dir).unwrap();
    assert_eq!(result.lines[0].points.len(), rows.len());
    assert!(dir.join("mini_mse.png").is_file() && dir.join("mini_mse.svg").is_file());

    // Table: every classifier on every protocol, the skipped one marked, errors in range.
    let result = StudyResult::load(&results.join("mini_table")).unwrap();
    assert_eq!(result.table.len(), 6);
    for row in &result.table {
        let skipped = row.protocol == "400 / 100" && row.classifier == "k-NN";
        assert_eq!(
            row.skipped.is_some(),
            skipped,
            "{} on {}",
            row.classifier,
            row.protocol
        );
        let seeds = if skipped {
            0
        } else if row.protocol == "300 / 100" {
            2
        } else {
            1
        };
        assert_eq!(
            row.errors.len(),
            seeds,
            "{} on {}",
            row.classifier,
            row.protocol
        );
        for error in &row.errors {
            // Far better than chance (90 %) even at this size; the CNN's 1200 SGD steps take
            // it well past the plateau at the class prior.
            assert!(
                *error < 60.0,
                "{} on {}: {error} %",
                row.classifier,
                row.protocol
            );
        }
    }
    // The CNN's table entry is its run's last epoch.
    let cnn = result
        .table
        .iter()
        .find(|r| r.classifier == "CNN" && r.protocol == "400 / 100")
        .unwrap();
    let (_, epochs) = read_csv(&results.join("mini_table/runs/400-100-cnn-seed1.csv"));
    assert_eq!(epochs.len(), 40);
    assert!((number(&epochs[39][4]) - cnn.errors[0]).abs() < 1e-6);
    let (header, rows) = read_csv(&results.join("mini_table/summary.csv"));
    assert_eq!(header[..3], ["protocol", "classifier", "paper_error"]);
    assert_eq!(rows.len(), 6);

    // The report has every study, its claim, its figure and the table.
    let text = std::fs::read_to_string(&report).unwrap();
    for needle in [
        "## Mini: batch size",
        "Smaller batches converge faster.",
        "(1-2 seeds; test error % after the epoch",
        "(1 seed; validation error % after the epoch",
        // A 2-epoch study's table shows its two epochs, no empty columns for 5, 10 and 20.
        "| | epoch 1 | epoch 2 | first epoch with mean ≤ 95 % |\n|---|---|---|---|\n",
        "first epoch with mean ≤ 95 % |",
        "- batch 50: 7: ",
        "mini_batch/mini_batch.png",
        "## Mini: MSE",
        "## Mini: table",
        "| 1-NN | – | 15.00 |",
        "too slow here",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
}

/// `experiments` with `args` from `root`; its stdout.
fn experiments_in(root: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_experiments"))
        .current_dir(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn shards_split_a_study_and_the_report_merges_them_into_the_unsharded_numbers() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("defs")).unwrap();
    std::fs::write(root.path().join("defs/a_curves.toml"), CURVES).unwrap();
    let mnist = mnist_dir();
    let files = |results: &'static str| {
        vec![
            "--definitions",
            "defs",
            "--results",
            results,
            "--report",
            "REPORT.md",
        ]
    };
    let run = |results: &'static str, shard: Option<&str>| {
        let mut args = files(results);
        args.extend([
            "run",
            "defs/a_curves.toml",
            "--data-dir",
            mnist.to_str().unwrap(),
            "--work-dir",
            "work",
        ]);
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        experiments_in(root.path(), &args)
    };
    let report = |results: &'static str| {
        let mut args = files(results);
        args.push("report");
        experiments_in(root.path(), &args)
    };
    let runs = |results: &str| -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(root.path().join(results).join("mini_batch/runs"))
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
        names.sort();
        names
    };
    // Shard 0 of 2: runs 0 and 2 of the three (batch 20 seed 7, batch 50 seed 8), nothing of
    // the study's own files; the report names the run not finished.
    run("sharded", Some("0/2"));
    assert_eq!(
        runs("sharded"),
        [
            "batch-20-seed7.csv",
            "batch-20-seed7.json",
            "batch-50-seed8.csv",
            "batch-50-seed8.json"
        ]
    );
    let dir = root.path().join("sharded/mini_batch");
    assert!(!dir.join("result.json").exists() && !dir.join("summary.csv").exists());
    let partial = report("sharded");
    assert!(
        partial.contains("mini_batch: 1 of 3 runs not finished: batch-50-seed7"),
        "{partial}"
    );
    // Run again, shard 0 finds its runs finished and leaves them, also one saved before a
    // setting existed (here --resolution, gone from its saved configuration): a new setting's
    // default changes nothing.
    let saved = dir.join("runs/batch-20-seed7.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let config = json["config"]
        .as_object_mut()
        .expect("a saved configuration");
    assert!(config.remove("resolution").is_some());
    std::fs::write(&saved, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let modified = || std::fs::metadata(&saved).unwrap().modified().unwrap();
    let before = modified();
    run("sharded", Some("0/2"));
    assert_eq!(before, modified(), "a finished run was run again");
    // Shard 1, then the merge: the unsharded run's numbers.
    run("sharded", Some("1/2"));
    assert!(report("sharded").contains("mini_batch: merged 3 runs"));
    run("whole", None);
    let (sharded, whole) = (
        StudyResult::load(&dir).unwrap(),
        StudyResult::load(&root.path().join("whole/mini_batch")).unwrap(),
    );
    for (s, w) in sharded.lines.iter().zip(&whole.lines) {
        assert_eq!(s.points, w.points, "{}", s.label);
        let finals = |l: &experiments::results::Line| -> Vec<(u64, f64, f64)> {
            l.runs
                .iter()
                .map(|r| (r.seed, r.final_test_error, r.final_train_loss))
                .collect()
        };
        assert_eq!(finals(s), finals(w));
    }
    assert_eq!(runs("sharded"), runs("whole"));
}

#[test]
#[ignore = "system tier: needs Python with tensorboard; .ci/run installs it and runs it"]
fn a_studys_runs_read_in_tensorboard_as_their_csvs_with_their_settings() {
    let root = run_studies(&[("a_curves.toml", CURVES)]);
    let work = root.path().join("work/mini_batch");
    let runs = ["batch-20-seed7", "batch-50-seed7", "batch-50-seed8"];
    let folders: Vec<_> = runs.iter().map(|run| work.join(run)).collect();
    let dump = tensorboard_dump(&folders);
    for (run, folder) in runs.iter().zip(&folders) {
        let found = &dump[folder.to_str().unwrap()];
        let (_, rows) = read_csv(
            &root
                .path()
                .join("results/mini_batch/runs")
                .join(format!("{run}.csv")),
        );
        let config = lenet::TrainingConfig::load_from(folder).unwrap();
        let images = config.train_size.unwrap() as i64;
        // Every epoch's scalar equals the CSV's (as f32, what an event holds), at the images
        // seen by the end of that epoch.
        for (tag, column) in [
            ("loss/train", 1),
            ("error/train", 2),
            ("loss/test", 3),
            ("error/test", 4),
        ] {
            let expected: Vec<(i64, f32)> = rows
                .iter()
                .map(|row| {
                    let epoch: i64 = row[0].parse().unwrap();
                    (epoch * images, number(&row[column]) as f32)
                })
                .collect();
            let found: Vec<(i64, f32)> = curve(found, tag)
                .into_iter()
                .map(|(step, value)| (step, value as f32))
                .collect();
            assert_eq!(found, expected, "{run}: {tag}");
        }
        // The HParams session: the run's settings, and its end.
        let start = &found["hparams"]["_hparams_/session_start_info"]["sessionStartInfo"];
        let hparams = &start["hparams"];
        assert_eq!(
            hparams["batch_size"].as_f64(),
            Some(config.batch_size as f64),
            "{run}: {start}"
        );
        assert_eq!(hparams["seed"].as_f64(), Some(config.seed as f64));
        assert_eq!(
            hparams["learning_rate"].as_f64(),
            Some(config.learning_rate)
        );
        assert_eq!(hparams["subsampling"], "Mean");
        assert_eq!(hparams["deskew"], false);
        assert!(
            hparams.get("holdout").is_none(),
            "unset settings are not listed"
        );
        assert!(hparams.get("remap").is_none(), "nor empty lists");
        let end = &found["hparams"]["_hparams_/session_end_info"]["sessionEndInfo"];
        assert_eq!(end["status"], "STATUS_SUCCESS", "{run}: {end}");
    }
}

#[test]
#[ignore = "system tier: needs libsvm's svm-train and svm-predict; .ci/run installs them and runs it"]
fn the_svm_baseline_runs_through_libsvm() {
    let root = run_studies(&[("svm.toml", SVM_TABLE)]);
    let result = StudyResult::load(&root.path().join("results/mini_svm")).unwrap();
    assert_eq!(result.table.len(), 1);
    let row = &result.table[0];
    assert_eq!((row.classifier.as_str(), row.errors.len()), ("SVM", 1));
    // 200 deskewed training images: far better than chance (90 %).
    assert!(row.errors[0] < 60.0, "SVM: {} %", row.errors[0]);
}

#[test]
fn bad_definitions_are_refused_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            CURVES.replace("batch_size = 20", "batch_sise = 20"),
            "batch_sise",
        ),
        (
            CURVES.replace("batch_size = 20", "learning_rate = -1.0"),
            "lr",
        ),
        (CURVES.replace("seeds = [7]", "seeds = []"), "seeds"),
        (CURVES.replace("seeds = [7, 8]", "seeds = [8, 8]"), "seeds"),
        (
            CURVES.replace("seeds = [7]", "seeds = [7]\nfew_seeds_reason = \" \""),
            "few_seeds_reason",
        ),
        (
            CURVES
                .replace(
                    "seeds = [7]",
                    "seeds = [1, 2, 3]\nfew_seeds_reason = \"slow\"",
                )
                .replace("seeds = [7, 8]", "seeds = [4, 5, 6]"),
            "few_seeds_reason",
        ),
        (
            CURVES.replace("levels = [95.0]", "levels = [120.0]"),
            "levels",
        ),
        (
            CURVES.replace("label = \"batch 50\"", "label = \"batch 20\""),
            "label used twice",
        ),
        // Labels that differ only in what a run's name drops: one run file for two lines.
        (
            CURVES.replace("label = \"batch 50\"", "label = \"Batch 20\""),
            "\"batch 20\" and \"Batch 20\"",
        ),
        (
            CURVES.replace("label = \"batch 50\"", "label = \"batch_20\""),
            "both name the runs batch-20-*",
        ),
        (
            CURVES.replace("label = \"batch 50\"", "label = \"λ\""),
            "needs a letter or digit",
        ),
        (
            TABLE.replace("label = \"400 / 100\"", "label = \"300-100\""),
            "protocols \"300 / 100\" and \"300-100\"",
        ),
        (TABLE.replace("k = [1, 3]", "k = [0]"), "k:"),
        (
            TABLE
                .replace("\"too slow here\"", "\"x\"")
                .replace("classifier = \"k-NN\"", "classifier = \"k-NM\""),
            "k-NM",
        ),
        (
            SVM_TABLE.replace("gamma = [0.05]", "gamma = [-1.0]"),
            "gamma",
        ),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let error = Study::load(&path).unwrap_err().to_string();
        assert!(error.contains(&format!("bad{i}.toml")), "{error}");
        assert!(
            error.contains(field),
            "case {i}: {error} should name {field}"
        );
    }
}

#[test]
fn the_committed_definitions_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let paths = experiments::study::definitions_in(&dir).unwrap();
    assert!(paths.len() >= 5, "{paths:?}");
    for path in paths {
        let study = Study::load(&path).unwrap();
        if let Some(curves) = study.curves() {
            let fewest = curves.fewest_seeds();
            assert!(
                fewest >= experiments::study::MIN_SEEDS || curves.few_seeds_reason.is_some(),
                "{}: a line runs {fewest} seeds; run at least {} or say why in few_seeds_reason",
                study.name,
                experiments::study::MIN_SEEDS
            );
        }
    }
}
