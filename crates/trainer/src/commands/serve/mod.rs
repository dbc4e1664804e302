//! `trainer serve`: a web page to draw a digit and watch the network read it, and the small
//! JSON API behind it (axum on tokio, hyper's HTTP/1).
//!
//! - `GET /`: the page (plain HTML, CSS and JavaScript, embedded in the binary);
//! - `POST /api/predict`: an image (PNG, JPEG, ... as the request body) or JSON
//!   `{"pixels": [784 grey levels, 0-255]}`; answers the class (`null` when the image holds no
//!   digit), the ten output activations, how sure it is (`margin`, and `unsure` naming the two
//!   digits it hesitates between) and the 28x28 image the network saw (after `predict`'s
//!   cleaning and MNIST-style centring: a photo's paper removed);
//! - `GET /api/model`: the network, its parameters, its configuration and test error;
//! - `GET /healthz`: `{"status": "ok"}`.
//!
//! Hostile clients are bounded by design (see `experiments/bench/abuse.sh`):
//! - memory: a body is at most `--max-body` bytes; an image is refused from its header above
//!   [`image::MAX_PIXELS`] and PNGs decode row by row straight to grey, then it is cleaned at
//!   most [`image::WORKING_SIDE`] pixels a side; at most
//!   `--max-in-flight` requests are admitted (one more gets 503 with `Retry-After`) and at most
//!   `--max-decodes` large images decode at once, the others wait in that bounded queue, while
//!   small images (a drawn digit) have a lane of their own ([`admission`]);
//! - time: a request's head must arrive within [`HEADER_TIMEOUT`] (hyper's header read timeout,
//!   which also closes idle keep-alive connections), its body within [`BODY_TIMEOUT`]
//!   (tower-http); a client that goes away cancels its request, also mid-decode;
//! - early answers: a body the server answers without reading (503, 413, 404) is read and
//!   thrown away, bounded, so that a client still uploading reads the answer ([`drain`]);
//! - answers: every answer of the API, error or not, is JSON: `{"error": ...}` with a 4xx
//!   naming the problem (also 404, 405, 413, 408 for a body too slow and 400 for a malformed
//!   one, such as a broken chunk), and the server goes on serving.
//!
//! One kind of answer stays empty: a request whose head hyper cannot parse (a malformed
//! request line or header, a bad `Content-Length`, an unknown `Transfer-Encoding`: 400; a URI
//! too long: 414; headers too large: 431). hyper answers those itself before any handler
//! runs, with the status line alone (`on_error` of hyper 1's HTTP/1 server), and its API has
//! no hook for that body; the connection is then closed. They are not requests of the API but
//! broken HTTP, and the status code says what broke.
//!
//! Ctrl-C or SIGTERM stop it: requests in flight get [`DRAIN_TIMEOUT`] to finish.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use burn::module::Module;
use clap::Args;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use lenet::TrainedModel;
use lenet::cli::{BackendArg, ModelArg};
use lenet::data::image;
use lenet::mnist::{IMAGE_SIZE, NUM_CLASSES, PIXELS};
use serde::{Deserialize, Serialize};
use tower_http::timeout::RequestBodyTimeoutLayer;

use admission::Admission;

mod admission;
mod drain;

/// The page, served at `/`.
const PAGE: &str = include_str!("index.html");
/// A connection must send a whole request head within this time, also when it is idle between
/// keep-alive requests; otherwise it is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's body must arrive within this time once its head has.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for the requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `trainer serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    backend: BackendArg,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    max_body: usize,
    /// Requests admitted at once (waiting or decoding); more get 503 (Retry-After).
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,
    /// Large images decoded at once (each up to 16 MiB of grey, more for formats other than
    /// PNG); as many small ones (up to 1024x1024) besides, in a lane of their own.
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    max_decodes: u32,
}

/// What the handlers share.
struct App {
    model: TrainedModel,
    /// The model's file as `GET /api/model` shows it (see [`shown_path`]), found once.
    model_file: String,
    /// Largest body read, bytes.
    max_body: usize,
    /// Which requests are taken on, and when they decode.
    admission: Admission,
}

impl App {
    /// The server's state for `model`: bodies up to `max_body` bytes, `max_in_flight`
    /// requests admitted at once, `max_decodes` decoding at once in each lane.
    fn new(model: TrainedModel, max_body: usize, max_in_flight: usize, max_decodes: usize) -> Self {
        Self {
            model_file: shown_path(&model.path),
            model,
            max_body,
            admission: Admission::new(max_in_flight, max_decodes),
        }
    }
}

/// Images up to this many pixels (1024 × 1024; the page sends 280 × 280) take the fast lane.
pub const SMALL_PIXELS: u64 = 1 << 20;

/// Starts the server and serves until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    let model = args.model.load(&args.backend.device()?)?;
    // Room for many connections (a slow client holds one until its timeout): the soft limit
    // of open files up to the hard one, where the system allows it.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(model, args))
}

