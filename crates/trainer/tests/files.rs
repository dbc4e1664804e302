//! Files and folders as a careful and a clumsy user meet them: two runs into one folder,
//! inputs that are not regular files, outputs onto links, devices and existing files, signals
//! in the middle of a write, a closed pipe.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/trainer.rs"]
mod trainer;
use trainer::{run, trainer};
#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/model")
}

/// A failed command: status 1, no panic, one `error:` line naming `needle`.
fn assert_refused(output: &Output, needle: &str) {
    let err = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{err}{}",
        text(&output.stdout)
    );
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains(needle), "expected {needle:?} in {err}");
}

/// The arguments of a one-epoch run of 12 000 images into `dir` with `seed` (about 0.2 s of
/// training after 0.2 s of start: long enough for two runs started together to overlap).
fn tiny_run(dir: &Path, seed: &str, extra: &[&str]) -> Command {
    let mnist = mnist_dir();
    let mut command = trainer(&[
        "--data-dir",
        mnist.to_str().unwrap(),
        "--train-size",
        "12000",
        "--test-size",
        "200",
        "--epochs",
        "1",
        "--seed",
        seed,
        "--artifact-dir",
        dir.to_str().unwrap(),
    ]);
    command
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The test error `trainer` printed at the end of a run, as `eval` prints it.
fn final_error(stdout: &str) -> Option<String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("final test error: "))?;
    Some(
        line["final test error: ".len()..]
            .split(',')
            .next()?
            .to_string(),
    )
}

/// Starts two runs of different seeds into one folder at the same moment; returns their
/// outputs.
fn race(dir: &Path, extra: &[&str]) -> [Output; 2] {
    let children: Vec<Child> = ["1", "2"]
        .iter()
        .map(|seed| tiny_run(dir, seed, extra).spawn().unwrap())
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    outputs.try_into().unwrap()
}

/// The folder holds one complete run: its config.json's seed is the one of a run that
/// succeeded, and its model gives that run's test error.
fn assert_one_complete_run(dir: &Path, outputs: &[Output; 2]) {
    let config = lenet::TrainingConfig::load_from(dir).unwrap();
    let winner = &outputs[config.seed as usize - 1];
    assert!(
        winner.status.success(),
        "config.json is of a run that failed: {}",
        text(&winner.stderr)
    );
    let printed = final_error(&text(&winner.stdout)).unwrap();
    // The folder's model on the run's own test images gives what that run printed.
    let model = lenet::TrainedModel::load(dir, &burn::prelude::Device::flex()).unwrap();
    let data = lenet::data::MnistSplits::load(Some(&mnist_dir())).unwrap();
    let test = model
        .evaluate_preprocessed(&config.select_data(data).unwrap().splits().test)
        .unwrap();
    let evaluated = format!("{:.2}% ({}/{})", test.error_rate(), test.errors, test.total);
    assert_eq!(
        evaluated, printed,
        "the folder's model is not the run's whose config.json it holds"
    );
}

#[test]
fn two_runs_into_one_folder_never_mix_it() {
    let root = tempfile::tempdir().unwrap();
    let mut refused_while_running = 0;
    for trial in 0..12 {
        let dir = root.path().join(format!("fresh-{trial}"));
        let outputs = race(&dir, &[]);
        let succeeded = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(succeeded, 1, "trial {trial}: {succeeded} runs succeeded");
        let loser = outputs.iter().find(|o| !o.status.success()).unwrap();
        let err = text(&loser.stderr);
        // Refused at once while the other runs, or after it as a previous run.
        assert!(
            err.contains("is in use by another run (pid ") && err.contains(" on host ")
                || err.contains("holds a previous run"),
            "trial {trial}: {err}"
        );
        refused_while_running += usize::from(err.contains("in use by another run"));
        assert_one_complete_run(&dir, &outputs);
    }
    // Started together, second runs meet the first one running (the others start after it
    // ended, with the other tests of this file busy on the same cores).
    assert!(refused_while_running >= 3, "{refused_while_running} of 12");

    // Two --overwrite runs over a complete one: each folder ends as one of them, whole.
    for trial in 0..6 {
        let dir = root.path().join(format!("fresh-{trial}"));
        let outputs = race(&dir, &["--overwrite"]);
        assert!(outputs.iter().any(|o| o.status.success()));
        for output in outputs.iter().filter(|o| !o.status.success()) {
            assert!(
                text(&output.stderr).contains("in use by another run"),
                "{}",
                text(&output.stderr)
            );
        }
        assert_one_complete_run(&dir, &outputs);
    }
}

