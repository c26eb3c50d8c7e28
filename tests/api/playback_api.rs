//! Playback sessions through the API: who gets one (grants, owners, administrators, public
//! assets, API keys acting for learners), what their manifests contain (every child URI signed
//! and resolving through the local origin to the package's bytes), and how they end
//! (revocation of the session or of the grant, expiry), plus origin and address restrictions.

use crate::helpers::playback::{Lesson, grant, lesson, package, start_session, video_renditions};
use crate::helpers::{TestApp, account_with_roles, api_key, error_code, spawn_app};
use lectern::cdn::{Cdn, CdnError, CdnSettings, SignedRequest};
use serde_json::{Value, json};
use sqlx::PgPool;

fn cdn(app: &TestApp) -> Cdn {
    let public_url = url::Url::parse(&app.address).expect("URL");
    Cdn::new(CdnSettings::local(&public_url), &app.keys().cdn)
}

async fn session(app: &TestApp, lesson: &Lesson, token: &str) -> Value {
    let response = start_session(app, lesson.asset_id, token, None).await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(url).send().await.expect("request")
}

async fn text(app: &TestApp, url: &str) -> String {
    let response = fetch(app, url).await;
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    response.text().await.expect("text")
}

/// The URIs of an HLS playlist: URI lines and `URI="…"` attributes.
fn hls_uris(playlist: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in playlist.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(start) = rest.find("URI=\"") {
                let value = &rest[start + 5..];
                uris.push(value[..value.find('"').expect("closing quote")].to_owned());
            }
        } else {
            uris.push(line.to_owned());
        }
    }
    uris
}

/// The segment URLs of an MPD: `initialization` and the first `media` of each template.
fn dash_uris(mpd: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for attribute in [" initialization=\"", " media=\""] {
        for (at, _) in mpd.match_indices(attribute) {
            let value = &mpd[at + attribute.len()..];
            let value = &value[..value.find('"').expect("closing quote")];
            uris.push(value.replace("&amp;", "&").replace("$Number%05d$", "00001"));
        }
    }
    uris
}

