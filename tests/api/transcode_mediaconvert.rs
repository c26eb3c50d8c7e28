//! The MediaConvert backend against a local stand-in for the MediaConvert API: an axum server
//! on 127.0.0.1 that speaks the REST-JSON protocol of `POST/GET/DELETE /2017-08-29/jobs`,
//! records what the SDK really sent, and answers with a scripted sequence of job states.
//! The package a finished job "wrote" is put into storage beforehand: the local backend, and
//! once the shared SeaweedFS on 127.0.0.1:8333 (as the S3 conformance tests use it).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use lectern::storage::{KeyPrefix, ObjectKey, ObjectStore, PutOptions, S3Store, put_bytes};
use lectern::transcode::MediaConvertSettings;
use lectern::transcode::mediaconvert::{MediaConvertError, MediaConvertJob, MediaConvertTranscoder, S3Location};
use lectern::transcode::{RenditionKind, TranscodeError, TranscodeRequest, Transcoder};
use pipelines::fixtures::{self, FPS_30};
use pipelines::preset::Preset;
use pipelines::source::{AudioStreamInfo, SourceInfo, VideoStreamInfo};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::storage::{local_store_in, s3_settings};

const ROLE: &str = "arn:aws:iam::111122223333:role/LecternMediaConvert";
const QUEUE: &str = "arn:aws:mediaconvert:us-east-1:111122223333:queues/Lectern";
const JOB_ID: &str = "1700000000000-abc123";
const ASSET_ID: Uuid = Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_00a1);

/// What GetJob answers, in order; the last answer repeats.
#[derive(Clone)]
enum Answer {
    Progressing(i32),
    Complete,
    Error(i32, &'static str),
    Canceled,
}

#[derive(Default)]
struct StandIn {
    /// Bodies of CreateJob requests, including refused ones.
    created: Vec<Value>,
    /// CreateJob requests still to refuse with 429 `TooManyRequestsException`.
    throttle_creates: usize,
    /// Refuse every CreateJob with 400 `BadRequestException`, as for invalid settings.
    reject_creates: bool,
    answers: VecDeque<Answer>,
    polls: usize,
    cancelled: Vec<String>,
}

type Shared = Arc<Mutex<StandIn>>;

fn job_json(status: &str, extra: Value) -> Value {
    let mut job = json!({
        "id": JOB_ID,
        "arn": format!("arn:aws:mediaconvert:us-east-1:111122223333:jobs/{JOB_ID}"),
        "role": ROLE,
        "queue": QUEUE,
        "status": status,
        "settings": {},
        "createdAt": 1_700_000_000,
    });
    if let (Some(job), Value::Object(extra)) = (job.as_object_mut(), extra) {
        job.extend(extra);
    }
    json!({ "job": job })
}

async fn create_job(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut state = state.lock().expect("not poisoned");
    state.created.push(body);
    if state.reject_creates {
        return (
            StatusCode::BAD_REQUEST,
            [("x-amzn-ErrorType", "BadRequestException")],
            Json(json!({ "message": "/outputGroups/0/outputs/0: maxBitrate is out of range" })),
        )
            .into_response();
    }
    if state.throttle_creates > 0 {
        state.throttle_creates -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("x-amzn-ErrorType", "TooManyRequestsException")],
            Json(json!({ "message": "Too many requests, slow down" })),
        )
            .into_response();
    }
    (StatusCode::CREATED, Json(job_json("SUBMITTED", json!({})))).into_response()
}

async fn get_job(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    if id != JOB_ID {
        return (
            StatusCode::NOT_FOUND,
            [("x-amzn-ErrorType", "NotFoundException")],
            Json(json!({ "message": "no such job" })),
        )
            .into_response();
    }
    let mut state = state.lock().expect("not poisoned");
    state.polls += 1;
    let answer = if state.answers.len() > 1 { state.answers.pop_front() } else { state.answers.front().cloned() };
    let body = match answer.unwrap_or(Answer::Progressing(0)) {
        Answer::Progressing(percent) => job_json("PROGRESSING", json!({ "jobPercentComplete": percent })),
        Answer::Complete => job_json("COMPLETE", json!({ "jobPercentComplete": 100 })),
        Answer::Error(code, message) => job_json("ERROR", json!({ "errorCode": code, "errorMessage": message })),
        Answer::Canceled => job_json("CANCELED", json!({})),
    };
    (StatusCode::OK, Json(body)).into_response()
}