#[test]
fn a_run_holds_its_folder_until_it_ends_and_a_dead_runs_lock_is_taken_over() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let mnist = mnist_dir();
    let mut long = trainer(&[
        "--data-dir",
        mnist.to_str().unwrap(),
        "--train-size",
        "6000",
        "--test-size",
        "500",
        "--epochs",
        "60",
        "--artifact-dir",
        dir.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("config.json").is_file() {
        assert!(Instant::now() < deadline, "no config.json after 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = format!("pid {} on host", long.id());
    let resume = run(&[
        "--data-dir",
        mnist.to_str().unwrap(),
        "--artifact-dir",
        dir.to_str().unwrap(),
        "--resume",
    ]);
    assert_refused(&resume, &pid);
    for extra in [&["--overwrite"][..], &[]] {
        let refused = tiny_run(&dir, "3", extra).output().unwrap();
        assert_refused(&refused, &pid);
    }
    assert!(
        dir.join("config.json").is_file(),
        "a refused run removed it"
    );
    // kill -9: the OS drops the lock with the process; the next run takes it over.
    long.kill().unwrap();
    long.wait().unwrap();
    let taken = tiny_run(&dir, "3", &["--overwrite"]).output().unwrap();
    assert!(taken.status.success(), "{}", text(&taken.stderr));
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("digit.png");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let sparse = dir.path().join("x.png");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let zero_onnx = dir.path().join("z.onnx");
    std::os::unix::fs::symlink("/dev/zero", &zero_onnx).unwrap();
    let fifo_model = dir.path().join("m.bpk");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo_model)
            .status()
            .unwrap()
            .success()
    );
    let model = shipped_model();
    let model = model.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["predict", "--model", model, "/dev/zero"],
            "/dev/zero: a character device, not a regular file; expected an image of at most 64 MiB",
        ),
        (
            &["predict", "--model", model, fifo.to_str().unwrap()],
            "a FIFO (named pipe), not a regular file",
        ),
        (
            &["predict", "--model", model, sparse.to_str().unwrap()],
            "3221225472 bytes, too large; expected an image",
        ),
        (
            &["inspect", zero_onnx.to_str().unwrap()],
            "a character device, not a regular file; expected an ONNX model",
        ),
        (
            &["inspect", fifo_model.to_str().unwrap()],
            "a FIFO (named pipe), not a regular file; expected a weight file",
        ),
        (
            &["eval", "--model", fifo_model.to_str().unwrap()],
            "a FIFO (named pipe), not a regular file",
        ),
    ];
    for (args, needle) in cases {
        let started = Instant::now();
        let mut child = trainer(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A hang is a failure, not a stuck test.
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("{args:?} still running after 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        if args[0] == "predict" {
            // predict names each bad image on its own line, then fails.
            let err = text(&output.stderr);
            assert!(
                !output.status.success() && err.contains(needle),
                "{args:?}: {err}"
            );
        } else {
            assert_refused(&output, needle);
        }
    }

    // An MNIST folder whose image file is a FIFO.
    let data = dir.path().join("mnist");
    std::fs::create_dir(&data).unwrap();
    for name in [
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let source = mnist_dir().join(format!("{name}.gz"));
        std::fs::copy(&source, data.join(format!("{name}.gz"))).unwrap();
    }
    let images = data.join("train-images-idx3-ubyte");
    assert!(
        Command::new("mkfifo")
            .arg(&images)
            .status()
            .unwrap()
            .success()
    );
    let out = run(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--artifact-dir",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert_refused(
        &out,
        "a FIFO (named pipe), not a regular file; expected an IDX data file",
    );
}

/// The files in `dir` whose names end in `.tmp`.
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect()
}

