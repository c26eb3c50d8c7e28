//! Payments, the seller's and the administrator's side: refunds through the provider (the
//! recorded stand-ins, and PyPI `localstripe` as a separate stateful Stripe), the seller's refund
//! policy and the refund quote from training's coverage, the catalogue's listing and archiving,
//! entitlements by hand, the webhook events out, and the reconciliation with the providers' APIs.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::stripe as stand_in;
use crate::helpers::{TestApp, TestOptions, account_with_roles, error_code, spawn_app, spawn_app_with};
use crate::payments::{Shop, access, charge, checkout, deliver, order, paid_order, shop};
use crate::training::{get, id, json_of, lesson_session, let_time_pass, patch, post, report};

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client.put(app.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
}

async fn refund(app: &TestApp, token: &str, order_id: &str, body: Value, key: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url(&format!("/v1/orders/{order_id}/refund"))).bearer_auth(token).json(&body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.expect("request")
}

async fn event_types(pool: &PgPool, course_id: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "select e.type from asset_event e join course c on c.owner_id = e.owner_id
         where c.course_id = $1 and e.asset_id is null order by e.event_id",
    )
    .bind(course_id)
    .fetch_all(pool)
    .await
    .expect("events")
}

async fn stripe_app(pool: &PgPool) -> (Arc<stand_in::StandIn>, TestApp) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    (stripe, app)
}

#[sqlx::test]
async fn an_admin_refund_goes_through_stripe_with_an_idempotency_key_and_access_follows(pool: PgPool) {
    let (stripe, app) = stripe_app(&pool).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let (order_id, _) = paid_order(&app, &stripe, &shop, "pi_admin").await;
    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;

    // The buyer may not refund themselves, nor another seller; a bad amount is refused before the
    // provider is called.
    let response = refund(&app, &shop.course.learner, &order_id, json!({}), None).await;
    assert_eq!(error_code(response).await, "forbidden");
    let (_, other) = account_with_roles(&app, "other@example.com", &["learner", "instructor"]).await;
    let response = refund(&app, &other, &order_id, json!({}), None).await;
    assert_eq!(error_code(response).await, "order_not_found");
    for bad in [json!({"amount": 0}), json!({"amount": 4901})] {
        let response = refund(&app, &admin, &order_id, bad, None).await;
        assert_eq!(response.status(), 422);
        assert_eq!(error_code(response).await, "invalid_field");
    }
    let response = refund(&app, &admin, &order_id, json!({}), Some("not a key!")).await;
    assert_eq!(error_code(response).await, "invalid_field");
    assert!(stripe.refunds_of("pi_admin").is_empty());

    // A partial refund, sent twice with the same key: one refund at Stripe, applied once.
    for _ in 0..2 {
        let answer =
            json_of(refund(&app, &admin, &order_id, json!({"amount": 1000}), Some("ticket-42")).await, 200).await;
        assert_eq!(answer["refund"]["status"], "succeeded", "{answer}");
        assert_eq!(answer["order"]["status"], "partially_refunded");
        assert_eq!(answer["order"]["refunded_amount"], 1000);
    }
    assert_eq!(stripe.refunds_of("pi_admin").len(), 1);
    let sent: Vec<_> = stripe.received().into_iter().filter(|r| r.path == "/v1/refunds").collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].idempotency_key.as_deref(), Some(format!("lectern-refund-{order_id}-ticket-42").as_str()));
    let form: HashMap<_, _> = sent[0].form.iter().cloned().collect();
    assert_eq!((form["payment_intent"].as_str(), form["amount"].as_str()), ("pi_admin", "1000"));
    assert_eq!(form["metadata[order_id]"], order_id);
    assert_eq!(access(&app, &shop).await["entitled"], true, "a partial refund keeps access by default");

    // Stripe's own event for the same refund changes nothing more.
    let body = stand_in::event("evt_r1", "charge.refunded", charge("pi_admin", 4900, 1000, &order_id));
    json_of(deliver(&app, &body).await, 200).await;
    assert_eq!(order(&app, &shop, &order_id).await["refunded_amount"], 1000);

    // The rest, by the seller, with a derived key: refunded, access revoked.
    let answer = json_of(refund(&app, &shop.course.instructor, &order_id, json!({}), None).await, 200).await;
    assert_eq!(answer["refund"]["amount"], 3900);
    assert_eq!(answer["refund"]["idempotency_key"], format!("lectern-refund-{order_id}-1000-3900"));
    assert_eq!(answer["order"]["status"], "refunded");
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(false), json!("suspended")));
    let response = refund(&app, &admin, &order_id, json!({}), None).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "order_not_refundable");
    let types = event_types(&pool, shop.course.course_id).await;
    for expected in ["order.paid", "entitlement.granted", "order.refunded", "entitlement.revoked"] {
        assert!(types.iter().any(|t| t == expected), "{expected} recorded: {types:?}");
    }
}