async fn serve(model: TrainedModel, args: &ServeArgs) -> Result<()> {
    let description = model.describe();
    let app = Arc::new(App::new(
        model,
        args.max_body,
        args.max_in_flight as usize,
        args.max_decodes as usize,
    ));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    let addr = listener.local_addr().context("the listening address")?;
    let stop = stop_signal()?;
    println!("{description}");
    println!("serving http://{addr}/ (Ctrl-C to stop)");
    let router = router(app);
    // hyper's HTTP/1 connection with a timer, which axum::serve does not set: without it the
    // header read timeout is off and a client that sends half a request holds its connection
    // forever.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: wait for connections to close.
                    eprintln!("accepting a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client's broken or timed-out connection is the client's problem.
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("requests still in flight after {DRAIN_TIMEOUT:?}: stopping anyway");
    }
    println!("stopped");
    Ok(())
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/api/model", get(model_info))
        .route("/api/predict", post(predict))
        .method_not_allowed_fallback(|| async {
            failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: GET /, /healthz and /api/model; POST /api/predict".into(),
            )
        })
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "no such page".into()) })
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(axum::middleware::from_fn(drain::drain_unread_bodies))
        .with_state(app)
}

/// Listens for Ctrl-C and SIGTERM from this call on; the future resolves on the first.
///
/// The handlers are installed here, before the server says it is serving, and not when the
/// future is first polled: a signal sent right after "serving http://..." would otherwise meet
/// the default action and kill the process (it did, in CI, for the README's `serve`).
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let stopped = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        }
    };
    #[cfg(not(unix))]
    let stopped = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        stopped.await;
        eprintln!("stopping");
    })
}

/// A 4xx/5xx answer: `{"error": message}`.
fn failure(status: StatusCode, message: String) -> Response {
    #[derive(Serialize)]
    struct Failure {
        error: String,
    }
    (status, axum::Json(Failure { error: message })).into_response()
}

/// `GET /api/model`.
async fn model_info(State(app): State<Arc<App>>) -> Response {
    #[derive(Serialize)]
    struct ModelInfo<'a> {
        description: String,
        parameters: usize,
        config: &'a lenet::TrainingConfig,
        test_error: Option<f64>,
        test_images: Option<usize>,
        file: String,
    }
    let model = &app.model;
    axum::Json(ModelInfo {
        description: model.describe(),
        parameters: model.net.num_params(),
        config: &model.config,
        test_error: model.evaluation.as_ref().map(|e| e.test_error),
        test_images: model.evaluation.as_ref().map(|e| e.test_images),
        file: app.model_file.clone(),
    })
    .into_response()
}