#[test]
fn outputs_replace_only_regular_files_and_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped_model();
    let model = model.to_str().unwrap();
    let out = dir.path().join("m.safetensors");
    let out_arg = out.to_str().unwrap();
    let export = |target: &str, extra: &[&str]| {
        let mut args = vec![
            "export",
            "--model",
            model,
            "--format",
            "safetensors",
            "--out",
            target,
        ];
        args.extend(extra);
        run(&args)
    };
    let first = export(out_arg, &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // The tensors and metadata written (the bytes may differ: the header's order is not fixed).
    let contents = |path: &Path| {
        let file = lenet::weights::WeightFile::read(path).unwrap();
        let tensors: Vec<String> = file
            .tensors
            .iter()
            .map(|t| format!("{} {:?}", t.name, t.to_bytes().unwrap()))
            .collect();
        (tensors, file.metadata)
    };
    let written = contents(&out);

    // Every format refuses an existing file without --force, and replaces it with it.
    std::fs::write(&out, b"mine").unwrap();
    assert_refused(&export(out_arg, &[]), "exists; pass --force to replace it");
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
    for (name, format) in [("m.bpk", "bpk"), ("m.onnx", "onnx")] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"mine").unwrap();
        let refused = run(&[
            "export",
            "--model",
            model,
            "--format",
            format,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert_refused(&refused, "--force");
        assert_eq!(std::fs::read(&path).unwrap(), b"mine");
    }
    let converted = dir.path().join("c.bpk");
    std::fs::write(&converted, b"mine").unwrap();
    assert_refused(
        &run(&["convert", model, converted.to_str().unwrap()]),
        "--force",
    );
    assert!(export(out_arg, &["--force"]).status.success());
    assert_eq!(contents(&out), written);

    // A symbolic link is neither replaced nor followed, even with --force.
    let link = dir.path().join("link.safetensors");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    assert_refused(
        &export(link.to_str().unwrap(), &["--force"]),
        "a symbolic link",
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    // A folder in the way: refused, nothing left in it or beside it.
    let folder = dir.path().join("folder.safetensors");
    std::fs::create_dir(&folder).unwrap();
    assert_refused(&export(folder.to_str().unwrap(), &["--force"]), "a folder");
    assert!(std::fs::read_dir(&folder).unwrap().next().is_none());

    // A device is written into, never replaced (as root the old rename replaced /dev/null);
    // a full one is an error naming it.
    let null = export("/dev/null", &[]);
    assert!(null.status.success(), "{}", text(&null.stderr));
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    if Path::new("/dev/full").exists() {
        assert_refused(
            &export("/dev/full", &[]),
            "/dev/full: cannot write: No space left on device",
        );
        assert!(
            std::fs::metadata("/dev/full")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
    // A folder the user may not write: the error says so, with the path.
    if !is_root() {
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        let mut permissions = std::fs::metadata(&locked).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o500);
        std::fs::set_permissions(&locked, permissions).unwrap();
        let target = locked.join("m.safetensors");
        assert_refused(&export(target.to_str().unwrap(), &[]), "Permission denied");
    }

    // `-` is standard output: the bytes of the file, the message on stderr.
    let piped = export("-", &[]);
    assert!(piped.status.success());
    let copy = dir.path().join("copy.safetensors");
    std::fs::write(&copy, &piped.stdout).unwrap();
    assert_eq!(contents(&copy), written);
    assert!(text(&piped.stderr).contains("wrote -"));
    // And --csv - gives the CSV alone on stdout.
    let mnist = mnist_dir();
    let csv = run(&[
        "eval",
        "--model",
        model,
        "--data-dir",
        mnist.to_str().unwrap(),
        "--csv",
        "-",
    ]);
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    let csv = text(&csv.stdout);
    assert_eq!(csv.lines().count(), 11, "{csv}");
    assert!(
        csv.lines().skip(1).all(|l| l.split(',').count() == 11),
        "{csv}"
    );
    assert!(temporary_files(dir.path()).is_empty());
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

/// A fixed sequence of delays spread over `0..max_ms` (an LCG: repeatable without a crate).
fn delays(count: usize, max_ms: u64) -> Vec<Duration> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            Duration::from_millis((state >> 33) % max_ms)
        })
        .collect()
}