#[sqlx::test]
async fn a_yookassa_refund_sends_a_receipt_and_the_fetched_payment_decides(pool: PgPool) {
    let (yookassa, payments) = crate::helpers::yookassa::start(&["127.0.0.0/8"]).await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "rub", "unit_amount": 149_000})).await;
    let started = checkout(&app, &shop, json!({})).await;
    let order_id = started["order"]["order_id"].as_str().expect("order").to_owned();
    let payment_id = started["order"]["provider_checkout_id"].as_str().expect("payment").to_owned();
    yookassa.set_status(&payment_id, "succeeded");
    assert_eq!(order(&app, &shop, &order_id).await["status"], "paid");
    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;

    let answer = json_of(refund(&app, &admin, &order_id, json!({"amount": 49_000}), None).await, 200).await;
    assert_eq!(answer["order"]["status"], "partially_refunded", "{answer}");
    assert_eq!(answer["order"]["refunded_amount"], 49_000);
    let request = yookassa.received().into_iter().last().expect("refund request");
    assert_eq!(request.idempotence_key, Some(format!("lectern-refund-{order_id}-0-49000")));
    assert_eq!(request.body["payment_id"], payment_id);
    assert_eq!(request.body["amount"], json!({"value": "490.00", "currency": "RUB"}));
    assert_eq!(request.body["receipt"]["customer"]["email"], "learner@example.com");
    assert_eq!(request.body["receipt"]["items"][0]["amount"]["value"], "490.00");

    let answer = json_of(refund(&app, &admin, &order_id, json!({}), None).await, 200).await;
    assert_eq!(answer["order"]["status"], "refunded");
    assert_eq!(access(&app, &shop).await["entitled"], false);
}

#[sqlx::test]
async fn the_refund_quote_applies_the_sellers_window_and_the_share_watched(pool: PgPool) {
    let (stripe, app) = stripe_app(&pool).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let (order_id, _) = paid_order(&app, &stripe, &shop, "pi_quote").await;
    let quote_path = format!("/v1/orders/{order_id}/refund-quote");

    let quote = json_of(get(&app, &quote_path, &shop.course.learner).await, 200).await;
    assert_eq!((quote["eligible"].clone(), quote["reason"].clone()), (json!(false), json!("no_policy")));

    // The seller's policy: a full refund within 14 days if less than 20 % was watched.
    let me: Value = json_of(get(&app, "/v1/me", &shop.course.instructor).await, 200).await;
    let policy_path = format!("/v1/users/{}/payment-policy", me["account_id"].as_str().expect("id"));
    for bad in [json!({"refund_window_days": 14}), json!({"refund_window_days": 0, "refund_max_watched_percent": 20})] {
        let response = put(&app, &policy_path, &shop.course.instructor, bad).await;
        assert_eq!(error_code(response).await, "invalid_field");
    }
    let (_, other) = account_with_roles(&app, "other@example.com", &["learner", "instructor"]).await;
    let response = put(&app, &policy_path, &other, json!({})).await;
    assert_eq!(error_code(response).await, "not_found", "another seller cannot set this one's policy");
    let policy = json!({"refund_window_days": 14, "refund_max_watched_percent": 20});
    let set = json_of(put(&app, &policy_path, &shop.course.instructor, policy).await, 200).await;
    assert_eq!(set["refund_window_days"], 14);

    let quote = json_of(get(&app, &quote_path, &shop.course.learner).await, 200).await;
    assert_eq!(quote["eligible"], true, "{quote}");
    assert_eq!((quote["quoted_amount"].clone(), quote["watched_percent"].clone()), (json!(4900), json!(0.0)));

    // The learner watches 2 s of the 5 s lesson (40 %): too much for the policy.
    let session = lesson_session(&app, shop.course.lessons[0], &shop.course.learner).await;
    let_time_pass(&app, &session, 3).await;
    let body = json!({"seq": 1, "position_ms": 2000, "playing": true, "spans": [{"from_ms": 0, "to_ms": 2000}]});
    json_of(report(&app, &session, body).await, 200).await;
    let quote = json_of(get(&app, &quote_path, &shop.course.instructor).await, 200).await;
    assert_eq!((quote["eligible"].clone(), quote["reason"].clone()), (json!(false), json!("watched_too_much")));
    assert_eq!(quote["watched_percent"], 40.0, "{quote}");

    // A looser share, but paid 15 days ago: too late.
    let policy = json!({"refund_window_days": 14, "refund_max_watched_percent": 50});
    json_of(put(&app, &policy_path, &shop.course.instructor, policy).await, 200).await;
    assert_eq!(json_of(get(&app, &quote_path, &shop.course.learner).await, 200).await["eligible"], true);
    sqlx::query("update payment_order set paid_at = now() - interval '15 days' where order_id = $1")
        .bind(Uuid::parse_str(&order_id).expect("uuid"))
        .execute(&pool)
        .await
        .expect("update");
    let quote = json_of(get(&app, &quote_path, &shop.course.learner).await, 200).await;
    assert_eq!((quote["reason"].clone(), quote["days_since_payment"].clone()), (json!("window_passed"), json!(15)));
    let (_, stranger) = account_with_roles(&app, "stranger@example.com", &["learner"]).await;
    assert_eq!(error_code(get(&app, &quote_path, &stranger).await).await, "order_not_found");
}

