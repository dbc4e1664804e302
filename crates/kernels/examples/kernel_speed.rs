//! The kernels' speed alone, without burn, the data or the `Learner`: microseconds per image
//! of the paper's network (6-12 maps, 5x5 kernels, mean subsampling), the fastest of 30
//! repetitions, so that a change to the kernels can be measured on a noisy machine (the epoch
//! times of `trainer bench` drift by a fifth within minutes on a shared VM).
//!
//! ```text
//! cargo run --example kernel_speed
//! ```
//!
//! The inputs are random values in `[0, 1]` (the kernels' time does not depend on them). It
//! prints one thread's forward and training pass per image, then a training step of 10 and of
//! 50 images through [`lenet_kernels::train_step`] on all of rayon's threads, whose difference
//! from the one-thread figure is what splitting a step across threads costs or saves, and
//! steps of 10 with 80 µs of other work between them (the `Learner`'s share of a batch-10
//! step), whose difference from back-to-back steps is what waking rayon's other thread costs.
//! The calling thread is one of rayon's, as in the trainer.

use std::time::Instant;

use lenet_kernels::pass::Scratch;
use lenet_kernels::{Dims, HostNet, NUM_CLASSES, PIXELS, train_step};

/// `println!`, but a closed stdout (`| head -1`) ends the program quietly with status 0, as Unix
/// tools end, where `println!` panics ("failed printing to stdout: Broken pipe"). The binaries'
/// hook for this, `lenet::atomic::end_quietly_when_stdout_closes`, is in a crate above this one.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        match writeln!(std::io::stdout(), $($arg)*) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            written => written.expect("writing to stdout"),
        }
    }};
}

/// Repetitions; the fastest counts.
const REPEATS: usize = 30;

fn main() {
    // The calling thread one of rayon's, as the trainer has it (`share_this_thread_with_rayon`).
    rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
        .expect("rayon's threads, made once");
    let dims = Dims {
        c1: 6,
        c3: 12,
        k: 5,
        h1: 24,
        w1p: 24,
        h2: 12,
        h3: 8,
        h4: 4,
        paper: false,
    };
    // A small linear congruential generator: repeatable inputs without a dependency.
    let mut state = 1u32;
    let mut random = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / 16_777_216.0
    };
    let mut net = HostNet::zeros(dims);
    for weight in net.w1.iter_mut().chain(&mut net.w3).chain(&mut net.wf) {
        *weight = random() - 0.5;
    }
    let n = 500;
    let images: Vec<f32> = (0..n * PIXELS).map(|_| random()).collect();
    let targets: Vec<usize> = (0..n).map(|i| i % NUM_CLASSES).collect();
    let mut outputs = vec![0.0; n * NUM_CLASSES];
    let mut scratch = Scratch::new(dims);
    let per_image = |seconds: f64, images: usize| seconds / images as f64 * 1e6;

    let forward = fastest(|| scratch.forward_images(&net, &images, &mut outputs));
    let train = fastest(|| {
        std::hint::black_box(scratch.train_images(&net, &images, &targets, n, &mut outputs));
    });
    say!(
        "one thread: forward {:.2} µs/image, forward and backward {:.2} µs/image",
        per_image(forward, n),
        per_image(train, n)
    );
    for batch in [10, 50] {
        let steps = n / batch;
        let seconds = fastest(|| {
            for (images, targets) in images
                .chunks_exact(batch * PIXELS)
                .zip(targets.chunks_exact(batch))
            {
                std::hint::black_box(train_step(&net, images, targets, 0.0));
            }
        });
        say!(
            "{} threads, steps of {batch} images: {:.2} µs/image ({steps} steps)",
            rayon::current_num_threads(),
            per_image(seconds, n)
        );
    }
    // Steps of 10 images with the Learner's work between them (about 80 µs a step outside
    // the kernels at batch 10, here a busy wait): rayon's other thread falls asleep between
    // steps and is woken by each; the steps' own time.
    let gap = std::time::Duration::from_micros(80);
    let seconds = fastest_measured(|| {
        let mut inside = 0.0;
        for (images, targets) in images
            .chunks_exact(10 * PIXELS)
            .zip(targets.chunks_exact(10))
        {
            let other_work = Instant::now();
            while other_work.elapsed() < gap {
                std::hint::spin_loop();
            }
            let start = Instant::now();
            std::hint::black_box(train_step(&net, images, targets, 0.0));
            inside += start.elapsed().as_secs_f64();
        }
        inside
    });
    say!(
        "{} threads, steps of 10 images {gap:?} apart: {:.2} µs/image",
        rayon::current_num_threads(),
        per_image(seconds, n)
    );
}

/// The fastest of [`REPEATS`] values of `measure` (a time it takes itself).
fn fastest_measured(mut measure: impl FnMut() -> f64) -> f64 {
    (0..REPEATS)
        .map(|_| measure())
        .fold(f64::INFINITY, f64::min)
}

/// The fastest of `REPEATS` runs of `work`, seconds.
fn fastest(mut work: impl FnMut()) -> f64 {
    fastest_measured(|| {
        let start = Instant::now();
        work();
        start.elapsed().as_secs_f64()
    })
}