#[test]
fn ctrl_c_at_any_point_of_an_export_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped_model();
    // How long a whole export takes here (the median of 3: the first one reads a cold disk):
    // the signals fall across all of it.
    let mut timings: Vec<u64> = (0..3)
        .map(|i| {
            let started = Instant::now();
            let whole = run(&[
                "export",
                "--model",
                model.to_str().unwrap(),
                "--format",
                "bpk",
                "--force",
                "--out",
                dir.path().join(format!("timing-{i}.bpk")).to_str().unwrap(),
            ]);
            assert!(whole.status.success());
            started.elapsed().as_millis() as u64
        })
        .collect();
    timings.sort();
    let span = timings[1] + 20;
    let (mut stopped, mut finished) = (0, 0);
    for (trial, delay) in delays(60, span).into_iter().enumerate() {
        let format = ["bpk", "safetensors", "onnx"][trial % 3];
        let out = dir.path().join(format!("m.{format}"));
        let signal = ["-INT", "-TERM"][trial % 2];
        // Every fourth trial through `convert`, which writes the same way.
        let arguments = if trial % 4 == 1 {
            vec![
                "convert",
                model.to_str().unwrap(),
                out.to_str().unwrap(),
                "--force",
            ]
        } else {
            vec![
                "export",
                "--model",
                model.to_str().unwrap(),
                "--format",
                format,
                "--force",
                "--out",
                out.to_str().unwrap(),
            ]
        };
        let child = trainer(&arguments)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let output = child.wait_with_output().unwrap();
        // Killed by the signal itself: it came before the handler was installed, before any
        // file was opened.
        let killed = std::os::unix::process::ExitStatusExt::signal(&output.status).is_some();
        match output.status.code() {
            Some(130) => stopped += 1,
            None if killed => stopped += 1,
            Some(0) => finished += 1,
            other => panic!("trial {trial}: status {other:?}: {}", text(&output.stderr)),
        }
        let left = temporary_files(dir.path());
        assert!(
            left.is_empty(),
            "trial {trial} ({delay:?}, {signal}): {left:?}"
        );
        // What is there is whole.
        if out.exists() {
            if format == "onnx" {
                lenet::onnx::read(&out).unwrap();
            } else {
                lenet::weights::WeightFile::read(&out).unwrap();
            }
        }
    }
    // Both ends were met: signals during the work, and exports that finished first (how many
    // of each depends on the machine's load; 9 and 51 in a busy CI run).
    assert!(
        stopped >= 3 && finished >= 3,
        "stopped {stopped}, finished {finished}"
    );
}

