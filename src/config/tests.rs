//! Resolution of the arguments: defaults match the documentation, and every bad value names its
//! variable.

use super::*;
use secrecy::SecretString;

use crate::auth::AuthSettings;
use crate::media::{IngestSettings, UploadSettings};
use crate::transcode::TranscoderSettings;
use crate::webhooks::WebhookSettings;

#[test]
fn job_timings_default_to_the_documented_values_and_are_checked() {
    let cli = Cli::try_parse_from(["lectern", "worker"]).expect("flags parse");
    let Command::Worker(args) = cli.command else { panic!("worker expected") };
    let settings = args.jobs.resolve(2, Duration::from_secs(30)).expect("defaults are valid");
    assert_eq!(settings.lease, Duration::from_secs(60));
    assert_eq!(settings.poll_interval, Duration::from_secs(5));
    assert_eq!(settings.retry_delay, Duration::from_secs(5));
    assert_eq!(settings.retry_max_delay, Duration::from_secs(3600));
    assert_eq!(settings.concurrency, 2);
    assert_eq!(settings.quick_workers, 1);

    let cli = Cli::try_parse_from(["lectern", "serve", "--job-lease", "3s", "--job-retry-delay", "200ms"])
        .expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let settings = args.jobs.resolve(1, Duration::from_secs(30)).expect("valid");
    assert_eq!((settings.lease, settings.retry_delay), (Duration::from_secs(3), Duration::from_millis(200)));

    for (flags, setting) in [
        (["--job-lease", "500ms"], "LECTERN_JOB_LEASE"),
        (["--job-poll-interval", "5ms"], "LECTERN_JOB_POLL_INTERVAL"),
        (["--job-retry-delay", "0s"], "LECTERN_JOB_RETRY_DELAY"),
        (["--job-retry-max-delay", "1s"], "LECTERN_JOB_RETRY_MAX_DELAY"),
        (["--quick-workers", "33"], "LECTERN_QUICK_WORKERS"),
    ] {
        let cli = Cli::try_parse_from(["lectern", "worker", flags[0], flags[1]]).expect("flags parse");
        let Command::Worker(args) = cli.command else { panic!("worker expected") };
        assert_eq!(args.jobs.resolve(1, Duration::from_secs(30)).expect_err("refused").setting, setting);
    }
}

#[test]
fn durations_accept_the_usual_units() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("5 parsecs").is_err());
}

#[test]
fn sizes_accept_decimal_and_binary_units() {
    assert_eq!(parse_bytes("8MiB"), Ok(8 * 1024 * 1024));
    assert_eq!(parse_bytes("2GB"), Ok(2_000_000_000));
    assert_eq!(parse_bytes("1024"), Ok(1024));
    assert!(parse_bytes("lots").is_err());
}