/// Checks a signed object URL with the app's verifier and fetches it through the origin; the
/// bytes must be the package file at the same path.
async fn assert_signed_and_served(app: &TestApp, cdn: &Cdn, asset_id: uuid::Uuid, url: &str) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let client: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    assert_eq!(cdn.verifier.verify(&SignedRequest::from_url(url), client, now), Ok(()), "{url}");
    let prefix = format!("{}/cdn/assets/{asset_id}/v1/", app.address);
    let path = url.strip_prefix(&prefix).expect("under the version prefix").split(['?', '#']).next().expect("path");
    let response = fetch(app, url).await;
    assert_eq!(response.status(), 200, "{url}");
    let expected = std::fs::read(package().0.join(path)).expect("package file");
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), expected.as_slice(), "{path}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_learner_with_a_grant_gets_manifests_whose_every_child_is_signed_and_served(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    assert_eq!(grant(&app, &lesson, lesson.learner_id).await.status(), 201);
    let session = session(&app, &lesson, &lesson.learner).await;
    let cdn = cdn(&app);
    let session_id = session["session_id"].as_str().expect("id");
    let play = format!("{}/play/{session_id}", app.address);
    assert_eq!(session["hls_url"], format!("{play}/master.m3u8"));
    assert_eq!(session["dash_url"], format!("{play}/manifest.mpd"));
    assert_eq!(session["storyboard_url"], format!("{play}/images/storyboard.vtt"));
    assert!(session["expires_at"].is_string());
    for key in ["poster_url", "download_url"] {
        assert_signed_and_served(&app, &cdn, lesson.asset_id, session[key].as_str().expect("url")).await;
    }

    let master_response = fetch(&app, &format!("{play}/master.m3u8")).await;
    assert_eq!(master_response.headers()["content-type"], "application/vnd.apple.mpegurl");
    let master = text(&app, &format!("{play}/master.m3u8")).await;
    let media_playlists = hls_uris(&master);
    assert_eq!(media_playlists.len(), video_renditions().len() + 1, "every rung and the audio: {master}");
    let mut segments = 0;
    for playlist_url in media_playlists {
        assert!(playlist_url.starts_with(&play), "{playlist_url}");
        let playlist = text(&app, &playlist_url).await;
        for uri in hls_uris(&playlist) {
            assert_signed_and_served(&app, &cdn, lesson.asset_id, &uri).await;
            segments += 1;
        }
    }
    assert!(segments >= 9, "init and media segments of three renditions, got {segments}");

    let mpd = text(&app, &format!("{play}/manifest.mpd")).await;
    let uris = dash_uris(&mpd);
    assert_eq!(uris.len(), 2 * (video_renditions().len() + 1), "{mpd}");
    for uri in uris {
        assert_signed_and_served(&app, &cdn, lesson.asset_id, &uri).await;
    }
    let storyboard = text(&app, &format!("{play}/images/storyboard.vtt")).await;
    let sheet = storyboard.lines().find(|l| l.starts_with("http")).expect("a sheet");
    assert!(sheet.contains("#xywh="), "{sheet}");
    assert_signed_and_served(&app, &cdn, lesson.asset_id, sheet).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_origin_refuses_tampered_foreign_and_expired_signatures(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    assert_eq!(grant(&app, &lesson, lesson.learner_id).await.status(), 201);
    let other_asset = crate::helpers::media::new_asset(&app, &lesson.owner).await;
    crate::helpers::playback::publish(&app, other_asset).await;
    let session = session(&app, &lesson, &lesson.learner).await;
    let playlist_url = format!(
        "{}/play/{}/{}/playlist.m3u8",
        app.address,
        session["session_id"].as_str().expect("id"),
        video_renditions()[0]
    );
    let playlist = text(&app, &playlist_url).await;
    let segment = hls_uris(&playlist).pop().expect("a segment");
    assert_eq!(fetch(&app, &segment).await.status(), 200);

    let (path, query) = segment.split_once('?').expect("signed");
    let signature = query.split('&').find(|p| p.starts_with("Signature=")).expect("signature");
    let value = &signature["Signature=".len()..];
    let (head, rest) = value.split_at(1);
    let flipped = format!("Signature={}{rest}", if head == "A" { 'B' } else { 'A' });
    let tampered = segment.replace(signature, &flipped);
    let response = fetch(&app, &tampered).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "signature_invalid");

    let foreign = format!("{}?{query}", path.replace(&lesson.asset_id.to_string(), &other_asset.to_string()));
    let response = fetch(&app, &foreign).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "resource_not_allowed");

    let cdn = cdn(&app);
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
    let policy = cdn.asset_version_policy(&lesson.asset_id, 1, past, None);
    let expired = cdn.signer.sign_policy(&policy).expect("signs").sign_url(path);
    let response = fetch(&app, &expired).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "signature_expired");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn without_a_grant_a_learner_is_refused_but_owners_admins_and_public_assets_play(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    // Answered as for an asset that does not exist, so ids cannot be probed.
    let response = start_session(&app, lesson.asset_id, &lesson.learner, None).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");

    assert_eq!(start_session(&app, lesson.asset_id, &lesson.owner, None).await.status(), 201);
    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;
    assert_eq!(start_session(&app, lesson.asset_id, &admin, None).await.status(), 201);

    let response = start_session(&app, uuid::Uuid::new_v4(), &lesson.learner, None).await;
    assert_eq!(response.status(), 404);

    let public = json!({"visibility": "public", "allowed_origins": [], "bind_ip": false});
    let response = app
        .client
        .put(app.url(&format!("/v1/assets/{}/access", lesson.asset_id)))
        .bearer_auth(&lesson.learner)
        .json(&public)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403, "learners may not change access");
    let response = app
        .client
        .put(app.url(&format!("/v1/assets/{}/access", lesson.asset_id)))
        .bearer_auth(&lesson.owner)
        .json(&public)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(start_session(&app, lesson.asset_id, &lesson.learner, None).await.status(), 201);

    let metrics = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains(r#"lectern_playback_sessions_total{outcome="created"} 3"#), "{metrics}");
    assert!(metrics.contains(r#"lectern_playback_sessions_total{outcome="refused"} 2"#), "{metrics}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_asset_that_is_not_ready_answers_asset_not_ready(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, owner) = account_with_roles(&app, "teacher@example.com", &["learner", "instructor"]).await;
    let asset_id = crate::helpers::media::new_asset(&app, &owner).await;
    let response = start_session(&app, asset_id, &owner, None).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "asset_not_ready");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_api_key_with_playback_create_acts_for_a_learner_who_may_watch(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    let key = api_key(&app, &lesson.owner, &["playback:create"]).await;
    let reader = api_key(&app, &lesson.owner, &["assets:read"]).await;
    let for_learner = Some(json!({"on_behalf_of": lesson.learner_id}));

    let response = start_session(&app, lesson.asset_id, &reader, for_learner.clone()).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "insufficient_scope");

    let response = start_session(&app, lesson.asset_id, &key, for_learner.clone()).await;
    assert_eq!(response.status(), 403, "no grant yet");
    assert_eq!(error_code(response).await, "playback_not_allowed");

    assert_eq!(grant(&app, &lesson, lesson.learner_id).await.status(), 201);
    let response = start_session(&app, lesson.asset_id, &key, for_learner.clone()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let row: (uuid::Uuid, Option<uuid::Uuid>) =
        sqlx::query_as("select account_id, api_key_id from playback_session where session_id = $1")
            .bind(body["session_id"].as_str().expect("id").parse::<uuid::Uuid>().expect("uuid"))
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_eq!(row.0, lesson.learner_id);
    assert!(row.1.is_some());

    let response =
        start_session(&app, lesson.asset_id, &key, Some(json!({"on_behalf_of": uuid::Uuid::new_v4()}))).await;
    assert_eq!(response.status(), 404);

    // Another instructor's key cannot reach this asset at all.
    let (_, stranger) = account_with_roles(&app, "other@example.com", &["learner", "instructor"]).await;
    let stranger_key = api_key(&app, &stranger, &["playback:create"]).await;
    let response = start_session(&app, lesson.asset_id, &stranger_key, for_learner).await;
    assert_eq!(response.status(), 404);

    // A person cannot act for someone else.
    let response =
        start_session(&app, lesson.asset_id, &lesson.owner, Some(json!({"on_behalf_of": lesson.learner_id}))).await;
    assert_eq!(response.status(), 422);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn revoking_a_session_or_the_grant_stops_the_manifests_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    assert_eq!(grant(&app, &lesson, lesson.learner_id).await.status(), 201);
    let listed: Value = app
        .get_with(&format!("/v1/assets/{}/grants", lesson.asset_id), &lesson.owner)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["grants"][0]["account_id"], lesson.learner_id.to_string());

    let first = session(&app, &lesson, &lesson.learner).await;
    let first_master = first["hls_url"].as_str().expect("url").to_owned();
    assert_eq!(fetch(&app, &first_master).await.status(), 200);
    let (_, stranger) = account_with_roles(&app, "stranger@example.com", &["learner"]).await;
    let delete = |token: String| {
        let url = app.url(&format!("/v1/playback/{}", first["session_id"].as_str().expect("id")));
        let client = app.client.clone();
        async move { client.delete(url).bearer_auth(token).send().await.expect("request") }
    };
    assert_eq!(delete(stranger).await.status(), 404);
    assert_eq!(delete(lesson.learner.clone()).await.status(), 204);
    let response = fetch(&app, &first_master).await;
    assert_eq!(response.status(), 410);
    assert_eq!(error_code(response).await, "playback_session_revoked");

    let second = session(&app, &lesson, &lesson.learner).await;
    let third = session(&app, &lesson, &lesson.learner).await;
    let owners_own = session(&app, &lesson, &lesson.owner).await;
    let response = app
        .client
        .delete(app.url(&format!("/v1/assets/{}/grants/{}", lesson.asset_id, lesson.learner_id)))
        .bearer_auth(&lesson.owner)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    for revoked in [&second, &third] {
        let response = fetch(&app, revoked["dash_url"].as_str().expect("url")).await;
        assert_eq!(response.status(), 410);
        assert_eq!(error_code(response).await, "playback_session_revoked");
    }
    assert_eq!(fetch(&app, owners_own["hls_url"].as_str().expect("url")).await.status(), 200);
    // Without the grant the private asset is, for the learner, one that does not exist.
    assert_eq!(start_session(&app, lesson.asset_id, &lesson.learner, None).await.status(), 404);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_expired_session_serves_nothing_and_an_unknown_one_is_not_found(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    let session = session(&app, &lesson, &lesson.owner).await;
    sqlx::query(
        "update playback_session set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'",
    )
    .execute(&app.pool)
    .await
    .expect("expire");
    let response = fetch(&app, session["hls_url"].as_str().expect("url")).await;
    assert_eq!(response.status(), 410);
    assert_eq!(error_code(response).await, "playback_session_expired");
    let response = fetch(&app, &format!("{}/play/{}/master.m3u8", app.address, uuid::Uuid::new_v4())).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "playback_session_not_found");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn allowed_origins_restrict_session_creation_and_bind_ip_puts_the_client_into_the_policy(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    let settings = json!({"visibility": "private", "allowed_origins": ["https://school.example"], "bind_ip": true});
    let response = app
        .client
        .put(app.url(&format!("/v1/assets/{}/access", lesson.asset_id)))
        .bearer_auth(&lesson.owner)
        .json(&settings)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let start = |origin: Option<&'static str>, referer: Option<&'static str>| {
        let mut request =
            app.client.post(app.url(&format!("/v1/assets/{}/playback", lesson.asset_id))).bearer_auth(&lesson.owner);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        async move { request.send().await.expect("request") }
    };
    for (origin, referer) in
        [(None, None), (Some("https://evil.example"), None), (None, Some("https://evil.example/lesson"))]
    {
        let response = start(origin, referer).await;
        assert_eq!(response.status(), 403);
        assert_eq!(error_code(response).await, "origin_not_allowed");
    }
    assert_eq!(start(None, Some("https://school.example/course/1")).await.status(), 201);
    let response = start(Some("https://school.example"), None).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.expect("json");

    let media = app
        .client
        .get(format!(
            "{}/play/{}/{}/playlist.m3u8",
            app.address,
            session["session_id"].as_str().expect("id"),
            video_renditions()[0]
        ))
        .header("origin", "https://school.example")
        .send()
        .await
        .expect("request");
    assert_eq!(media.status(), 200);
    let segment = hls_uris(&media.text().await.expect("text")).pop().expect("segment");
    let policy = segment.split(['?', '&']).find_map(|p| p.strip_prefix("Policy=")).expect("policy");
    let json = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        policy.replace('-', "+").replace('_', "=").replace('~', "/"),
    )
    .expect("base64");
    let policy = lectern::cdn::Policy::parse(&json).expect("policy");
    assert_eq!(policy.ip_address.expect("bound").as_str(), "127.0.0.1/32");
    assert_eq!(fetch(&app, &segment).await.status(), 200, "the client it was bound to");
    let cdn = cdn(&app);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let elsewhere: std::net::IpAddr = "203.0.113.9".parse().expect("ip");
    assert_eq!(cdn.verifier.verify(&SignedRequest::from_url(&segment), elsewhere, now), Err(CdnError::IpNotAllowed));

    let response = app
        .client
        .get(session["hls_url"].as_str().expect("url"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);

    let bad = json!({"visibility": "private", "allowed_origins": ["https://school.example/path"]});
    let response = app
        .client
        .put(app.url(&format!("/v1/assets/{}/access", lesson.asset_id)))
        .bearer_auth(&lesson.owner)
        .json(&bad)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_cookie_variant_sets_cloudfront_cookies_and_leaves_segment_uris_unsigned(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    let session = session(&app, &lesson, &lesson.owner).await;
    let master = fetch(&app, &format!("{}?cookies=1", session["hls_url"].as_str().expect("url"))).await;
    assert_eq!(master.status(), 200);
    let master = master.text().await.expect("text");
    let playlist_url = hls_uris(&master).pop().expect("a playlist");
    assert!(playlist_url.ends_with("?cookies=1"), "{playlist_url}");
    let response = fetch(&app, &playlist_url).await;
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().expect("ascii").to_owned())
        .collect();
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    assert!(
        cookies
            .iter()
            .all(|c| c.contains(&format!("; Path=/cdn/assets/{}/v1/", lesson.asset_id)) && c.contains("HttpOnly"))
    );
    let segment = hls_uris(&response.text().await.expect("text")).pop().expect("a segment");
    assert!(!segment.contains('?'), "{segment}");
    assert_eq!(fetch(&app, &segment).await.status(), 403, "no cookies, no segment");
    let cookie_header = cookies.iter().map(|c| c.split(';').next().expect("pair")).collect::<Vec<_>>().join("; ");
    let response = app.client.get(&segment).header("cookie", cookie_header).send().await.expect("request");
    assert_eq!(response.status(), 200);
}