async fn cancel_job(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    state.lock().expect("not poisoned").cancelled.push(id);
    (StatusCode::ACCEPTED, Json(json!({}))).into_response()
}

/// Starts the stand-in and a transcoder pointed at it with static test credentials.
async fn stand_in(answers: Vec<Answer>, throttle_creates: usize) -> (Shared, MediaConvertTranscoder) {
    let state: Shared =
        Arc::new(Mutex::new(StandIn { answers: answers.into(), throttle_creates, ..StandIn::default() }));
    let app = Router::new()
        .route("/2017-08-29/jobs", post(create_job))
        .route("/2017-08-29/jobs/{id}", get(get_job).delete(cancel_job))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let settings = MediaConvertSettings {
        endpoint: Some(url::Url::parse(&format!("http://{address}")).expect("valid")),
        region: "us-east-1".to_owned(),
        role_arn: ROLE.to_owned(),
        queue_arn: Some(QUEUE.to_owned()),
        poll_interval: Duration::from_millis(20),
        bucket: "media".to_owned(),
        access_key_id: Some("AKIDLECTERNTEST".to_owned()),
        secret_access_key: Some(SecretString::from("lectern-test-secret")),
    };
    (state, MediaConvertTranscoder::connect(settings).await)
}

/// A ten-minute 1080p30 H.264 recording with one English stereo track: pipelines' fixture, with
/// this recording's video bit rate and an untitled track.
fn source_1080p30() -> SourceInfo {
    let video = VideoStreamInfo { bit_rate: Some(3_800_000), ..fixtures::video(1920, 1080, FPS_30) };
    let audio = AudioStreamInfo { title: None, ..fixtures::audio(1, Some("eng"), 2) };
    fixtures::source(vec![video], vec![audio])
}

struct Fixture {
    source: SourceInfo,
    plan: pipelines::plan::Plan,
    store: Arc<dyn ObjectStore>,
    _root: Option<tempfile::TempDir>,
}

impl Fixture {
    /// With the local storage backend in a temporary directory.
    async fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let store = local_store_in(root.path()).await;
        Self::with_store(Arc::new(store), Some(root))
    }

    /// With a fresh bucket on the shared SeaweedFS (`scripts/seaweedfs.sh`).
    async fn seaweedfs() -> (Self, Arc<S3Store>) {
        let store = Arc::new(
            S3Store::connect(&s3_settings().await).await.expect("SeaweedFS answers (scripts/seaweedfs.sh start)"),
        );
        (Self::with_store(store.clone(), None), store)
    }

    fn with_store(store: Arc<dyn ObjectStore>, root: Option<tempfile::TempDir>) -> Self {
        let source = source_1080p30();
        let plan = pipelines::ladder::plan(&source, &Preset::default_course()).expect("plannable");
        Self { source, plan, store, _root: root }
    }

    fn job(&self) -> MediaConvertJob<'_> {
        MediaConvertJob {
            asset_id: ASSET_ID,
            version: 1,
            source: &self.source,
            plan: &self.plan,
            input: S3Location::parse("s3://media/uploads/lecture.mp4").expect("valid"),
            destination: S3Location::parse(&format!("s3://media/assets/{ASSET_ID}/v1/")).expect("valid"),
        }
    }

    async fn put(&self, name: &str, content: &'static str) {
        let key = ObjectKey::parse(format!("assets/{ASSET_ID}/v1/{name}")).expect("valid key");
        put_bytes(&*self.store, &key, Bytes::from_static(content.as_bytes()), PutOptions::default())
            .await
            .expect("put");
    }

    /// What MediaConvert leaves under the destination for this plan (abridged: two rungs).
    async fn write_package(&self) {
        self.put(
            "master.m3u8",
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"en\",AUTOSELECT=YES,DEFAULT=YES,CHANNELS=\"2\",URI=\"master_audio_eng.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=6290000,AVERAGE-BANDWIDTH=2470000,CODECS=\"avc1.640028,mp4a.40.2\",RESOLUTION=1920x1080,FRAME-RATE=30.000,AUDIO=\"audio\"\n\
             master_1080p.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3190000,AVERAGE-BANDWIDTH=1300000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\n\
             master_720p.m3u8\n",
        )
        .await;
        self.put("master.mpd", "<?xml version=\"1.0\"?><MPD/>").await;
        for rendition in ["1080p", "720p", "audio_eng"] {
            let playlist: &'static str = match rendition {
                "1080p" => "master_1080p.m3u8",
                "720p" => "master_720p.m3u8",
                _ => "master_audio_eng.m3u8",
            };
            self.put(playlist, "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n").await;
        }
        self.put("master_1080p_1.cmfv", "segment").await;
        self.put("images/thumb.0000000.jpg", "jpeg").await;
        self.put("images/thumb.0000001.jpg", "jpeg").await;
    }
}

