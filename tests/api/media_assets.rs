//! The assets API: create, read, list, rename and delete, with idempotent creation, owner
//! isolation, API-key scopes and stable validation codes.

use crate::helpers::media::{create_asset, post_asset};
use crate::helpers::{TestApp, account_with_roles, api_key, error_code, instructor, spawn_app};
use lectern::media::assets::{self, AssetId, SourceObject};
use lectern::media::{MediaError, source_key};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.get_with(path, token).await
}

async fn event_types(app: &TestApp, asset_id: &str) -> Vec<String> {
    let asset_id = AssetId(asset_id.parse().expect("uuid"));
    assets::events(&app.pool, asset_id).await.expect("events").into_iter().map(|event| event.event_type).collect()
}

#[sqlx::test]
async fn creating_an_asset_returns_where_to_upload_and_records_asset_created(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let response =
        post_asset(&app, &token, json!({"title": "  Limits  ", "description": "week 1", "passthrough": "lesson-42"}))
            .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    let id = body["id"].as_str().expect("id");
    assert_eq!(body["title"], "Limits", "titles are trimmed");
    assert_eq!(body["description"], "week 1");
    assert_eq!(body["passthrough"], "lesson-42");
    assert_eq!(body["status"], "waiting_upload");
    assert!(body["source"].is_null());
    assert!(body["error"].is_null());
    assert_eq!(body["upload"]["tus_url"], app.url("/v1/uploads/tus"));
    assert_eq!(body["upload"]["multipart"]["init_url"], app.url(&format!("/v1/assets/{id}/multipart")));
    assert!(body["upload"]["expires_at"].is_string());
    assert_eq!(event_types(&app, id).await, ["asset.created"]);

    let fetched: Value = get(&app, &token, &format!("/v1/assets/{id}")).await.json().await.expect("json");
    assert_eq!(fetched["id"], body["id"]);
    assert_eq!(fetched["status"], "waiting_upload");
    assert!(fetched.get("upload").is_none());
}

#[sqlx::test]
async fn an_input_url_is_stored_and_the_asset_still_waits(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let response =
        post_asset(&app, &token, json!({"title": "Imported", "input": {"url": "https://example.com/a.mp4"}})).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "waiting_upload");
    let stored: Option<String> = sqlx::query_scalar("select input_url from asset where asset_id = $1")
        .bind(body["id"].as_str().expect("id").parse::<uuid::Uuid>().expect("uuid"))
        .fetch_one(&app.pool)
        .await
        .expect("row");
    assert_eq!(stored.as_deref(), Some("https://example.com/a.mp4"));
    let refused = post_asset(&app, &token, json!({"title": "x", "input": {"url": "ftp://example.com/a.mp4"}})).await;
    assert_eq!(refused.status(), 422);
    // The URL-import rules: only http(s), and no refused address literal.
    assert_eq!(error_code(refused).await, "url_not_allowed");
    let malformed = post_asset(&app, &token, json!({"title": "x", "input": {"url": "not a url"}})).await;
    assert_eq!(error_code(malformed).await, "invalid_input");
}