#[test]
fn s3_without_a_bucket_names_the_missing_setting() {
    let cli = Cli::try_parse_from(["lectern", "serve", "--storage", "s3"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let public_url = Url::parse("http://127.0.0.1:8080").expect("valid");
    let error =
        args.storage.resolve(&args.common, &public_url, SecretString::from("x")).expect_err("bucket is required");
    assert_eq!(error.setting, "LECTERN_S3_BUCKET");
}

#[test]
fn s3_part_sizes_follow_s3s_rules() {
    let resolve = |flags: &[&str]| {
        let cli =
            Cli::try_parse_from(["lectern", "serve", "--storage", "s3", "--s3-bucket", "media"].iter().chain(flags))
                .expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        let public_url = Url::parse("http://127.0.0.1:8080").expect("valid");
        args.storage.resolve(&args.common, &public_url, SecretString::from("x"))
    };
    let Ok(crate::storage::StorageSettings::S3(s3)) = resolve(&[]) else { panic!("the defaults are valid") };
    assert_eq!(s3.multipart_part_size, 8 * 1024 * 1024);
    assert!(resolve(&["--s3-part-size", "5MiB"]).is_ok());
    assert!(resolve(&["--s3-part-size", "5GiB"]).is_ok());
    for size in ["4MiB", "6GiB"] {
        assert_eq!(resolve(&["--s3-part-size", size]).expect_err(size).setting, "LECTERN_S3_PART_SIZE");
    }
}

#[test]
fn upload_parts_must_hold_the_largest_upload_in_ten_thousand_parts() {
    let resolve = |flags: &[&str]| {
        let cli = Cli::try_parse_from(["lectern", "serve"].iter().chain(flags)).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        args.uploads.resolve()
    };
    // 8 MiB × 10,000 is 78 GiB: the default 20 GiB limit fits, 100 GiB does not.
    assert!(resolve(&["--max-upload-size", "78GiB"]).is_ok());
    let error = resolve(&["--max-upload-size", "100GiB"]).expect_err("too many parts");
    assert_eq!(error.setting, "LECTERN_UPLOAD_PART_SIZE");
    assert!(error.to_string().contains("11MiB"), "{error}");
    assert!(resolve(&["--max-upload-size", "100GiB", "--upload-part-size", "11MiB"]).is_ok());
    assert_eq!(resolve(&["--upload-part-size", "6GiB"]).expect_err("too large").setting, "LECTERN_UPLOAD_PART_SIZE");
}

#[test]
fn an_unparsable_public_url_is_refused_with_its_name() {
    let cli = Cli::try_parse_from(["lectern", "serve", "--public-url", "not a url"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    assert_eq!(args.http.resolve().expect_err("invalid").setting, "LECTERN_PUBLIC_URL");
}

#[test]
fn the_public_url_defaults_to_the_listen_address() {
    let cli = Cli::try_parse_from(["lectern", "serve", "--listen", "0.0.0.0:9000"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    assert_eq!(args.http.resolve().expect("valid").public_url.as_str(), "http://127.0.0.1:9000/");
}

#[test]
fn a_non_postgres_database_url_is_refused() {
    let cli = Cli::try_parse_from(["lectern", "migrate", "--database-url", "mysql://x/y"]).expect("flags parse");
    let Command::Migrate(args) = cli.command else { panic!("migrate expected") };
    assert_eq!(args.database.resolve().expect_err("invalid").setting, "DATABASE_URL");
}

#[test]
fn resolutions_are_width_by_height() {
    assert_eq!(parse_resolution("4096x2304"), Ok((4096, 2304)));
    assert_eq!(parse_resolution("1920X1080"), Ok((1920, 1080)));
    assert!(parse_resolution("4k").is_err());
    assert!(parse_resolution("0x100").is_err());
}

#[test]
fn rates_accept_units_and_durations() {
    let minute = Duration::from_secs(60);
    assert_eq!(parse_rate("10/min"), Ok(RateLimit { max: 10, period: minute }));
    assert_eq!(parse_rate("5/s"), Ok(RateLimit { max: 5, period: Duration::from_secs(1) }));
    assert_eq!(parse_rate("20/5m"), Ok(RateLimit { max: 20, period: 5 * minute }));
    assert!(parse_rate("0/min").is_err());
    assert!(parse_rate("ten/min").is_err());
    assert!(parse_rate("10").is_err());
}

#[test]
fn the_auth_defaults_match_the_documented_ones() {
    let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let settings = args.auth.resolve(None).expect("valid");
    let defaults = AuthSettings::default();
    assert_eq!(settings.passwords, defaults.passwords);
    assert_eq!(settings.access_token_ttl, defaults.access_token_ttl);
    assert_eq!(settings.session_idle_timeout, defaults.session_idle_timeout);
    assert_eq!(settings.session_max_age, defaults.session_max_age);
    assert_eq!(settings.rate_limits.login, defaults.rate_limits.login);
}

#[test]
fn oauth_providers_are_enabled_by_their_client_id_and_apple_needs_its_key_settings() {
    let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let none = args.auth.oauth.resolve().expect("valid");
    assert!(none.google.is_none() && none.apple.is_none() && none.yandex.is_none() && none.vk.is_none());
    assert!(!none.yandex_trust_email);

    let cli = Cli::try_parse_from([
        "lectern",
        "serve",
        "--oauth-vk-client-id",
        "5123",
        "--oauth-google-client-id",
        "g",
        "--oauth-redirect-origins",
        "https://app.example,http://127.0.0.1:3000",
    ])
    .expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let some = args.auth.oauth.resolve().expect("valid");
    assert_eq!(some.vk.expect("vk").token_url.as_str(), "https://id.vk.com/oauth2/auth");
    assert_eq!(some.google.expect("google").issuer.as_str(), "https://accounts.google.com/");
    assert_eq!(some.redirect_origins.len(), 2);

    let cli = Cli::try_parse_from(["lectern", "serve", "--oauth-apple-client-id", "com.example"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let error = args.auth.oauth.resolve().expect_err("apple needs a key");
    assert_eq!(error.setting, "LECTERN_OAUTH_APPLE_PRIVATE_KEY");

    let cli = Cli::try_parse_from(["lectern", "serve", "--oauth-redirect-origins", "https://app.example/path"])
        .expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    assert_eq!(args.auth.oauth.resolve().expect_err("no paths").setting, "LECTERN_OAUTH_REDIRECT_ORIGINS");
}

#[test]
fn the_cdn_defaults_to_the_local_origin_and_takes_a_cloudfront_url() {
    let serve = |flags: &[&str]| {
        let mut argv = vec!["lectern", "serve", "--listen", "127.0.0.1:9000"];
        argv.extend_from_slice(flags);
        let cli = Cli::try_parse_from(argv).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        args
    };
    let args = serve(&[]);
    let settings = args.cdn.resolve(&args.http.resolve().expect("valid"), None).expect("valid");
    assert_eq!(settings.base_url, "http://127.0.0.1:9000/cdn");
    assert_eq!(settings.hash_algorithm, crate::cdn::HashAlgorithm::Sha1);
    assert_eq!(settings.signature_ttl, Duration::from_secs(6 * 3600));
    assert!(settings.cloudfront.is_none());

    let args = serve(&[
        "--cdn-base-url",
        "https://d111111abcdef8.cloudfront.net/",
        "--cdn-hash-algorithm",
        "sha256",
        "--cloudfront-distribution-id",
        "E2QWRUHEXAMPLE",
    ]);
    let settings = args.cdn.resolve(&args.http.resolve().expect("valid"), None).expect("valid");
    assert_eq!(settings.base_url, "https://d111111abcdef8.cloudfront.net");
    assert_eq!(settings.hash_algorithm, crate::cdn::HashAlgorithm::Sha256);
    assert_eq!(settings.cloudfront.map(|c| c.distribution_id).as_deref(), Some("E2QWRUHEXAMPLE"));

    // The file is only named here; start-up loads it (configuration builds no keys), and a
    // missing one is still an error that names the variable.
    let args = serve(&["--cdn-trusted-keys-file", "/nonexistent/trusted-keys"]);
    let path = args.cdn.trusted_keys_file().expect("the file is named");
    let error = crate::keys::load_cdn_trusted_keys(path).expect_err("missing file");
    assert_eq!(error.setting, "LECTERN_CDN_TRUSTED_KEYS_FILE");
}

#[test]
fn the_certificate_key_lives_beside_the_others_and_an_explicit_one_is_never_generated() {
    let cli = Cli::try_parse_from(["lectern", "serve", "--data-dir", "/srv/lectern"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let paths = args.keys.resolve(&args.common);
    assert_eq!(paths.certificate_key.path, std::path::Path::new("/srv/lectern/keys/certificate-signing-key.pem"));
    assert!(paths.certificate_key.generate_if_missing);
    assert_eq!(paths.certificate_key.setting, "LECTERN_CERTIFICATE_KEY_FILE");
    assert!(paths.certificate_previous_keys.is_empty());

    let cli = Cli::try_parse_from([
        "lectern",
        "serve",
        "--certificate-key-file",
        "/etc/lectern/certificate.pem",
        "--certificate-previous-key-files",
        "/etc/lectern/old-1.pem,/etc/lectern/old-2.pem",
    ])
    .expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let paths = args.keys.resolve(&args.common);
    assert_eq!(paths.certificate_key.path, std::path::Path::new("/etc/lectern/certificate.pem"));
    assert!(!paths.certificate_key.generate_if_missing);
    assert_eq!(paths.certificate_previous_keys.len(), 2);
}

#[test]
fn a_worker_invalidates_only_with_a_distribution_and_the_base_url_its_paths_hang_under() {
    let worker = |flags: &[&str]| {
        let mut argv = vec!["lectern", "worker"];
        argv.extend_from_slice(flags);
        let cli = Cli::try_parse_from(argv).expect("flags parse");
        let Command::Worker(args) = cli.command else { panic!("worker expected") };
        args.distribution.resolve_for_worker(None)
    };
    assert!(worker(&[]).expect("valid").is_none());
    assert!(worker(&["--cdn-base-url", "https://cdn.example/media"]).expect("valid").is_none());
    let error = worker(&["--cloudfront-distribution-id", "E2QWRUHEXAMPLE"]).expect_err("no base URL");
    assert_eq!(error.setting, "LECTERN_CDN_BASE_URL");
    let (cloudfront, base_url) =
        worker(&["--cloudfront-distribution-id", "E2QWRUHEXAMPLE", "--cdn-base-url", "https://cdn.example/media/"])
            .expect("valid")
            .expect("configured");
    assert_eq!(cloudfront.distribution_id, "E2QWRUHEXAMPLE");
    assert_eq!(base_url, "https://cdn.example/media");
}

#[test]
fn the_ingest_defaults_match_the_documented_ones() {
    let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    let settings = args.ingest.resolve().expect("valid");
    let defaults = IngestSettings::default();
    assert_eq!(settings.limits, defaults.limits);
    assert_eq!(settings.fetch.max_redirects, defaults.fetch.max_redirects);
    assert_eq!(settings.fetch.max_bytes, defaults.fetch.max_bytes);
    assert_eq!(settings.fetch.total_timeout, defaults.fetch.total_timeout);
    assert_eq!(settings.multipart_part_size, defaults.multipart_part_size);
    assert_eq!(settings.multipart_expiry, defaults.multipart_expiry);
    assert_eq!(settings.sweep_interval, defaults.sweep_interval);
}

#[test]
fn the_webhook_defaults_match_the_documented_ones_and_bad_values_name_their_setting() {
    let webhooks = |flags: &[&str]| {
        let cli = Cli::try_parse_from([&["lectern", "serve"], flags].concat()).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        args.webhooks.resolve()
    };
    let settings = webhooks(&[]).expect("valid");
    let defaults = WebhookSettings::default();
    assert_eq!(settings.fetch.policy, defaults.fetch.policy);
    assert_eq!(settings.fetch.total_timeout, Duration::from_secs(10));
    assert_eq!(settings.fetch.max_redirects, 0);
    assert_eq!(settings.allow_http, defaults.allow_http);
    assert_eq!(settings.max_endpoints_per_account, defaults.max_endpoints_per_account);
    assert_eq!(settings.retry_base_delay, defaults.retry_base_delay);
    assert_eq!(settings.retry_max_delay, defaults.retry_max_delay);
    assert_eq!(settings.retry_window, Duration::from_secs(24 * 3600));
    for (flags, setting) in [
        (&["--webhook-allow-hosts", "10.0.0.0/40"][..], "LECTERN_WEBHOOK_ALLOW_HOSTS"),
        (&["--webhook-max-endpoints", "0"][..], "LECTERN_WEBHOOK_MAX_ENDPOINTS"),
        (&["--webhook-timeout", "5m"][..], "LECTERN_WEBHOOK_TIMEOUT"),
        (&["--webhook-retry-max-delay", "1s"][..], "LECTERN_WEBHOOK_RETRY_MAX_DELAY"),
        (&["--webhook-retry-window", "60d"][..], "LECTERN_WEBHOOK_RETRY_WINDOW"),
    ] {
        assert_eq!(webhooks(flags).expect_err("invalid").setting, setting);
    }
}

#[test]
fn the_graphql_limits_default_to_the_documented_values_and_bad_ones_name_their_setting() {
    let training = |flags: &[&str]| {
        let cli = Cli::try_parse_from([&["lectern", "serve"], flags].concat()).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        args.training.resolve()
    };
    let settings = training(&[]).expect("valid");
    assert_eq!(settings.graphql, crate::training::GraphQlSettings::default());
    assert_eq!((settings.graphql.max_depth, settings.graphql.max_complexity), (15, 1000));
    let settings = training(&["--graphql-max-depth", "8", "--graphql-max-complexity", "300"]).expect("valid");
    assert_eq!((settings.graphql.max_depth, settings.graphql.max_complexity), (8, 300));
    for (flags, setting) in [
        (["--graphql-max-depth", "4"], "LECTERN_GRAPHQL_MAX_DEPTH"),
        (["--graphql-max-depth", "31"], "LECTERN_GRAPHQL_MAX_DEPTH"),
        (["--graphql-max-complexity", "99"], "LECTERN_GRAPHQL_MAX_COMPLEXITY"),
    ] {
        assert_eq!(training(&flags).expect_err("invalid").setting, setting);
    }
}

#[test]
fn an_unparsable_import_allow_list_names_its_setting() {
    let cli = Cli::try_parse_from(["lectern", "serve", "--import-allow-hosts", "10.0.0.0/40"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    assert_eq!(args.ingest.resolve().expect_err("invalid").setting, "LECTERN_IMPORT_ALLOW_HOSTS");
}

#[test]
fn the_upload_defaults_match_the_documented_ones() {
    let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    assert_eq!(args.uploads.resolve().expect("valid"), UploadSettings::default());
    let cli = Cli::try_parse_from(["lectern", "serve", "--upload-part-size", "1MiB"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    assert_eq!(args.uploads.resolve().expect_err("too small").setting, "LECTERN_UPLOAD_PART_SIZE");
}

#[test]
fn the_command_line_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

mod transcoder_settings {
    use super::*;

    /// `serve` and `worker` do not flatten the transcoder flags yet; this stands in for them.
    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        transcoder: TranscoderArgs,
    }

    fn resolve(flags: &[&str]) -> Result<TranscoderSettings, ConfigError> {
        let flags =
            Flags::try_parse_from(std::iter::once("lectern").chain(flags.iter().copied())).expect("flags parse");
        flags.transcoder.resolve(&flags.storage)
    }

    #[test]
    fn the_local_engine_is_the_default() {
        assert!(matches!(resolve(&[]), Ok(TranscoderSettings::Local)));
    }

    #[test]
    fn mediaconvert_needs_s3_storage_and_a_role() {
        let error = resolve(&["--transcoder", "mediaconvert"]).expect_err("local storage");
        assert_eq!(error.setting, "LECTERN_TRANSCODER");
        let error =
            resolve(&["--transcoder", "mediaconvert", "--storage", "s3", "--s3-bucket", "media"]).expect_err("no role");
        assert_eq!(error.setting, "LECTERN_MEDIACONVERT_ROLE_ARN");
        let error = resolve(&[
            "--transcoder",
            "mediaconvert",
            "--storage",
            "s3",
            "--s3-bucket",
            "media",
            "--mediaconvert-role-arn",
            "MediaConvertRole",
        ])
        .expect_err("not an ARN");
        assert_eq!(error.setting, "LECTERN_MEDIACONVERT_ROLE_ARN");
    }

    #[test]
    fn mediaconvert_takes_the_bucket_and_region_from_storage() {
        let settings = resolve(&[
            "--transcoder",
            "mediaconvert",
            "--storage",
            "s3",
            "--s3-bucket",
            "media",
            "--s3-region",
            "eu-west-1",
            "--mediaconvert-role-arn",
            "arn:aws:iam::111122223333:role/MediaConvert",
            "--mediaconvert-queue",
            "arn:aws:mediaconvert:eu-west-1:111122223333:queues/Lectern",
            "--mediaconvert-endpoint",
            "http://127.0.0.1:9000/",
        ])
        .expect("valid");
        let TranscoderSettings::MediaConvert(settings) = settings else { panic!("mediaconvert expected") };
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.bucket, "media");
        assert_eq!(settings.endpoint.map(String::from).as_deref(), Some("http://127.0.0.1:9000/"));
        assert_eq!(settings.queue_arn.as_deref(), Some("arn:aws:mediaconvert:eu-west-1:111122223333:queues/Lectern"));
        assert_eq!(settings.poll_interval, Duration::from_secs(10));
    }

    #[test]
    fn the_transcoder_flags_do_not_clash_with_the_storage_flags() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
    }
}

#[test]
fn a_worker_serves_metrics_only_where_told_and_refuses_an_address_it_cannot_parse() {
    let cli = Cli::try_parse_from(["lectern", "worker"]).expect("flags parse");
    let Command::Worker(args) = cli.command else { panic!("worker expected") };
    assert_eq!(args.metrics_listen, None, "no listener by default");

    let cli = Cli::try_parse_from(["lectern", "worker", "--metrics-listen", "0.0.0.0:9090"]).expect("flags parse");
    let Command::Worker(args) = cli.command else { panic!("worker expected") };
    assert_eq!(args.metrics_listen, Some("0.0.0.0:9090".parse().expect("address")));

    let error = Cli::try_parse_from(["lectern", "worker", "--metrics-listen", "localhost"]).expect_err("refused");
    assert!(error.to_string().contains("--metrics-listen"), "{error}");
}

// --- OTLP trace export and SQS wake-ups (issue 19) ---
#[test]
fn span_export_is_off_by_default_and_needs_a_plain_http_collector() {
    let cli = Cli::try_parse_from(["lectern", "serve"]).expect("flags parse");
    let Command::Serve(args) = cli.command else { panic!("serve expected") };
    assert!(args.common.otlp().expect("valid").is_none());

    let cli = Cli::try_parse_from(["lectern", "worker", "--otlp-endpoint", "http://127.0.0.1:4318"]).expect("parse");
    let Command::Worker(args) = cli.command else { panic!("worker expected") };
    let otlp = args.common.otlp().expect("valid").expect("on");
    assert_eq!((otlp.endpoint.as_str(), otlp.service_name.as_str()), ("http://127.0.0.1:4318/", "lectern"));

    for (flags, setting) in [
        (["--otlp-endpoint", "https://collector.example:4318"], "LECTERN_OTLP_ENDPOINT"),
        (["--otlp-endpoint", "grpc://127.0.0.1:4317"], "LECTERN_OTLP_ENDPOINT"),
        (["--otlp-service-name", " "], "LECTERN_OTLP_SERVICE_NAME"),
    ] {
        let mut argv = vec!["lectern", "serve", flags[0], flags[1]];
        if flags[0] == "--otlp-service-name" {
            argv.extend(["--otlp-endpoint", "http://127.0.0.1:4318"]);
        }
        let cli = Cli::try_parse_from(argv).expect("flags parse");
        let Command::Serve(args) = cli.command else { panic!("serve expected") };
        assert_eq!(args.common.otlp().expect_err("refused").setting, setting);
    }
}

#[test]
fn sqs_wakeups_are_off_by_default_and_take_the_region_from_an_aws_queue_url() {
    let resolve = |flags: &[&str]| {
        let argv = [&["lectern", "worker"][..], flags].concat();
        let cli = Cli::try_parse_from(argv).expect("flags parse");
        let Command::Worker(args) = cli.command else { panic!("worker expected") };
        args.jobs.resolve(1, Duration::from_secs(30)).map(|settings| settings.sqs)
    };
    assert!(resolve(&[]).expect("valid").is_none());
    let sqs = resolve(&["--sqs-queue-url", "https://sqs.eu-west-1.amazonaws.com/123456789012/lectern-job-wakeups"])
        .expect("valid")
        .expect("on");
    assert_eq!((sqs.region.as_str(), sqs.wait), ("eu-west-1", Duration::from_secs(20)));
    let sqs = resolve(&[
        "--sqs-queue-url",
        "http://127.0.0.1:5000/123456789012/jobs",
        "--sqs-region",
        "us-east-1",
        "--sqs-endpoint",
        "http://127.0.0.1:5000",
    ])
    .expect("valid")
    .expect("on");
    assert_eq!(sqs.region, "us-east-1");
    assert!(sqs.endpoint.is_some());

    for (flags, setting) in [
        (&["--sqs-queue-url", "http://127.0.0.1:5000/123456789012/jobs"][..], "LECTERN_SQS_REGION"),
        (&["--sqs-queue-url", "https://sqs.eu-west-1.amazonaws.com/"][..], "LECTERN_SQS_QUEUE_URL"),
        (&["--sqs-queue-url", "https://sqs.eu-west-1.amazonaws.com/1/q", "--sqs-wait", "30s"][..], "LECTERN_SQS_WAIT"),
    ] {
        assert_eq!(resolve(flags).expect_err("refused").setting, setting);
    }
}
// --- end OTLP/SQS ---