#[sqlx::test]
async fn the_sellers_own_partial_refund_rule_overrides_the_servers(pool: PgPool) {
    let (stripe, app) = stripe_app(&pool).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let (order_id, _) = paid_order(&app, &stripe, &shop, "pi_rule").await;
    let me: Value = json_of(get(&app, "/v1/me", &shop.course.instructor).await, 200).await;
    let policy_path = format!("/v1/users/{}/payment-policy", me["account_id"].as_str().expect("id"));
    let before = json_of(get(&app, &policy_path, &shop.course.instructor).await, 200).await;
    assert_eq!(
        (before["partial_refund_revokes"].clone(), before["partial_refund_revokes_default"].clone()),
        (Value::Null, json!(false))
    );
    json_of(put(&app, &policy_path, &shop.course.instructor, json!({"partial_refund_revokes": true})).await, 200).await;
    let body = stand_in::event("evt_p", "charge.refunded", charge("pi_rule", 4900, 100, &order_id));
    json_of(deliver(&app, &body).await, 200).await;
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], false, "{answer}");
    assert_eq!(answer["entitlements"][0]["status_reason"], "refunded");
}

async fn product_of(app: &TestApp, shop: &Shop) -> Value {
    json_of(get(app, &format!("/v1/products/{}", shop.product_id), &shop.course.learner).await, 200).await
}

#[sqlx::test]
async fn products_prices_and_coupons_are_listed_and_archived_by_their_seller(pool: PgPool) {
    let app = spawn_app(pool).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 0})).await;
    let seller = &shop.course.instructor;
    let listed = json_of(get(&app, "/v1/products", seller).await, 200).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(get(&app, "/v1/products", &shop.course.learner).await.status(), 403, "a learner sells nothing");

    // Renamed and archived: nobody can buy it; listed only on request.
    let path = format!("/v1/products/{}", shop.product_id);
    let response = patch(&app, &path, seller, json!({"title": ""})).await;
    assert_eq!(error_code(response).await, "invalid_field");
    let (_, other) = account_with_roles(&app, "other@example.com", &["learner", "instructor"]).await;
    let response = patch(&app, &path, &other, json!({"active": false})).await;
    assert_eq!(error_code(response).await, "product_not_found");
    let updated = json_of(patch(&app, &path, seller, json!({"title": "Renamed", "active": false})).await, 200).await;
    assert_eq!((updated["title"].clone(), updated["active"].clone()), (json!("Renamed"), json!(false)));
    let response = post(&app, "/v1/checkout", &shop.course.learner, json!({"price_id": shop.price_id})).await;
    assert_eq!(error_code(response).await, "price_not_found");
    assert_eq!(json_of(get(&app, "/v1/products", seller).await, 200).await, json!([]));
    let all = json_of(get(&app, "/v1/products?include_archived=true", seller).await, 200).await;
    assert_eq!(all[0]["title"], "Renamed");
    json_of(patch(&app, &path, seller, json!({"active": true})).await, 200).await;

    // A price archived: that price is gone from sale.
    let price_path = format!("/v1/prices/{}", shop.price_id);
    let price = json_of(patch(&app, &price_path, seller, json!({"active": false})).await, 200).await;
    assert_eq!(price["active"], false);
    assert_eq!(product_of(&app, &shop).await["prices"][0]["active"], false);
    let response = post(&app, "/v1/checkout", &shop.course.learner, json!({"price_id": shop.price_id})).await;
    assert_eq!(error_code(response).await, "price_not_found");
    assert_eq!(
        error_code(patch(&app, &format!("/v1/prices/{}", Uuid::new_v4()), seller, json!({"active": true})).await).await,
        "price_not_found"
    );
    json_of(patch(&app, &price_path, seller, json!({"active": true})).await, 200).await;

    // Coupons: listed, limited, archived.
    let paid = json_of(
        post(
            &app,
            &format!("/v1/products/{}/prices", shop.product_id),
            seller,
            json!({"currency": "usd", "unit_amount": 1000}),
        )
        .await,
        201,
    )
    .await;
    let coupon =
        json_of(post(&app, "/v1/coupons", seller, json!({"code": "ALL100", "percent_off": 100})).await, 201).await;
    let coupon_path = format!("/v1/coupons/{}", coupon["coupon_id"].as_str().expect("id"));
    assert_eq!(json_of(get(&app, "/v1/coupons", seller).await, 200).await[0]["code"], "ALL100");
    let response = patch(&app, &coupon_path, seller, json!({"max_redemptions": 0})).await;
    assert_eq!(error_code(response).await, "invalid_field");
    let response = patch(&app, &coupon_path, &other, json!({"active": false})).await;
    assert_eq!(error_code(response).await, "coupon_not_found");
    let updated = json_of(
        patch(&app, &coupon_path, seller, json!({"active": false, "expires_at": "2099-01-01T00:00:00Z"})).await,
        200,
    )
    .await;
    assert_eq!(
        (updated["active"].clone(), updated["expires_at"].clone()),
        (json!(false), json!("2099-01-01T00:00:00Z"))
    );
    let body = json!({"price_id": id(&paid, "price_id"), "coupon_code": "all100"});
    let response = post(&app, "/v1/checkout", &shop.course.learner, body.clone()).await;
    assert_eq!(error_code(response).await, "invalid_coupon", "an archived coupon is not redeemed");
    json_of(patch(&app, &coupon_path, seller, json!({"active": true, "expires_at": null})).await, 200).await;
    let started = json_of(post(&app, "/v1/checkout", &shop.course.learner, body).await, 201).await;
    assert_eq!(started["order"]["status"], "paid");
}