/// The model's path as the page shows it: relative to the folder the server runs in when the
/// file lies under it (no absolute path of the serving machine on the page), else as given.
fn shown_path(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|here| path.strip_prefix(here).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The JSON form of a `POST /api/predict` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelsRequest {
    /// 784 grey levels, row-major, 0-255; light ink on dark or dark on light.
    pixels: Vec<f64>,
}

/// The answer of `POST /api/predict`.
#[derive(Serialize)]
struct PredictResponse {
    /// The digit; `None` (JSON `null`) when the image holds none (see [`image::MIN_CONTRAST`]).
    class: Option<usize>,
    outputs: [f32; NUM_CLASSES],
    /// The 28x28 grey levels the network saw, row-major.
    image: Vec<u8>,
    /// How far the top output leads the second (how sure the network is).
    margin: f32,
    /// The two digits the network hesitates between, its answer first, when `margin` is below
    /// [`lenet::eval::UNSURE_MARGIN`]; `null` otherwise (and for a blank image).
    unsure: Option<[usize; 2]>,
    /// Why `class` is `null`, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Sets its flag when dropped: the request's future was dropped (the client went away) or
/// finished, and the decoding it started can stop.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// 503 with `Retry-After: 1`.
fn busy(message: &str) -> Response {
    let mut response = failure(StatusCode::SERVICE_UNAVAILABLE, message.into());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `POST /api/predict`: admission before the body is read (503 when full), the body read
/// within `--max-body`, then a decoding slot of the image's lane, then the work on the
/// blocking pool. A large image leaves the admission to wait in the large images' own bounded
/// queue, so that huge images never shut out a drawn digit.
async fn predict(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let admitted = match app.admission.admit() {
        Ok(admitted) => admitted,
        Err(refusal) => return busy(refusal.message()),
    };
    let body = match axum::body::to_bytes(body, app.max_body).await {
        Ok(body) => body,
        Err(error) => {
            let causes =
                || std::iter::successors(std::error::Error::source(&error), |e| e.source());
            let too_large = causes().any(|e| e.is::<http_body_util::LengthLimitError>());
            let timed_out = causes().any(|e| {
                e.is::<tower_http::timeout::TimeoutError>()
                    || e.downcast_ref::<hyper::Error>()
                        .is_some_and(hyper::Error::is_timeout)
            });
            return if too_large {
                failure(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is larger than the server's --max-body ({} bytes)",
                        app.max_body
                    ),
                )
            } else if timed_out {
                failure(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the body did not arrive in time: {error}"),
                )
            } else {
                // A malformed chunk, a body shorter than its Content-Length: the client's bytes.
                failure(
                    StatusCode::BAD_REQUEST,
                    format!("the body could not be read: {error}"),
                )
            };
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let small = content_type.starts_with("application/json")
        || image::pixel_count(&body).is_some_and(|pixels| pixels <= SMALL_PIXELS);
    let _slot = match admitted.decode_slot(small).await {
        Ok(slot) => slot,
        Err(refusal) => return busy(refusal.message()),
    };
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    let worker = app.clone();
    let answer = tokio::task::spawn_blocking(move || {
        classify(&worker.model, &content_type, &body, &|| {
            cancelled.load(Ordering::Relaxed)
        })
    })
    .await;
    match answer {
        Ok(Ok(response)) => axum::Json(response).into_response(),
        Ok(Err((status, message))) => failure(status, message),
        Err(_) => failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the classification failed".into(),
        ),
    }
}

/// Decodes a request body as its content type says and classifies it.
fn classify(
    model: &TrainedModel,
    content_type: &str,
    body: &[u8],
    cancelled: &dyn Fn() -> bool,
) -> std::result::Result<PredictResponse, (StatusCode, String)> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    if body.is_empty() {
        return Err(bad(
            "empty body: expected an image (PNG, JPEG, ...) or JSON {\"pixels\": [784 grey levels]}"
                .into(),
        ));
    }
    let pixels = if content_type.starts_with("application/json") {
        let request: PixelsRequest = serde_json::from_slice(body).map_err(|e| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("bad JSON: {e}; expected {{\"pixels\": [784 grey levels 0-255]}}"),
            )
        })?;
        grid_to_mnist(&request.pixels).map_err(|m| (StatusCode::UNPROCESSABLE_ENTITY, m))?
    } else if content_type.starts_with("image/")
        || content_type.starts_with("application/octet-stream")
        || content_type.is_empty()
    {
        image::digit_from_bytes_unless(body, Path::new("the request body"), cancelled)
            .map_err(|e| bad(format!("{e}")))?
    } else {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content type {content_type:?}: expected an image (image/png, image/jpeg, ...) \
                 or application/json"
            ),
        ));
    };
    let image = model.preprocess(pixels);
    let prediction = model.predict_preprocessed(std::slice::from_ref(&image))[0];
    let blank = image::is_blank(&image);
    Ok(PredictResponse {
        class: (!blank).then_some(prediction.class),
        outputs: prediction.outputs,
        margin: prediction.margin(),
        unsure: prediction.unsure_between().filter(|_| !blank),
        image,
        note: blank.then(image::no_digit_reason),
    })
}

/// 784 grey levels from JSON, checked, turned into MNIST form like any image (centred,
/// inverted when dark on light).
fn grid_to_mnist(pixels: &[f64]) -> std::result::Result<Vec<u8>, String> {
    if pixels.len() != PIXELS {
        return Err(format!(
            "pixels: expected {PIXELS} grey levels ({IMAGE_SIZE}x{IMAGE_SIZE}), found {}",
            pixels.len()
        ));
    }
    if let Some((i, v)) = pixels
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=255.0).contains(*v))
    {
        return Err(format!(
            "pixels[{i}]: expected a grey level 0-255, found {v}"
        ));
    }
    let grey: Vec<u8> = pixels.iter().map(|&v| v.round() as u8).collect();
    Ok(image::grid_to_mnist(&grey))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_grids_are_checked_for_size_and_range() {
        assert!(grid_to_mnist(&[0.0; 10]).unwrap_err().contains("found 10"));
        let mut grid = vec![0.0; PIXELS];
        grid[5] = 300.0;
        assert!(grid_to_mnist(&grid).unwrap_err().contains("pixels[5]"));
        grid[5] = 255.0;
        assert_eq!(grid_to_mnist(&grid).unwrap().len(), PIXELS);
    }

    #[tokio::test]
    async fn a_full_server_refuses_with_503_and_retry_after() {
        let device = lenet::Backend::default().device().unwrap();
        let net = lenet::LeNetConfig::new().init(&device);
        let model = TrainedModel::new(Default::default(), net, "model.bpk".into(), &device);
        let app = Arc::new(App::new(model, 1000, 1, 1));
        let held = app.admission.admit().unwrap();
        let refused = predict(
            State(app.clone()),
            HeaderMap::new(),
            axum::body::Body::from("x"),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        drop(held);
        let answered = predict(State(app), HeaderMap::new(), axum::body::Body::from("x")).await;
        assert_eq!(
            answered.status(),
            StatusCode::BAD_REQUEST,
            "admitted, then refused as not an image"
        );
    }
}