#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    let model = shipped_model();
    let model = model.to_str().unwrap();
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/digits");
    let images: Vec<String> = (0..10)
        .cycle()
        .take(200)
        .map(|d| {
            digits
                .join(format!("{d}.png"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mnist = mnist_dir();
    let mut predict = vec!["predict", "--model", model];
    predict.extend(images.iter().map(String::as_str));
    let commands: [Vec<&str>; 3] = [
        predict,
        vec![
            "eval",
            "--model",
            model,
            "--data-dir",
            mnist.to_str().unwrap(),
        ],
        vec!["inspect", "../../assets/model/model.bpk"],
    ];
    for args in commands {
        // The reader gone before the first line: every print meets a closed pipe.
        let mut child = trainer(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            !text(&output.stderr).contains("panicked"),
            "{}",
            text(&output.stderr)
        );
    }
    // As a shell runs it: `| head -1`, the pipeline's first status.
    let line = format!(
        "set -o pipefail; {} {} | head -1",
        env!("CARGO_BIN_EXE_trainer"),
        ["predict", "--model", model]
            .iter()
            .copied()
            .chain(images.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let shell = Command::new("bash").args(["-c", &line]).output().unwrap();
    assert!(shell.status.success(), "{}", text(&shell.stderr));
    assert_eq!(text(&shell.stdout).lines().count(), 1);
    assert!(!text(&shell.stderr).contains("panicked"));
}

#[test]
fn a_stop_before_the_first_checkpoint_and_a_failed_start_leave_a_folder_a_rerun_accepts() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let mnist = mnist_dir();
    let args = [
        "--data-dir",
        mnist.to_str().unwrap(),
        "--train-size",
        "6000",
        "--test-size",
        "200",
        "--epochs",
        "1",
        "--artifact-dir",
        dir.to_str().unwrap(),
    ];
    let child = trainer(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("config.json").is_file() {
        assert!(Instant::now() < deadline, "no config.json after 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    let said = text(&output.stdout) + &text(&output.stderr);
    assert!(
        said.contains("no checkpoint was written") && said.contains("run the same command again"),
        "{said}"
    );
    assert!(!said.contains("continue with --resume"), "{said}");
    // What is left is what docs/what-happens-when.md says is left.
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("events.out.tfevents.") {
                "the TensorBoard events file".into()
            } else if e.path().is_dir() {
                let empty = std::fs::read_dir(e.path()).unwrap().next().is_none();
                format!("{}`{name}/`", if empty { "an empty " } else { "" })
            } else {
                format!("`{name}`")
            }
        })
        .collect();
    left.sort();
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/what-happens-when.md"),
    )
    .unwrap();
    let row = docs
        .lines()
        .find(|l| l.starts_with("| Ctrl-C before the first epoch's checkpoint"))
        .expect("the docs' row for a stop before the first checkpoint");
    for thing in &left {
        assert!(
            row.contains(thing.as_str()),
            "{thing} is left but the docs do not say so: {row}"
        );
    }
    // --resume says what will work; the same command does.
    let mut resume: Vec<&str> = args.to_vec();
    resume.push("--resume");
    assert_refused(&run(&resume), "without --resume");
    let again = run(&args);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(dir.join("model.bpk").is_file());

    // A bad --init-from: nothing is written, nothing of the previous run lost.
    let missing = root.path().join("missing.bpk");
    let mut overwrite: Vec<&str> = args.to_vec();
    overwrite.extend(["--overwrite", "--init-from", missing.to_str().unwrap()]);
    assert_refused(&run(&overwrite), "missing.bpk");
    assert!(dir.join("model.bpk").is_file() && dir.join("config.json").is_file());
    let fresh = root.path().join("fresh");
    let mut new_folder: Vec<&str> = args.to_vec();
    let last = new_folder.len() - 1;
    new_folder[last] = fresh.to_str().unwrap();
    new_folder.extend(["--init-from", missing.to_str().unwrap()]);
    assert_refused(&run(&new_folder), "missing.bpk");
    assert!(!fresh.exists(), "a failed start left {}", fresh.display());
}

/// A small tmpfs mounted at `dir` for the test (root only); unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount (the test runs as root, as .ci/run does)");
        assert!(status.success(), "mount -t tmpfs failed: run as root");
        Self(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
#[ignore = "system tier: mounts a small tmpfs (needs root); .ci/run runs it"]
fn a_full_disk_leaves_complete_checkpoints_only_and_the_printed_command_continues() {
    let root = tempfile::tempdir().unwrap();
    // Room for config.json and the TensorBoard file, not for the first checkpoint.
    let disk = SmallDisk::mount(&root.path().join("disk"), "8k");
    let dir = disk.0.join("run");
    let mnist = mnist_dir();
    let args = [
        "--data-dir",
        mnist.to_str().unwrap(),
        "--train-size",
        "600",
        "--test-size",
        "100",
        "--epochs",
        "2",
        "--artifact-dir",
        dir.to_str().unwrap(),
    ];
    let full = run(&args);
    assert_refused(&full, "the disk is full");
    let err = text(&full.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    // Complete or absent: no optimizer or scheduler file without its model.
    let left: Vec<String> = std::fs::read_dir(dir.join("checkpoint"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "an incomplete checkpoint was left: {left:?}"
    );
    let (_, command) = err
        .split_once("continue with: ")
        .unwrap_or_else(|| panic!("no command to continue in {err}"));
    assert!(
        !command.contains("--resume"),
        "nothing to resume: {command}"
    );

    // The disk mended, the printed command goes on and finishes.
    disk.resize("64m");
    let again = Command::new("bash")
        .args(["-c", command.trim()])
        .output()
        .unwrap();
    assert!(again.status.success(), "{command}: {}", text(&again.stderr));
    assert!(dir.join("model.bpk").is_file());
}