#[sqlx::test]
async fn the_same_idempotency_key_and_body_return_the_same_asset(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let send = |body: Value| {
        app.client.post(app.url("/v1/assets")).bearer_auth(&token).header("Idempotency-Key", "k-1").json(&body).send()
    };
    let first = send(json!({"title": "Lecture", "description": "d"})).await.expect("request");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    // Same content, different key order and spacing: the same request.
    let again = app
        .client
        .post(app.url("/v1/assets"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "k-1")
        .header("Content-Type", "application/json")
        .body(r#"{ "description": "d",  "title": "Lecture" }"#)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["id"], first["id"]);
    assert!(again["upload"]["tus_url"].is_string());

    let different = send(json!({"title": "Another lecture"})).await.expect("request");
    assert_eq!(different.status(), 409);
    assert_eq!(error_code(different).await, "idempotency_key_reused");

    let count: i64 = sqlx::query_scalar("select count(*) from asset").fetch_one(&app.pool).await.expect("count");
    assert_eq!(count, 1);
    // Keys are per owner: another instructor may use the same one.
    let other = instructor(&app, "other@example.com").await;
    let theirs = app
        .client
        .post(app.url("/v1/assets"))
        .bearer_auth(&other)
        .header("Idempotency-Key", "k-1")
        .json(&json!({"title": "Theirs"}))
        .send()
        .await
        .expect("request");
    assert_eq!(theirs.status(), 201);
}

#[sqlx::test]
async fn listing_pages_newest_first_with_an_opaque_cursor_and_filters_by_status(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(create_asset(&app, &token, &format!("Lecture {index}")).await["id"].clone());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/assets?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page: Value = get(&app, &token, &path).await.json().await.expect("json");
        pages += 1;
        seen.extend(page["assets"].as_array().expect("array").iter().map(|asset| asset["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/assets?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    sqlx::query("update asset set status = 'errored', error_code = 'x', error_message = 'y' where asset_id = $1")
        .bind(ids[0].as_str().expect("id").parse::<uuid::Uuid>().expect("uuid"))
        .execute(&app.pool)
        .await
        .expect("update");
    let errored: Value = get(&app, &token, "/v1/assets?status=errored").await.json().await.expect("json");
    let errored = errored["assets"].as_array().expect("array");
    assert_eq!(errored.len(), 1);
    assert_eq!(errored[0]["error"], json!({"code": "x", "message": "y"}));
    let waiting: Value = get(&app, &token, "/v1/assets?status=waiting_upload").await.json().await.expect("json");
    assert_eq!(waiting["assets"].as_array().expect("array").len(), 4);

    let bad_status = get(&app, &token, "/v1/assets?status=lost").await;
    assert_eq!(bad_status.status(), 400);
    assert_eq!(error_code(bad_status).await, "invalid_query");
    let bad_limit = get(&app, &token, "/v1/assets?limit=1000").await;
    assert_eq!(error_code(bad_limit).await, "invalid_query");
    let bad_cursor = get(&app, &token, "/v1/assets?cursor=bm9wZQ").await;
    assert_eq!(bad_cursor.status(), 400);
    assert_eq!(error_code(bad_cursor).await, "invalid_cursor");
}

#[sqlx::test]
async fn patching_renames_and_null_clears_the_description(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let created = post_asset(&app, &token, json!({"title": "Old", "description": "keep me"})).await;
    let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let patch =
        |body: Value| app.client.patch(app.url(&format!("/v1/assets/{id}"))).bearer_auth(&token).json(&body).send();
    let renamed: Value = patch(json!({"title": "New"})).await.expect("request").json().await.expect("json");
    assert_eq!(renamed["title"], "New");
    assert_eq!(renamed["description"], "keep me");
    let cleared: Value = patch(json!({"description": null})).await.expect("request").json().await.expect("json");
    assert_eq!(cleared["title"], "New");
    assert!(cleared["description"].is_null());
    let empty = patch(json!({"title": "   "})).await.expect("request");
    assert_eq!(empty.status(), 422);
    assert_eq!(error_code(empty).await, "invalid_title");
    assert_eq!(event_types(&app, &id).await, ["asset.created", "asset.updated", "asset.updated"]);
}

#[sqlx::test]
async fn invalid_fields_are_refused_with_stable_codes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let cases = [
        (json!({"title": ""}), 422, "invalid_title"),
        (json!({"title": "x".repeat(201)}), 422, "invalid_title"),
        (json!({"title": "ok", "passthrough": "p".repeat(256)}), 422, "invalid_field"),
        (json!({"title": "ok", "description": "d".repeat(5001)}), 422, "invalid_field"),
        (json!({"description": "no title"}), 422, "invalid_json"),
        (json!({"title": "ok", "colour": "red"}), 422, "invalid_json"),
    ];
    for (body, status, code) in cases {
        let response = post_asset(&app, &token, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(error_code(response).await, code, "{body}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from asset").fetch_one(&app.pool).await.expect("count");
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn other_accounts_see_404_but_administrators_see_the_asset(pool: PgPool) {
    let app = spawn_app(pool).await;
    let owner = instructor(&app, "owner@example.com").await;
    let id = create_asset(&app, &owner, "Mine").await["id"].as_str().expect("id").to_owned();
    let stranger = instructor(&app, "stranger@example.com").await;
    let path = format!("/v1/assets/{id}");
    assert_eq!(get(&app, &stranger, &path).await.status(), 404);
    let rename = app.client.patch(app.url(&path)).bearer_auth(&stranger).json(&json!({"title": "x"})).send().await;
    assert_eq!(rename.expect("request").status(), 404);
    let delete = app.client.delete(app.url(&path)).bearer_auth(&stranger).send().await.expect("request");
    assert_eq!(delete.status(), 404);
    assert_eq!(error_code(delete).await, "not_found");
    let listed: Value = get(&app, &stranger, "/v1/assets").await.json().await.expect("json");
    assert_eq!(listed["assets"], json!([]));
    assert_eq!(get(&app, &stranger, "/v1/assets/not-a-uuid").await.status(), 404);

    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;
    let seen = get(&app, &admin, &path).await;
    assert_eq!(seen.status(), 200);
    // The owner's asset is still there and unchanged.
    let mine: Value = get(&app, &owner, &path).await.json().await.expect("json");
    assert_eq!(mine["title"], "Mine");
}

#[sqlx::test]
async fn learners_cannot_create_assets_and_keys_need_the_right_scope(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, learner) = account_with_roles(&app, "learner@example.com", &["learner"]).await;
    let refused = post_asset(&app, &learner, json!({"title": "x"})).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(error_code(refused).await, "forbidden");

    let token = instructor(&app, "teacher@example.com").await;
    let reader = api_key(&app, &token, &["assets:read"]).await;
    let writer = api_key(&app, &token, &["assets:write"]).await;
    let created = post_asset(&app, &writer, json!({"title": "From the site"})).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let read = get(&app, &reader, &format!("/v1/assets/{id}")).await;
    assert_eq!(read.status(), 200, "the key acts as its owner");
    let denied = post_asset(&app, &reader, json!({"title": "x"})).await;
    assert_eq!(denied.status(), 403);
    assert_eq!(error_code(denied).await, "insufficient_scope");
    let not_reading = get(&app, &writer, "/v1/assets").await;
    assert_eq!(error_code(not_reading).await, "insufficient_scope");
    assert_eq!(app.client.get(app.url("/v1/assets")).send().await.expect("request").status(), 401);
}

#[sqlx::test]
async fn deleting_is_idempotent_hides_the_asset_and_queues_removal_of_its_objects(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let id = create_asset(&app, &token, "Doomed").await["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/assets/{id}");
    let delete = || app.client.delete(app.url(&path)).bearer_auth(&token).send();
    assert_eq!(delete().await.expect("request").status(), 204);
    assert_eq!(delete().await.expect("request").status(), 204, "a second DELETE is 204 too");
    assert_eq!(get(&app, &token, &path).await.status(), 404);
    let listed: Value = get(&app, &token, "/v1/assets").await.json().await.expect("json");
    assert_eq!(listed["assets"], json!([]));
    let jobs: Vec<Value> = sqlx::query_scalar("select payload from job where kind = 'storage.delete_prefix'")
        .fetch_all(&app.pool)
        .await
        .expect("jobs");
    assert_eq!(jobs, [json!({"prefix": format!("assets/{id}/")})]);
    assert_eq!(event_types(&app, &id).await, ["asset.created", "asset.deleted"]);
}

#[sqlx::test]
async fn upload_completed_moves_the_asset_once_and_queues_one_probe(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let id = create_asset(&app, &token, "Uploaded").await["id"].as_str().expect("id").to_owned();
    let asset_id = AssetId(id.parse().expect("uuid"));
    let source = SourceObject { key: source_key(asset_id), size: 3, sha256: [7; 32] };
    let mut connection = app.pool.acquire().await.expect("connection");
    assets::upload_completed(&mut connection, asset_id, &source).await.expect("first completion");
    let again = assets::upload_completed(&mut connection, asset_id, &source).await;
    assert!(matches!(again, Err(MediaError::WrongState { .. })), "{again:?}");

    let body: Value = get(&app, &token, &format!("/v1/assets/{id}")).await.json().await.expect("json");
    assert_eq!(body["status"], "uploaded");
    assert_eq!(body["source"]["size"], 3);
    assert_eq!(body["source"]["sha256"], hex::encode([7u8; 32]));
    let jobs: Vec<(Value, Option<String>)> =
        sqlx::query_as("select payload, unique_key from job where kind = 'media.probe'")
            .fetch_all(&app.pool)
            .await
            .expect("jobs");
    assert_eq!(jobs, [(json!({"asset_id": id}), Some(format!("media.probe:{id}")))]);
    assert_eq!(event_types(&app, &id).await, ["asset.created", "asset.uploaded"]);

    assert!(assets::fail(&mut connection, asset_id, "not_a_media_file", "nope").await.expect("fails"));
    assert!(!assets::fail(&mut connection, asset_id, "again", "nope").await.expect("already errored"));
    let body: Value = get(&app, &token, &format!("/v1/assets/{id}")).await.json().await.expect("json");
    assert_eq!(body["status"], "errored");
    assert_eq!(body["error"]["code"], "not_a_media_file");
}

#[sqlx::test]
async fn a_probed_source_is_shown_as_container_duration_and_streams(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let id = create_asset(&app, &token, "Probed").await["id"].as_str().expect("id").to_owned();
    let source = json!({
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 12.5, "size_bytes": 1000, "bit_rate": null,
        "video": [{"index": 0, "codec": "h264", "profile": "High", "width": 1080, "height": 1920,
                   "sample_aspect_ratio": {"num": 1, "den": 1}, "rotation_degrees": 90,
                   "frame_rate": {"num": 30000, "den": 1001}, "variable_frame_rate": false,
                   "field_order": "progressive", "pixel_format": "yuv420p", "bit_depth": 8,
                   "color_transfer": null, "color_primaries": null, "color_space": null,
                   "language": "und", "bit_rate": null}],
        "audio": [{"index": 1, "codec": "aac", "channels": 2, "channel_layout": "stereo", "sample_rate": 48000,
                   "language": "eng", "title": null, "default": true, "bit_rate": null}]
    });
    sqlx::query("update asset set source = $2 where asset_id = $1")
        .bind(id.parse::<uuid::Uuid>().expect("uuid"))
        .bind(&source)
        .execute(&app.pool)
        .await
        .expect("update");
    let body: Value = get(&app, &token, &format!("/v1/assets/{id}")).await.json().await.expect("json");
    assert_eq!(body["source"]["container"], "mov,mp4,m4a,3gp,3g2,mj2");
    assert_eq!(body["source"]["duration"], 12.5);
    let streams = body["source"]["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0]["kind"], "video");
    assert_eq!(streams[0]["display_aspect"], "16:9", "rotated 90°: shown landscape");
    assert_eq!(streams[0]["rotation"], 90);
    assert_eq!(streams[0]["frame_rate"], 29.97);
    assert_eq!(
        streams[1],
        json!({"kind": "audio", "codec": "aac", "width": null, "height": null,
        "display_aspect": null, "rotation": null, "frame_rate": null, "channels": 2, "language": "eng"})
    );
}