#[sqlx::test]
async fn an_administrator_grants_and_revokes_access_by_hand_and_the_enrolment_follows(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;
    let grant_path = format!("/v1/users/{}/entitlements", shop.course.learner_id);
    let course_id = shop.course.course_id;
    for bad in [
        json!({"course_id": course_id, "source": "order"}),
        json!({"course_id": course_id, "ends_at": "2001-01-01T00:00:00Z"}),
    ] {
        assert_eq!(error_code(post(&app, &grant_path, &admin, bad).await).await, "invalid_field");
    }
    let response = post(&app, &grant_path, &shop.course.learner, json!({"course_id": course_id})).await;
    assert_eq!(error_code(response).await, "forbidden", "a learner cannot grant themselves");
    let (_, other) = account_with_roles(&app, "other@example.com", &["learner", "instructor"]).await;
    let response = post(&app, &grant_path, &other, json!({"course_id": course_id})).await;
    assert_eq!(error_code(response).await, "course_not_found", "nor can another instructor");
    let response =
        post(&app, &format!("/v1/users/{}/entitlements", Uuid::new_v4()), &admin, json!({"course_id": course_id}))
            .await;
    assert_eq!(response.status(), 404);

    let granted =
        json_of(post(&app, &grant_path, &admin, json!({"course_id": course_id, "source": "free"})).await, 201).await;
    assert_eq!((granted["source"].clone(), granted["status"].clone()), (json!("free"), json!("active")));
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(true), json!("active")));
    let session = lesson_session(&app, shop.course.lessons[0], &shop.course.learner).await;
    let master = session["hls_url"].as_str().expect("hls_url").to_owned();

    // A second grant by the course's owner; revoking the first leaves access open.
    let second =
        json_of(post(&app, &grant_path, &shop.course.instructor, json!({"course_id": course_id})).await, 201).await;
    let revoke = |entitlement: &Value| {
        format!("/v1/entitlements/{}/revoke", entitlement["entitlement_id"].as_str().expect("id"))
    };
    let revoked = json_of(post(&app, &revoke(&granted), &admin, json!({"reason": "mistake"})).await, 200).await;
    assert_eq!((revoked["status"].clone(), revoked["status_reason"].clone()), (json!("revoked"), json!("mistake")));
    assert_eq!(access(&app, &shop).await["entitled"], true);
    assert_eq!(error_code(post(&app, &revoke(&granted), &admin, json!({})).await).await, "wrong_state");
    assert_eq!(error_code(post(&app, &revoke(&second), &other, json!({})).await).await, "entitlement_not_found");

    // The last one revoked: the enrolment is suspended and playback stops.
    json_of(post(&app, &revoke(&second), &admin, json!({})).await, 200).await;
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(false), json!("suspended")));
    let status = app.client.get(&master).send().await.expect("manifest").status().as_u16();
    assert!(matches!(status, 403 | 410), "the manifest is refused after the revoke: {status}");
    let types = event_types(&pool, course_id).await;
    assert_eq!(types.iter().filter(|t| *t == "entitlement.granted").count(), 2, "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "entitlement.revoked").count(), 2, "{types:?}");
}