#[tokio::test]
async fn a_finished_job_sent_the_plan_and_returns_the_renditions_it_wrote() {
    let (state, transcoder) =
        stand_in(vec![Answer::Progressing(0), Answer::Progressing(40), Answer::Complete], 0).await;
    let fixture = Fixture::new().await;
    fixture.write_package().await;
    let mut progress = Vec::new();
    let outputs = transcoder
        .run_to_completion(
            &fixture.job(),
            &*fixture.store,
            &mut |fraction| progress.push(fraction),
            &CancellationToken::new(),
        )
        .await
        .expect("the job completes");

    let body = state.lock().expect("not poisoned").created[0].clone();
    assert_eq!(body["role"], ROLE);
    assert_eq!(body["queue"], QUEUE);
    assert_eq!(body["userMetadata"], json!({ "asset_id": ASSET_ID.to_string(), "version": "1" }));
    assert_eq!(body["settings"]["inputs"][0]["fileInput"], "s3://media/uploads/lecture.mp4");
    let group = &body["settings"]["outputGroups"][0];
    assert_eq!(group["outputGroupSettings"]["type"], "CMAF_GROUP_SETTINGS");
    let cmaf = &group["outputGroupSettings"]["cmafGroupSettings"];
    assert_eq!(cmaf["destination"], format!("s3://media/assets/{ASSET_ID}/v1/master"));
    assert_eq!(cmaf["segmentLength"], 4);
    assert_eq!(cmaf["fragmentLength"], 4);
    assert_eq!(cmaf["writeHlsManifest"], "ENABLED");
    assert_eq!(cmaf["writeDashManifest"], "ENABLED");
    let outputs_sent = group["outputs"].as_array().expect("outputs");
    let modifiers: Vec<&str> = outputs_sent.iter().filter_map(|output| output["nameModifier"].as_str()).collect();
    assert_eq!(modifiers, ["_1080p", "_720p", "_480p", "_360p", "_240p", "_audio_eng"]);
    let top = &outputs_sent[0]["videoDescription"];
    assert_eq!((top["width"].as_i64(), top["height"].as_i64()), (Some(1920), Some(1080)));
    assert_eq!(top["codecSettings"]["codec"], "H_264");
    let h264 = &top["codecSettings"]["h264Settings"];
    assert_eq!(h264["rateControlMode"], "QVBR");
    assert_eq!(h264["maxBitrate"], 6_000_000);
    assert_eq!(h264["qvbrSettings"]["qvbrQualityLevel"], 7);
    assert_eq!(h264["gopSize"], 120.0);
    assert_eq!(h264["gopSizeUnits"], "FRAMES");
    assert_eq!(h264["codecProfile"], "HIGH");
    assert_eq!(outputs_sent[4]["videoDescription"]["codecSettings"]["h264Settings"]["maxBitrate"], 300_000);
    let audio = &outputs_sent[5]["audioDescriptions"][0]["codecSettings"];
    assert_eq!(audio["codec"], "AAC");
    assert_eq!(audio["aacSettings"]["bitrate"], 128_000);
    assert_eq!(audio["aacSettings"]["sampleRate"], 48_000);
    assert_eq!(audio["aacSettings"]["codingMode"], "CODING_MODE_2_0");
    let thumbnails = &body["settings"]["outputGroups"][1];
    assert_eq!(
        thumbnails["outputGroupSettings"]["fileGroupSettings"]["destination"],
        format!("s3://media/assets/{ASSET_ID}/v1/images/thumb")
    );
    assert_eq!(thumbnails["outputs"][0]["videoDescription"]["codecSettings"]["codec"], "FRAME_CAPTURE");
    // The SDK's idempotency token differs per call; everything else is stable.
    let mut stable = body.clone();
    let token = stable.as_object_mut().and_then(|body| body.remove("clientRequestToken"));
    assert!(token.as_ref().and_then(Value::as_str).is_some_and(|token| token.len() >= 32), "{token:?}");
    insta::assert_json_snapshot!("create_job_request", stable);

    assert!(progress.contains(&0.4) && progress.last() == Some(&1.0), "{progress:?}");
    assert_eq!(outputs.master_playlist.as_str(), format!("assets/{ASSET_ID}/v1/master.m3u8"));
    assert_eq!(
        outputs.dash_manifest.as_ref().map(ObjectKey::as_str),
        Some(format!("assets/{ASSET_ID}/v1/master.mpd").as_str())
    );
    assert_eq!(outputs.thumbnails.len(), 2);
    let names: Vec<&str> = outputs.renditions.iter().map(|rendition| rendition.name.as_str()).collect();
    assert_eq!(names, ["1080p", "720p", "audio_eng"]);
    let RenditionKind::Video { bandwidth, average_bandwidth, codecs, width, height, .. } = &outputs.renditions[0].kind
    else {
        panic!("1080p is video");
    };
    assert_eq!((*bandwidth, *average_bandwidth), (6_290_000, Some(2_470_000)));
    assert_eq!(codecs.as_deref(), Some("avc1.640028,mp4a.40.2"));
    assert_eq!((*width, *height), (Some(1920), Some(1080)));
    assert_eq!(outputs.renditions[1].playlist.as_str(), format!("assets/{ASSET_ID}/v1/master_720p.m3u8"));
    assert!(
        matches!(&outputs.renditions[2].kind, RenditionKind::Audio { language: Some(language), default: true, .. } if language == "en")
    );
}

