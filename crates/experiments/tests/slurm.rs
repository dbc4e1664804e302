//! A study on a real Slurm cluster (system tier: Debian's `slurm-wlm` and `munge`, which
//! `.ci/run` installs; run as root): a one-node cluster on this machine (munged, slurmctld,
//! slurmd, configured in a temporary folder, on free ports), the job array `experiments slurm`
//! writes, submitted with the command it prints, and the merged result compared number for
//! number with the same study run locally. The daemons are stopped however the test ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../../lenet/tests/support/mnist_dir.rs"]
mod support;
use support::mnist_dir;

use experiments::results::StudyResult;

/// Two variants, three runs of one short epoch.
const STUDY: &str = r#"
name = "mini_cluster"
title = "Mini: on a cluster"
claim = "The same numbers as on one machine."
curve = "test_error"
seeds = [7]
few_seeds_reason = "a miniature"
[base]
epochs = 1
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

/// Runs `program` with `args`; panics with its output if it fails.
fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut command = Command::new(program);
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (.ci/run installs slurm-wlm and munge)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?}: {text}");
    text
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A one-node Slurm cluster; stops its daemons when dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let uid = run("id", &["-u"], &[]);
        assert_eq!(
            uid.trim(),
            "0",
            "the Slurm test starts slurmd, which runs as root"
        );
        for sub in ["state", "spool", "log", "munge"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let host = run("hostname", &["-s"], &[]).trim().to_string();
        let key = dir.join("munge/munge.key");
        let mut secret = vec![0; 1024];
        std::io::Read::read_exact(
            &mut std::fs::File::open("/dev/urandom").unwrap(),
            &mut secret,
        )
        .unwrap();
        std::fs::write(&key, secret).unwrap();
        // munged refuses a key others can read.
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let socket = dir.join("munge/munge.socket");
        let d = dir.display();
        let conf = format!(
            "ClusterName=lenet\nSlurmctldHost={host}\nSlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nAuthInfo=socket={socket}\nCryptoType=crypto/munge\n\
             MpiDefault=none\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             ReturnToService=2\nStateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
             SlurmctldPort={}\nSlurmdPort={}\n\
             NodeName={host} CPUs=2 RealMemory=1000 State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            free_port(),
            free_port(),
            socket = socket.display(),
        );
        let conf_path = dir.join("slurm.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let cluster = Self {
            dir: dir.to_path_buf(),
            conf: conf_path.clone(),
        };
        run(
            "munged",
            &[
                "--force",
                &format!("--key-file={}", key.display()),
                &format!("--socket={}", socket.display()),
                &format!("--pid-file={d}/munged.pid"),
                &format!("--seed-file={d}/munge/seed"),
                &format!("--log-file={d}/log/munged.log"),
            ],
            &[],
        );
        let env = [("SLURM_CONF", conf_path.as_path())];
        run("slurmctld", &["-f", conf_path.to_str().unwrap()], &env);
        run("slurmd", &["-f", conf_path.to_str().unwrap()], &env);
        // Up when the node is idle.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = Command::new("sinfo")
                .args(["-h", "-o", "%t"])
                .env("SLURM_CONF", &conf_path)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if state == "idle" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the node is {state:?} after 60 s: {}",
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        cluster
    }

    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log"]
            .iter()
            .map(|name| {
                std::fs::read_to_string(self.dir.join("log").join(name)).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until no job is queued or running.
    fn wait_for_jobs(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let queue = run("squeue", &["-h"], &[("SLURM_CONF", &self.conf)]);
            if queue.trim().is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "jobs left: {queue}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for name in ["slurmd.pid", "slurmctld.pid", "munged.pid"] {
            let Ok(pid) = std::fs::read_to_string(self.dir.join(name)) else {
                continue;
            };
            let pid = pid.trim();
            let _ = Command::new("kill").arg(pid).status();
            // Gone before the next test, or the next CI step, starts.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new("/proc").join(pid).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The CSV of a run without its seconds column (the only one that differs between machines).
fn without_times(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| {
            line.rsplit_once(',')
                .map_or(line, |(rest, _)| rest)
                .to_string()
        })
        .collect()
}

#[test]
#[ignore = "system tier: needs slurm-wlm and munge (and root); .ci/run installs them and runs it"]
fn a_study_run_as_a_slurm_job_array_merges_to_the_numbers_of_one_machine() {
    let cluster_root = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&cluster_root.path().join("cluster"));
    // The study's folders where users have them: a space, a quote and a percent sign in the
    // path (sbatch reads its #SBATCH lines itself, Slurm expands % in --output).
    let root = tempfile::Builder::new()
        .prefix("a study's folder, 100% ")
        .tempdir()
        .unwrap();
    let defs = root.path().join("defs");
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::write(defs.join("mini.toml"), STUDY).unwrap();
    let experiments = env!("CARGO_BIN_EXE_experiments");
    let mnist = mnist_dir();
    let paths = |name: &str| -> Vec<String> {
        let r = root.path();
        vec![
            "--definitions".into(),
            defs.display().to_string(),
            "--results".into(),
            r.join(format!("{name}-results")).display().to_string(),
            "--report".into(),
            r.join(format!("{name}-REPORT.md")).display().to_string(),
        ]
    };

    // The job array and its merge, submitted as `experiments slurm` says.
    let mut args: Vec<String> = paths("cluster");
    args.extend(
        [
            "slurm",
            defs.join("mini.toml").to_str().unwrap(),
            "--data-dir",
            mnist.to_str().unwrap(),
            "--work-dir",
            root.path().join("cluster-work").to_str().unwrap(),
            "--cpus",
            "2",
            "--time",
            "0:10:00",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let printed = run(experiments, &args, &[]);
    assert!(printed.contains("(3 array tasks)"), "{printed}");
    let submit = printed.lines().last().unwrap();
    let submitted = run("bash", &["-c", submit], &[("SLURM_CONF", &cluster.conf)]);
    cluster.wait_for_jobs(Duration::from_secs(300));
    let cluster_dir = root.path().join("cluster-results/mini_cluster");
    let merged = StudyResult::load(&cluster_dir)
        .unwrap_or_else(|e| panic!("{e}: {submitted}\n{}", cluster.logs()));

    // The same study on this machine, in one process.
    let mut args: Vec<String> = paths("local");
    args.extend(
        [
            "run",
            defs.join("mini.toml").to_str().unwrap(),
            "--data-dir",
            mnist.to_str().unwrap(),
            "--work-dir",
            root.path().join("local-work").to_str().unwrap(),
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // As many threads as each array task has (--cpus 2): the fused path sums a batch's
    // gradients per thread, so the thread count sets the order of the float additions.
    let mut local = Command::new(experiments);
    local.args(&args).env("RAYON_NUM_THREADS", "2");
    let out = local.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local_dir = root.path().join("local-results/mini_cluster");
    let local = StudyResult::load(&local_dir).unwrap();

    // Number for number: every run's final error and loss, every point of the figure, every
    // epoch of every run's CSV (but its seconds).
    assert_eq!(merged.lines.len(), local.lines.len());
    for (m, l) in merged.lines.iter().zip(&local.lines) {
        assert_eq!(m.label, l.label);
        assert_eq!(m.points, l.points, "{}", m.label);
        for (mr, lr) in m.runs.iter().zip(&l.runs) {
            assert_eq!(
                (mr.seed, mr.final_test_error, mr.final_train_loss, &mr.csv),
                (lr.seed, lr.final_test_error, lr.final_train_loss, &lr.csv)
            );
            assert_eq!(
                without_times(&cluster_dir.join(&mr.csv)),
                without_times(&local_dir.join(&lr.csv))
            );
        }
    }
    // Each task ran one run: three task logs, each saying its shard.
    let logs: Vec<String> = std::fs::read_dir(root.path().join("cluster-work/slurm"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    for shard in ["shard 0/3", "shard 1/3", "shard 2/3", "merged 3 runs"] {
        assert!(
            logs.iter().any(|l| l.contains(shard)),
            "{shard} not in the jobs' output: {logs:?}"
        );
    }
}