/// A receiver on 127.0.0.1 recording the `type` of every event POSTed to it.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = received.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                state.lock().expect("lock").push(event["type"].as_str().unwrap_or_default().to_owned());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}/hook"), received)
}

#[sqlx::test]
async fn entitlement_events_reach_the_sellers_webhook_endpoint(pool: PgPool) {
    let policy = lectern::net::AddressPolicy::parse(&["127.0.0.1"]).expect("allow-list");
    let webhooks = lectern::webhooks::WebhookSettings {
        fetch: lectern::webhooks::WebhookSettings::fetch_settings(policy, Duration::from_secs(5)),
        allow_http: true,
        sweep_interval: Duration::from_secs(3600),
        ..lectern::webhooks::WebhookSettings::default()
    };
    let options = TestOptions { webhooks: Some(webhooks), workers: 2, ..TestOptions::default() };
    let app = spawn_app_with(pool, options).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 0})).await;
    let (url, received) = receiver().await;
    let events = json!(["entitlement.granted", "entitlement.revoked", "subscription.updated"]);
    let created =
        json_of(post(&app, "/v1/webhooks", &shop.course.instructor, json!({"url": url, "events": events})).await, 201)
            .await;
    assert_eq!(created["events"], events);
    let grant_path = format!("/v1/users/{}/entitlements", shop.course.learner_id);
    let granted = json_of(
        post(&app, &grant_path, &shop.course.instructor, json!({"course_id": shop.course.course_id})).await,
        201,
    )
    .await;
    let revoke = format!("/v1/entitlements/{}/revoke", granted["entitlement_id"].as_str().expect("id"));
    json_of(post(&app, &revoke, &shop.course.instructor, json!({})).await, 200).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut types = received.lock().expect("lock").clone();
        types.sort();
        if types.len() >= 2 {
            assert_eq!(types, ["entitlement.granted", "entitlement.revoked"], "only the types asked for, once each");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "events delivered within 20 s: {types:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test]
async fn the_reconciliation_pulls_stale_orders_and_lapsed_subscriptions_from_the_provider(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let reconciler = lectern::payments::Payments::new(&payments);
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let now = time::OffsetDateTime::now_utc();
    let run = || lectern::payments::reconcile::run_once(&pool, &reconciler, time::OffsetDateTime::now_utc());

    // The buyer paid but the completion event was lost. Too recent to reconcile, then stale.
    let started = checkout(&app, &shop, json!({})).await;
    let order_id = Uuid::parse_str(started["order"]["order_id"].as_str().expect("order")).expect("uuid");
    stripe.complete(started["order"]["provider_checkout_id"].as_str().expect("session"), "pi_lost", None);
    assert_eq!(run().await.expect("run").orders_checked, 0);
    sqlx::query("update payment_order set created_at = now() - interval '1 hour' where order_id = $1")
        .bind(order_id)
        .execute(&pool)
        .await
        .expect("age");
    let done = run().await.expect("run");
    assert_eq!((done.orders_checked, done.failures), (1, 0));
    assert_eq!(access(&app, &shop).await["entitled"], true);
    assert_eq!(run().await.expect("run").orders_checked, 0, "a paid order is not pending any more");

    // A plan whose deletion event was lost: active in Lectern, past its period end.
    let plan_shop = crate::payments::shop_for(
        &app,
        &shop,
        "plan",
        json!({"currency": "usd", "unit_amount": 1900, "recurring_interval": "month"}),
    )
    .await;
    let started = checkout(&app, &plan_shop, json!({})).await;
    let session_id = started["order"]["provider_checkout_id"].as_str().expect("session").to_owned();
    let session = stripe.complete(&session_id, "", Some("sub_lost"));
    json_of(deliver(&app, &stand_in::event("evt_sub", "checkout.session.completed", session)).await, 200).await;
    let ended = (now - time::Duration::hours(2)).unix_timestamp();
    sqlx::query(
        "update subscription set current_period_end = to_timestamp($1) where provider_subscription_id = 'sub_lost'",
    )
    .bind(ended as f64)
    .execute(&pool)
    .await
    .expect("period");
    stripe.set_subscription(json!({"id": "sub_lost", "object": "subscription", "status": "canceled",
        "cancel_at_period_end": false, "current_period_end": ended, "metadata": {}}));
    let done = run().await.expect("run");
    assert_eq!((done.subscriptions_checked, done.failures), (1, 0));
    let status: String =
        sqlx::query_scalar("select status from subscription where provider_subscription_id = 'sub_lost'")
            .fetch_one(&pool)
            .await
            .expect("status");
    assert_eq!(status, "canceled");
    let answer = access(&app, &plan_shop).await;
    let subscription =
        answer["entitlements"].as_array().expect("list").iter().find(|e| e["source"] == "subscription").cloned();
    assert_eq!(subscription.expect("a subscription entitlement")["status"], "expired", "{answer}");
    assert_eq!(run().await.expect("run").subscriptions_checked, 0, "a canceled subscription is not checked again");
    assert!(event_types(&pool, shop.course.course_id).await.iter().any(|t| t == "subscription.updated"));
}

#[sqlx::test]
async fn the_reconciliation_fulfils_a_yookassa_payment_whose_notification_was_lost(pool: PgPool) {
    let (yookassa, payments) = crate::helpers::yookassa::start(&["185.71.76.0/27"]).await;
    let reconciler = lectern::payments::Payments::new(&payments);
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "rub", "unit_amount": 99_000})).await;
    let started = checkout(&app, &shop, json!({})).await;
    let order_id = Uuid::parse_str(started["order"]["order_id"].as_str().expect("order")).expect("uuid");
    yookassa.set_status(started["order"]["provider_checkout_id"].as_str().expect("payment"), "succeeded");
    sqlx::query("update payment_order set created_at = now() - interval '2 hours' where order_id = $1")
        .bind(order_id)
        .execute(&pool)
        .await
        .expect("age");
    let done =
        lectern::payments::reconcile::run_once(&pool, &reconciler, time::OffsetDateTime::now_utc()).await.expect("run");
    assert_eq!(done.orders_checked, 1);
    assert_eq!(access(&app, &shop).await["entitled"], true);
}