#[tokio::test]
async fn a_throttled_create_job_is_retried_by_the_sdk() {
    let (state, transcoder) = stand_in(vec![Answer::Progressing(10)], 1).await;
    let fixture = Fixture::new().await;
    let job_id = transcoder.submit(&fixture.job()).await.expect("the second attempt is accepted");
    assert_eq!(job_id.0, JOB_ID);
    let state = state.lock().expect("not poisoned");
    assert_eq!(state.created.len(), 2, "one refusal, one success");
    assert_eq!(state.created[0], state.created[1], "the retry sends the same job, idempotency token included");
}

#[tokio::test]
async fn a_job_failing_on_its_input_is_a_bad_input_refusal() {
    let message = "Unable to open input file [s3://media/uploads/lecture.mp4]: [Failed probe/open: [No parser found for container]]";
    let (_state, transcoder) = stand_in(vec![Answer::Progressing(5), Answer::Error(1010, message)], 0).await;
    let fixture = Fixture::new().await;
    let error = transcoder
        .run_to_completion(&fixture.job(), &*fixture.store, &mut |_| {}, &CancellationToken::new())
        .await
        .expect_err("the job fails");
    assert!(matches!(&error, MediaConvertError::JobFailed { code: 1010, message: m, .. } if m == message), "{error:?}");
    assert_eq!(error.error_code(), "not_a_media_file");
    assert!(error.is_client_error() && !error.is_retryable());
    assert_eq!(error.refusal().map(|refusal| refusal.code.as_str()), Some("not_a_media_file"));
}

#[tokio::test]
async fn a_job_failing_inside_mediaconvert_is_retryable() {
    let (_state, transcoder) = stand_in(vec![Answer::Error(1999, "Unknown error")], 0).await;
    let fixture = Fixture::new().await;
    let error = transcoder
        .run_to_completion(&fixture.job(), &*fixture.store, &mut |_| {}, &CancellationToken::new())
        .await
        .expect_err("the job fails");
    assert!(error.is_retryable() && !error.is_client_error(), "{error:?}");
    assert_eq!(error.error_code(), "transcoder_unavailable");
}

#[tokio::test]
async fn a_job_canceled_in_mediaconvert_ends_as_canceled() {
    let (state, transcoder) = stand_in(vec![Answer::Progressing(20), Answer::Canceled], 0).await;
    let fixture = Fixture::new().await;
    let error = transcoder
        .run_to_completion(&fixture.job(), &*fixture.store, &mut |_| {}, &CancellationToken::new())
        .await
        .expect_err("the job was canceled");
    assert!(matches!(error, MediaConvertError::Canceled { .. }), "{error:?}");
    assert_eq!(error.error_code(), "transcode_canceled");
    assert!(state.lock().expect("not poisoned").cancelled.is_empty(), "nothing left to cancel");
}