// ---------------------------------------------------------------------------------------------
// localstripe: a stateful Stripe fake (PyPI, GPL) run as a separate process.

struct LocalStripe {
    child: tokio::process::Child,
    base: String,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn localstripe() -> LocalStripe {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/localstripe-venv/bin/localstripe");
    assert!(program.exists(), "{} is missing: run `bash scripts/install-payment-tools.sh`", program.display());
    let port = crate::helpers::free_port();
    let child = tokio::process::Command::new(program)
        .args(["--port", &port.to_string(), "--from-scratch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("localstripe starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/v1/customers")).basic_auth(stand_in::SECRET_KEY, Some("")).send().await.is_ok() {
            return LocalStripe { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("localstripe did not start on port {port}");
}

async fn stripe_call(base: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .basic_auth(stand_in::SECRET_KEY, Some(""))
        .form(form)
        .send()
        .await
        .expect("localstripe answers");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

#[sqlx::test]
async fn refunds_and_a_lapsed_subscription_against_localstripe(pool: PgPool) {
    let fake = localstripe().await;
    let (_, mut payments) = stand_in::start().await;
    if let Some(stripe) = payments.stripe.as_mut() {
        stripe.api_base = url::Url::parse(&fake.base).expect("url");
    }
    let reconciler = lectern::payments::Payments::new(&payments);
    let settings = payments.clone();
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;

    // A card payment made in localstripe (Checkout Sessions are not something it has).
    let card = stripe_call(
        &fake.base,
        "/v1/payment_methods",
        &[
            ("type", "card"),
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2034"),
            ("card[cvc]", "123"),
        ],
    )
    .await;
    let intent = stripe_call(
        &fake.base,
        "/v1/payment_intents",
        &[
            ("amount", "4900"),
            ("currency", "usd"),
            ("payment_method", card["id"].as_str().expect("pm")),
            ("confirm", "true"),
        ],
    )
    .await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    let intent_id = intent["id"].as_str().expect("pi").to_owned();
    let mut conn = pool.acquire().await.expect("conn");
    let created = lectern::payments::orders::create(
        &mut conn,
        shop.course.learner_id,
        shop.price_id,
        None,
        4900,
        "usd",
        "stripe",
    )
    .await
    .expect("order");
    drop(conn);
    lectern::payments::orders::mark_paid(&pool, created.order_id, Some(&intent_id), None, &settings)
        .await
        .expect("paid");
    assert_eq!(access(&app, &shop).await["entitled"], true);

    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;
    let order_id = created.order_id.to_string();
    let answer = json_of(refund(&app, &admin, &order_id, json!({"amount": 1500}), None).await, 200).await;
    assert!(answer["refund"]["provider_refund_id"].as_str().expect("id").starts_with("re_"), "{answer}");
    assert_eq!(
        (answer["order"]["status"].clone(), answer["order"]["refunded_amount"].clone()),
        (json!("partially_refunded"), json!(1500))
    );
    let answer = json_of(refund(&app, &admin, &order_id, json!({}), None).await, 200).await;
    assert_eq!(
        (answer["order"]["status"].clone(), answer["refund"]["amount"].clone()),
        (json!("refunded"), json!(3400))
    );
    assert_eq!(access(&app, &shop).await["entitled"], false);
    let refunds: Value = reqwest::Client::new()
        .get(format!("{}/v1/refunds?payment_intent={intent_id}", fake.base))
        .basic_auth(stand_in::SECRET_KEY, Some(""))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let amounts: Vec<i64> =
        refunds["data"].as_array().expect("list").iter().filter_map(|r| r["amount"].as_i64()).collect();
    assert_eq!(amounts.iter().sum::<i64>(), 4900, "localstripe holds both refunds: {refunds}");

    // A subscription in localstripe, cancelled there; Lectern only learns it by reconciling.
    let customer = stripe_call(
        &fake.base,
        "/v1/customers",
        &[
            ("email", "learner@example.com"),
            ("payment_method", card["id"].as_str().expect("pm")),
            ("invoice_settings[default_payment_method]", card["id"].as_str().expect("pm")),
        ],
    )
    .await;
    let product = stripe_call(&fake.base, "/v1/products", &[("name", "Plan"), ("type", "service")]).await;
    let plan = stripe_call(
        &fake.base,
        "/v1/plans",
        &[
            ("amount", "1900"),
            ("currency", "usd"),
            ("interval", "month"),
            ("product", product["id"].as_str().expect("prod")),
        ],
    )
    .await;
    let subscription = stripe_call(
        &fake.base,
        "/v1/subscriptions",
        &[("customer", customer["id"].as_str().expect("cus")), ("items[0][plan]", plan["id"].as_str().expect("plan"))],
    )
    .await;
    let subscription_id = subscription["id"].as_str().expect("sub").to_owned();
    assert_eq!(subscription["status"], "active", "{subscription}");
    let plan_shop = crate::payments::shop_for(
        &app,
        &shop,
        "plan",
        json!({"currency": "usd", "unit_amount": 1900, "recurring_interval": "month"}),
    )
    .await;
    let mut conn = pool.acquire().await.expect("conn");
    let plan_order = lectern::payments::orders::create(
        &mut conn,
        shop.course.learner_id,
        plan_shop.price_id,
        None,
        1900,
        "usd",
        "stripe",
    )
    .await
    .expect("order");
    drop(conn);
    lectern::payments::orders::mark_paid(&pool, plan_order.order_id, None, Some(&subscription_id), &settings)
        .await
        .expect("paid");
    assert_eq!(access(&app, &plan_shop).await["entitled"], true);
    let response = reqwest::Client::new()
        .delete(format!("{}/v1/subscriptions/{subscription_id}", fake.base))
        .basic_auth(stand_in::SECRET_KEY, Some(""))
        .send()
        .await
        .expect("delete");
    assert!(response.status().is_success());
    sqlx::query(
        "update subscription set current_period_end = now() - interval '1 hour' where provider_subscription_id = $1",
    )
    .bind(&subscription_id)
    .execute(&pool)
    .await
    .expect("period");
    let done =
        lectern::payments::reconcile::run_once(&pool, &reconciler, time::OffsetDateTime::now_utc()).await.expect("run");
    assert_eq!((done.subscriptions_checked, done.failures), (1, 0));
    let status: String = sqlx::query_scalar("select status from subscription where provider_subscription_id = $1")
        .bind(&subscription_id)
        .fetch_one(&pool)
        .await
        .expect("status");
    assert_eq!(status, "canceled");
}

#[sqlx::test]
async fn a_yookassa_plan_renews_by_charging_the_saved_method_and_ends_when_cancelled(pool: PgPool) {
    let (yookassa, payments) = crate::helpers::yookassa::start(&["127.0.0.0/8"]).await;
    let reconciler = lectern::payments::Payments::new(&payments);
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop =
        shop(&app, "plan", json!({"currency": "rub", "unit_amount": 99_000, "recurring_interval": "month"})).await;
    let started = checkout(&app, &shop, json!({})).await;
    assert_eq!(started["order"]["provider"], "yookassa");
    let order_id = started["order"]["order_id"].as_str().expect("order").to_owned();
    assert_eq!(yookassa.received()[0].body["save_payment_method"], true);
    yookassa.set_status(started["order"]["provider_checkout_id"].as_str().expect("payment"), "succeeded");
    assert_eq!(order(&app, &shop, &order_id).await["status"], "paid");
    let answer = access(&app, &shop).await;
    assert_eq!(
        (answer["entitled"].clone(), answer["entitlements"][0]["source"].clone()),
        (json!(true), json!("subscription"))
    );
    let subscription_id = Uuid::parse_str(answer["entitlements"][0]["source_id"].as_str().expect("id")).expect("uuid");
    let period = |pool: PgPool| async move {
        sqlx::query_as::<_, (time::OffsetDateTime, String, Option<String>)>(
            "select current_period_end, status, provider_payment_method_id from subscription where subscription_id = $1",
        )
        .bind(subscription_id)
        .fetch_one(&pool)
        .await
        .expect("subscription")
    };
    let (first_end, status, method) = period(pool.clone()).await;
    assert_eq!(status, "active");
    assert!(method.is_some_and(|m| m.ends_with("-method")), "the saved method is kept");
    let month = first_end - time::OffsetDateTime::now_utc();
    assert!(month > time::Duration::days(27) && month < time::Duration::days(32), "{month}");
    let run = || lectern::payments::reconcile::run_once(&pool, &reconciler, time::OffsetDateTime::now_utc());
    assert_eq!(run().await.expect("run").subscriptions_checked, 0, "not due yet");

    // The period ended: a renewal charges the saved method, once, and the period moves on.
    let ended = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let set_end = |at: time::OffsetDateTime| {
        let pool = pool.clone();
        async move {
            sqlx::query("update subscription set current_period_end = $2, provider_checked_at = null where subscription_id = $1")
                .bind(subscription_id)
                .bind(at)
                .execute(&pool)
                .await
                .expect("period");
        }
    };
    set_end(ended).await;
    let done = run().await.expect("run");
    assert_eq!((done.subscriptions_checked, done.failures), (1, 0));
    let renewal = yookassa.received().into_iter().last().expect("a renewal");
    assert!(renewal.body["payment_method_id"].as_str().is_some_and(|m| m.ends_with("-method")), "{:?}", renewal.body);
    assert_eq!(renewal.body["amount"], json!({"value": "990.00", "currency": "RUB"}));
    assert_eq!(renewal.body["metadata"]["subscription_id"], subscription_id.to_string());
    assert_eq!(renewal.idempotence_key, Some(format!("lectern-renewal-{subscription_id}-{}", ended.unix_timestamp())));
    let (renewed_end, status, _) = period(pool.clone()).await;
    assert_eq!(status, "active");
    assert!(renewed_end - ended > time::Duration::days(27), "one month on from the old end: {renewed_end}");
    assert_eq!(access(&app, &shop).await["entitled"], true);

    // A declined renewal: past due, access for the grace period only.
    yookassa.decline_saved_methods.store(true, std::sync::atomic::Ordering::SeqCst);
    set_end(time::OffsetDateTime::now_utc() - time::Duration::hours(2)).await;
    run().await.expect("run");
    assert_eq!(period(pool.clone()).await.1, "past_due");
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], true);
    assert!(answer["entitlements"][0]["ends_at"].is_string(), "the grace has an end: {answer}");

    // Cancelled by the subscriber: nothing more is charged, and access ends with the period.
    yookassa.decline_saved_methods.store(false, std::sync::atomic::Ordering::SeqCst);
    let cancel = format!("/v1/subscriptions/{subscription_id}/cancel");
    let (_, stranger) = account_with_roles(&app, "stranger@example.com", &["learner"]).await;
    assert_eq!(error_code(post(&app, &cancel, &stranger, json!({})).await).await, "subscription_not_found");
    json_of(post(&app, &cancel, &shop.course.learner, json!({})).await, 200).await;
    assert_eq!(error_code(post(&app, &cancel, &shop.course.learner, json!({})).await).await, "wrong_state");
    let charges = yookassa.received().len();
    set_end(time::OffsetDateTime::now_utc() - time::Duration::hours(3)).await;
    run().await.expect("run");
    assert_eq!(yookassa.received().len(), charges, "a cancelled plan is not charged");
    assert_eq!(period(pool.clone()).await.1, "canceled");
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(false), json!("suspended")));
}