#[tokio::test]
async fn stopping_the_caller_cancels_the_mediaconvert_job() {
    let (state, transcoder) = stand_in(vec![Answer::Progressing(30)], 0).await;
    let fixture = Fixture::new().await;
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let mut reported = 0;
    let error = transcoder
        .run_to_completion(
            &fixture.job(),
            &*fixture.store,
            &mut |_| {
                reported += 1;
                if reported == 2 {
                    stopper.cancel();
                }
            },
            &stop,
        )
        .await
        .expect_err("stopped");
    assert!(matches!(error, MediaConvertError::Canceled { .. }), "{error:?}");
    assert_eq!(state.lock().expect("not poisoned").cancelled, [JOB_ID]);
}

#[tokio::test]
async fn status_of_an_unknown_job_is_not_found() {
    let (_state, transcoder) = stand_in(vec![], 0).await;
    let error = transcoder
        .status(&lectern::transcode::mediaconvert::JobId("no-such-job".to_owned()))
        .await
        .expect_err("unknown");
    assert!(matches!(error, MediaConvertError::JobNotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn behind_the_transcoder_trait_storage_keys_become_locations_in_the_configured_bucket() {
    let (state, transcoder) = stand_in(vec![Answer::Error(1030, "Unsupported codec")], 0).await;
    let fixture = Fixture::new().await;
    let transcoder: Box<dyn Transcoder> = Box::new(transcoder);
    assert_eq!(transcoder.backend(), "mediaconvert");
    let request = TranscodeRequest {
        asset_id: ASSET_ID,
        version: 2,
        source: &fixture.source,
        plan: &fixture.plan,
        input: ObjectKey::parse("uploads/lecture.mp4").expect("valid"),
        destination: KeyPrefix::parse(format!("assets/{ASSET_ID}/v2/")).expect("valid"),
    };
    let error = transcoder
        .transcode(&request, &*fixture.store, &mut |_| {}, &CancellationToken::new())
        .await
        .expect_err("unsupported codec");
    assert!(
        matches!(error, TranscodeError::MediaConvert(MediaConvertError::JobFailed { code: 1030, .. })),
        "{error:?}"
    );
    assert_eq!(error.error_code(), "unsupported_codec");
    assert!(error.is_client_error());
    let body = state.lock().expect("not poisoned").created[0].clone();
    assert_eq!(body["settings"]["inputs"][0]["fileInput"], "s3://media/uploads/lecture.mp4");
    assert_eq!(
        body["settings"]["outputGroups"][0]["outputGroupSettings"]["cmafGroupSettings"]["destination"],
        format!("s3://media/assets/{ASSET_ID}/v2/master")
    );
    assert_eq!(body["userMetadata"]["version"], "2");
}

#[tokio::test]
async fn a_refused_create_job_is_neither_retried_nor_blamed_on_the_source() {
    let (state, transcoder) = stand_in(vec![], 0).await;
    state.lock().expect("not poisoned").reject_creates = true;
    let fixture = Fixture::new().await;
    let error = transcoder.submit(&fixture.job()).await.expect_err("refused");
    assert!(matches!(error, MediaConvertError::Api { op: "CreateJob", retryable: false, .. }), "{error:?}");
    assert_eq!(error.error_code(), "transcoder_rejected_request");
    assert!(!error.is_client_error() && !error.is_retryable());
    assert_eq!(state.lock().expect("not poisoned").created.len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_finished_job_is_read_back_from_s3_as_well() {
    let (state, transcoder) = stand_in(vec![Answer::Complete], 0).await;
    let (fixture, s3) = Fixture::seaweedfs().await;
    fixture.write_package().await;
    let result =
        transcoder.run_to_completion(&fixture.job(), &*fixture.store, &mut |_| {}, &CancellationToken::new()).await;
    let removed = fixture.store.delete_prefix(&KeyPrefix::parse("").expect("valid")).await;
    let _ = s3.client().delete_bucket().bucket(s3.bucket()).send().await;
    let output = result.expect("the job completes");
    removed.expect("clean-up");
    assert_eq!(state.lock().expect("not poisoned").created.len(), 1);
    let names: Vec<&str> = output.renditions.iter().map(|rendition| rendition.name.as_str()).collect();
    assert_eq!(names, ["1080p", "720p", "audio_eng"]);
    assert_eq!(output.thumbnails.len(), 2);
    assert!(output.dash_manifest.is_some());
}
