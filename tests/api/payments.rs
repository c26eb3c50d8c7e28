//! Payments end to end against a real server and PostgreSQL, with Stripe's side played by a
//! local stand-in for Checkout Sessions (`helpers::stripe`) and by events signed exactly as
//! Stripe signs them. Signature checks are compared with the official Stripe SDK's own.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::helpers::stripe::{self as stand_in, WEBHOOK_SECRET};
use crate::helpers::{TestApp, TestOptions, error_code, spawn_app, spawn_app_with};
use crate::training::{Course, course, get, id, json_of, lesson_session, post};

/// A published one-lesson course, a product of it and a price.
pub(crate) struct Shop {
    pub(crate) course: Course,
    pub(crate) product_id: Uuid,
    pub(crate) price_id: Uuid,
}

pub(crate) async fn shop(app: &TestApp, kind: &str, price: Value) -> Shop {
    let course = course(app, &[5.0], json!({"title": "Paid course"})).await;
    let product = json_of(
        post(
            app,
            "/v1/products",
            &course.instructor,
            json!({"kind": kind, "title": "The course", "course_ids": [course.course_id]}),
        )
        .await,
        201,
    )
    .await;
    let product_id = id(&product, "product_id");
    let price =
        json_of(post(app, &format!("/v1/products/{product_id}/prices"), &course.instructor, price).await, 201).await;
    Shop { course, product_id, price_id: id(&price, "price_id") }
}

/// Another product of `shop`'s course (same seller and learner), with one price.
pub(crate) async fn shop_for(app: &TestApp, shop: &Shop, kind: &str, price: Value) -> Shop {
    let body = json!({"kind": kind, "title": "Another product", "course_ids": [shop.course.course_id]});
    let product = json_of(post(app, "/v1/products", &shop.course.instructor, body).await, 201).await;
    let product_id = id(&product, "product_id");
    let price =
        json_of(post(app, &format!("/v1/products/{product_id}/prices"), &shop.course.instructor, price).await, 201)
            .await;
    let course = Course {
        instructor: shop.course.instructor.clone(),
        course_id: shop.course.course_id,
        section_id: shop.course.section_id,
        lessons: shop.course.lessons.clone(),
        assets: shop.course.assets.clone(),
        learner_id: shop.course.learner_id,
        learner: shop.course.learner.clone(),
    };
    Shop { course, product_id, price_id: id(&price, "price_id") }
}

pub(crate) async fn checkout(app: &TestApp, shop: &Shop, extra: Value) -> Value {
    let mut body = json!({
        "price_id": shop.price_id,
        "success_url": "https://school.example/paid?order={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://school.example/cart",
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    json_of(post(app, "/v1/checkout", &shop.course.learner, body).await, 201).await
}

pub(crate) async fn deliver(app: &TestApp, body: &str) -> reqwest::Response {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = lectern::payments::stripe::signature::sign(body.as_bytes(), WEBHOOK_SECRET, now);
    deliver_with(app, body, &header).await
}

pub(crate) async fn deliver_with(app: &TestApp, body: &str, header: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/payments/stripe/webhook"))
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", header)
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

pub(crate) async fn access(app: &TestApp, shop: &Shop) -> Value {
    let path = format!("/v1/users/{}/access/{}", shop.course.learner_id, shop.course.course_id);
    json_of(get(app, &path, &shop.course.learner).await, 200).await
}

pub(crate) async fn order(app: &TestApp, shop: &Shop, order_id: &str) -> Value {
    json_of(get(app, &format!("/v1/orders/{order_id}"), &shop.course.learner).await, 200).await
}

pub(crate) async fn count(pool: &PgPool, sql: &str, id: Uuid) -> i64 {
    sqlx::query_scalar(sql).bind(id).fetch_one(pool).await.expect("count")
}

async fn paid_orders_events(pool: &PgPool, owner_course: Uuid) -> i64 {
    sqlx::query_scalar(
        "select count(*) from asset_event e join course c on c.owner_id = e.owner_id
         where c.course_id = $1 and e.type = 'order.paid'",
    )
    .bind(owner_course)
    .fetch_one(pool)
    .await
    .expect("count")
}

/// A paid order: checkout, the buyer pays, `checkout.session.completed` delivered once.
pub(crate) async fn paid_order(
    app: &TestApp,
    stripe: &stand_in::StandIn,
    shop: &Shop,
    intent: &str,
) -> (String, String) {
    let started = checkout(app, shop, json!({})).await;
    let order_id = started["order"]["order_id"].as_str().expect("order id").to_owned();
    let session_id = started["order"]["provider_checkout_id"].as_str().expect("session id").to_owned();
    let session = stripe.complete(&session_id, intent, None);
    let body = stand_in::event(&format!("evt_done_{intent}"), "checkout.session.completed", session);
    assert_eq!(json_of(deliver(app, &body).await, 200).await["result"], "handled");
    (order_id, session_id)
}

pub(crate) fn charge(intent: &str, amount: i64, refunded: i64, order_id: &str) -> Value {
    json!({
        "id": format!("ch_{intent}"), "object": "charge", "amount": amount, "amount_refunded": refunded,
        "refunded": refunded >= amount, "currency": "usd", "payment_intent": intent,
        "metadata": {"order_id": order_id}, "status": "succeeded",
    })
}

#[sqlx::test]
async fn payments_are_off_until_a_provider_is_configured(pool: PgPool) {
    let app = spawn_app(pool).await;
    let shop = shop(&app, "course", json!({"currency": "USD", "unit_amount": 4900})).await;
    let response = post(&app, "/v1/checkout", &shop.course.learner, json!({"price_id": shop.price_id})).await;
    assert_eq!(response.status(), 501);
    assert_eq!(error_code(response).await, "payments_disabled");
    let response = deliver(&app, &stand_in::event("evt_1", "checkout.session.completed", json!({}))).await;
    assert_eq!(error_code(response).await, "payments_disabled");
    let response = notify(&app, &crate::helpers::yookassa::notification("payment.succeeded", json!({"id": "x"}))).await;
    assert_eq!(error_code(response).await, "payments_disabled");
}

#[sqlx::test]
async fn a_free_price_or_a_full_coupon_grants_at_once_and_the_enrolment_follows(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 0, "access_days": 30})).await;
    let started = checkout(&app, &shop, json!({})).await;
    assert_eq!(started["checkout_url"], Value::Null);
    assert_eq!(started["order"]["status"], "paid");
    assert_eq!(started["order"]["provider"], "none");
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], true, "{answer}");
    assert_eq!(answer["enrollment_status"], "active");
    assert_eq!(answer["entitlements"][0]["source"], "order");
    assert!(answer["entitlements"][0]["ends_at"].is_string(), "30 days of access: {answer}");
    lesson_session(&app, shop.course.lessons[0], &shop.course.learner).await;

    // A 100 % coupon on a paid price, limited to one use.
    let paid = json_of(
        post(
            &app,
            &format!("/v1/products/{}/prices", shop.product_id),
            &shop.course.instructor,
            json!({"currency": "usd", "unit_amount": 1500}),
        )
        .await,
        201,
    )
    .await;
    let coupon = json!({"code": "friends", "percent_off": 100, "max_redemptions": 1});
    json_of(post(&app, "/v1/coupons", &shop.course.instructor, coupon).await, 201).await;
    let body = json!({"price_id": id(&paid, "price_id"), "coupon_code": "FRIENDS"});
    let started = json_of(post(&app, "/v1/checkout", &shop.course.learner, body.clone()).await, 201).await;
    assert_eq!(started["order"]["status"], "paid");
    assert_eq!(started["order"]["amount"], 0);
    let response = post(&app, "/v1/checkout", &shop.course.learner, body).await;
    assert_eq!(error_code(response).await, "invalid_coupon");
}

#[sqlx::test]
async fn bad_catalogue_input_is_refused_with_a_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 100})).await;
    let path = format!("/v1/products/{}/prices", shop.product_id);
    for bad in [
        json!({"currency": "dollars", "unit_amount": 100}),
        json!({"currency": "usd", "unit_amount": -1}),
        json!({"currency": "usd", "unit_amount": 100, "recurring_interval": "month"}),
        json!({"currency": "usd", "unit_amount": 100, "access_days": 0}),
    ] {
        let response = post(&app, &path, &shop.course.instructor, bad.clone()).await;
        assert_eq!(response.status(), 422, "{bad}");
        assert_eq!(error_code(response).await, "invalid_field");
    }
    // Another seller's course cannot be sold.
    let (_, other) = crate::helpers::account_with_roles(&app, "other@example.com", &["instructor"]).await;
    let body = json!({"kind": "course", "title": "Not mine", "course_ids": [shop.course.course_id]});
    assert_eq!(error_code(post(&app, "/v1/products", &other, body).await).await, "course_not_found");
    let response = post(&app, &path, &other, json!({"currency": "usd", "unit_amount": 1})).await;
    assert_eq!(error_code(response).await, "product_not_found");
}

#[sqlx::test]
async fn stripe_checkout_is_form_encoded_and_a_completion_delivered_three_times_grants_once(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let started = checkout(&app, &shop, json!({})).await;
    let order_id = started["order"]["order_id"].as_str().expect("order id").to_owned();
    assert_eq!(started["order"]["status"], "pending");
    assert!(started["checkout_url"].as_str().expect("url").starts_with("https://checkout.stripe.com/"));

    let request = &stripe.received()[0];
    assert_eq!(request.path, "/v1/checkout/sessions");
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk_test_lectern_standin"));
    assert_eq!(request.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(request.idempotency_key.as_deref(), Some(format!("lectern-order-{order_id}").as_str()));
    let form: std::collections::HashMap<_, _> = request.form.iter().cloned().collect();
    assert_eq!(form["mode"], "payment");
    assert_eq!(form["client_reference_id"], order_id);
    assert_eq!(form["metadata[order_id]"], order_id);
    assert_eq!(form["payment_intent_data[metadata][order_id]"], order_id);
    assert_eq!(form["line_items[0][price_data][unit_amount]"], "4900");
    assert_eq!(form["line_items[0][price_data][currency]"], "usd");
    assert_eq!(form["line_items[0][quantity]"], "1");

    // Not paid yet: no access.
    assert_eq!(access(&app, &shop).await["entitled"], false);
    let session_id = started["order"]["provider_checkout_id"].as_str().expect("session").to_owned();
    let session = stripe.complete(&session_id, "pi_3Abc", None);
    let body = stand_in::event("evt_1Completed", "checkout.session.completed", session);
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(json_of(deliver(&app, &body).await, 200).await["result"].clone());
    }
    assert_eq!(results, [json!("handled"), json!("duplicate"), json!("duplicate")]);
    assert_eq!(order(&app, &shop, &order_id).await["status"], "paid");
    assert_eq!(
        count(
            &pool,
            "select count(*) from entitlement where source_id = $1",
            Uuid::parse_str(&order_id).expect("uuid")
        )
        .await,
        1
    );
    assert_eq!(paid_orders_events(&pool, shop.course.course_id).await, 1);
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(true), json!("active")));
    lesson_session(&app, shop.course.lessons[0], &shop.course.learner).await;
}

#[sqlx::test]
async fn the_buyers_return_and_webhooks_racing_grant_exactly_once(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let started = checkout(&app, &shop, json!({})).await;
    let order_id = started["order"]["order_id"].as_str().expect("order id").to_owned();
    let session_id = started["order"]["provider_checkout_id"].as_str().expect("session").to_owned();
    let session = stripe.complete(&session_id, "pi_race", None);
    // Two different events that both fulfil (completion and async success), each delivered
    // four times, and eight return-page polls, all at once.
    let completed = stand_in::event("evt_race_1", "checkout.session.completed", session.clone());
    let succeeded = stand_in::event("evt_race_2", "checkout.session.async_payment_succeeded", session);
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (client, url, token) =
            (app.client.clone(), app.url(&format!("/v1/orders/{order_id}")), shop.course.learner.clone());
        let body = if n % 2 == 0 { completed.clone() } else { succeeded.clone() };
        let webhook = app.url("/v1/payments/stripe/webhook");
        tasks.push(tokio::spawn(async move {
            if n < 8 {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let header = lectern::payments::stripe::signature::sign(body.as_bytes(), WEBHOOK_SECRET, now);
                client
                    .post(webhook)
                    .header("stripe-signature", header)
                    .body(body)
                    .send()
                    .await
                    .expect("webhook")
                    .status()
            } else {
                client.get(url).bearer_auth(token).send().await.expect("poll").status()
            }
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), 200);
    }
    let order_uuid = Uuid::parse_str(&order_id).expect("uuid");
    assert_eq!(count(&pool, "select count(*) from entitlement where source_id = $1", order_uuid).await, 1);
    assert_eq!(paid_orders_events(&pool, shop.course.course_id).await, 1);
    assert_eq!(count(&pool, "select count(*) from enrollment where course_id = $1", shop.course.course_id).await, 1);
    assert_eq!(order(&app, &shop, &order_id).await["status"], "paid");
}

#[sqlx::test]
async fn a_retry_after_a_crash_between_the_inbox_and_the_grant_grants(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 900})).await;
    let started = checkout(&app, &shop, json!({})).await;
    let session_id = started["order"]["provider_checkout_id"].as_str().expect("session").to_owned();
    let body =
        stand_in::event("evt_crash", "checkout.session.completed", stripe.complete(&session_id, "pi_crash", None));
    // What a process killed right after the inbox insert leaves behind.
    sqlx::query("insert into payment_event (provider, event_id, event_type, payload, attempts) values ('stripe', 'evt_crash', 'checkout.session.completed', $1::jsonb, 1)")
        .bind(&body)
        .execute(&pool)
        .await
        .expect("insert");
    assert_eq!(json_of(deliver(&app, &body).await, 200).await["result"], "handled");
    assert_eq!(access(&app, &shop).await["entitled"], true);
    assert_eq!(json_of(deliver(&app, &body).await, 200).await["result"], "duplicate");
}

#[sqlx::test]
async fn a_full_refund_revokes_suspends_the_enrolment_and_stops_playback_at_once(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let (order_id, _) = paid_order(&app, &stripe, &shop, "pi_refund").await;
    let session = lesson_session(&app, shop.course.lessons[0], &shop.course.learner).await;
    let master = session["hls_url"].as_str().expect("hls_url").to_owned();
    assert_eq!(app.client.get(&master).send().await.expect("manifest").status(), 200);

    // A partial refund keeps access (the default policy).
    let body = stand_in::event("evt_partial", "charge.refunded", charge("pi_refund", 4900, 1000, &order_id));
    json_of(deliver(&app, &body).await, 200).await;
    assert_eq!(order(&app, &shop, &order_id).await["status"], "partially_refunded");
    assert_eq!(app.client.get(&master).send().await.expect("manifest").status(), 200);

    let refunded_at = Instant::now();
    let body = stand_in::event("evt_full", "charge.refunded", charge("pi_refund", 4900, 4900, &order_id));
    json_of(deliver(&app, &body).await, 200).await;
    let status = app.client.get(&master).send().await.expect("manifest").status().as_u16();
    assert!(matches!(status, 403 | 410), "the manifest is refused after the refund: {status}");
    assert!(refunded_at.elapsed().as_secs_f64() < 2.0, "playback stopped within 2 s");
    let response =
        post(&app, &format!("/v1/lessons/{}/playback", shop.course.lessons[0]), &shop.course.learner, json!({})).await;
    assert_eq!(error_code(response).await, "not_enrolled");
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], false);
    assert_eq!(answer["enrollment_status"], "suspended", "progress is kept: suspended, not revoked");
    assert_eq!(answer["entitlements"][0]["status"], "revoked");
    let ended: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select revoked_at from playback_session where session_id = $1")
            .bind(Uuid::parse_str(session["session_id"].as_str().expect("id")).expect("uuid"))
            .fetch_one(&pool)
            .await
            .expect("session");
    assert!(ended.is_some(), "the live session was ended");
    assert_eq!(order(&app, &shop, &order_id).await["status"], "refunded");
}

#[sqlx::test]
async fn a_partial_refund_revokes_when_the_seller_says_so(pool: PgPool) {
    let (stripe, mut payments) = stand_in::start().await;
    payments.partial_refund_revokes = true;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let (order_id, _) = paid_order(&app, &stripe, &shop, "pi_partial").await;
    let body = stand_in::event("evt_partial", "charge.refunded", charge("pi_partial", 4900, 100, &order_id));
    json_of(deliver(&app, &body).await, 200).await;
    assert_eq!(access(&app, &shop).await["entitled"], false);
}

#[sqlx::test]
async fn a_refund_arriving_before_the_completion_ends_refunded_without_access(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let started = checkout(&app, &shop, json!({})).await;
    let order_id = started["order"]["order_id"].as_str().expect("order").to_owned();
    let session_id = started["order"]["provider_checkout_id"].as_str().expect("session").to_owned();
    let session = stripe.complete(&session_id, "pi_early", None);
    let refund = stand_in::event("evt_refund", "charge.refunded", charge("pi_early", 4900, 4900, &order_id));
    json_of(deliver(&app, &refund).await, 200).await;
    let completed = stand_in::event("evt_late", "checkout.session.completed", session);
    json_of(deliver(&app, &completed).await, 200).await;
    assert_eq!(order(&app, &shop, &order_id).await["status"], "refunded");
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], false, "{answer}");
    assert_eq!(answer["enrollment_status"], Value::Null);
}

#[sqlx::test]
async fn a_dispute_suspends_access_a_won_one_restores_it_and_a_lost_one_revokes_it(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 4900})).await;
    let (order_id, _) = paid_order(&app, &stripe, &shop, "pi_dispute").await;
    let dispute = |status: &str| json!({"id": "dp_1", "object": "dispute", "payment_intent": "pi_dispute", "charge": "ch_pi_dispute", "status": status, "amount": 4900});
    json_of(deliver(&app, &stand_in::event("evt_d1", "charge.dispute.created", dispute("needs_response"))).await, 200)
        .await;
    assert_eq!(order(&app, &shop, &order_id).await["status"], "disputed");
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(false), json!("suspended")));
    json_of(deliver(&app, &stand_in::event("evt_d2", "charge.dispute.closed", dispute("won"))).await, 200).await;
    assert_eq!(order(&app, &shop, &order_id).await["status"], "paid");
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(true), json!("active")));
    json_of(deliver(&app, &stand_in::event("evt_d3", "charge.dispute.created", dispute("needs_response"))).await, 200)
        .await;
    json_of(deliver(&app, &stand_in::event("evt_d4", "charge.dispute.closed", dispute("lost"))).await, 200).await;
    assert_eq!(order(&app, &shop, &order_id).await["status"], "charged_back");
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], false);
    assert_eq!(answer["entitlements"][0]["status"], "revoked");
}

#[sqlx::test]
async fn a_subscription_keeps_access_to_its_period_end_after_a_cancel_and_has_a_grace_when_past_due(pool: PgPool) {
    let (stripe, payments) = stand_in::start().await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "plan", json!({"currency": "usd", "unit_amount": 1900, "recurring_interval": "month"})).await;
    let started = checkout(&app, &shop, json!({})).await;
    let order_id = started["order"]["order_id"].as_str().expect("order").to_owned();
    let form: std::collections::HashMap<_, _> = stripe.received()[0].form.iter().cloned().collect();
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items[0][price_data][recurring][interval]"], "month");
    assert_eq!(form["subscription_data[metadata][order_id]"], order_id);
    let session_id = started["order"]["provider_checkout_id"].as_str().expect("session").to_owned();
    let session = stripe.complete(&session_id, "", Some("sub_1Plan"));
    json_of(deliver(&app, &stand_in::event("evt_s0", "checkout.session.completed", session)).await, 200).await;
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitlements"][0]["source"], "subscription");
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(true), json!("active")));

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Stripe's 2025 API versions carry the period on the items.
    let subscription = |status: &str, cancel: bool, period_end: i64| {
        json!({"id": "sub_1Plan", "object": "subscription", "status": status, "cancel_at_period_end": cancel,
               "items": {"object": "list", "data": [{"id": "si_1", "current_period_end": period_end}]},
               "metadata": {"order_id": order_id}})
    };
    let period_end = now + 10 * 86_400;
    let body = stand_in::event("evt_s1", "customer.subscription.updated", subscription("active", true, period_end));
    json_of(deliver(&app, &body).await, 200).await;
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], true, "a cancel keeps access to the period end: {answer}");
    let ends = time::OffsetDateTime::parse(
        answer["entitlements"][0]["ends_at"].as_str().expect("ends_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    assert_eq!(ends.unix_timestamp(), period_end);

    // Resumed, then a renewal fails: past due keeps access for the grace period (3 days).
    let body = stand_in::event("evt_s2", "customer.subscription.updated", subscription("active", false, period_end));
    json_of(deliver(&app, &body).await, 200).await;
    let invoice =
        json!({"id": "in_1", "object": "invoice", "parent": {"subscription_details": {"subscription": "sub_1Plan"}}});
    json_of(deliver(&app, &stand_in::event("evt_s3", "invoice.payment_failed", invoice.clone())).await, 200).await;
    let answer = access(&app, &shop).await;
    assert_eq!(answer["entitled"], true);
    let ends = time::OffsetDateTime::parse(
        answer["entitlements"][0]["ends_at"].as_str().expect("ends_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    assert!((ends.unix_timestamp() - now - 3 * 86_400).abs() < 60, "grace ends in 3 days: {answer}");
    json_of(deliver(&app, &stand_in::event("evt_s4", "invoice.paid", invoice)).await, 200).await;
    assert_eq!(access(&app, &shop).await["entitlements"][0]["ends_at"], Value::Null);

    // Deleted after its period: access ends, the enrolment is suspended with its progress.
    let body = stand_in::event("evt_s5", "customer.subscription.deleted", subscription("canceled", false, now - 1));
    json_of(deliver(&app, &body).await, 200).await;
    let answer = access(&app, &shop).await;
    assert_eq!((answer["entitled"].clone(), answer["enrollment_status"].clone()), (json!(false), json!("suspended")));
    assert_eq!(answer["entitlements"][0]["status"], "expired");
}

#[sqlx::test]
async fn an_access_period_ends_by_the_sweep(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let shop = shop(&app, "course", json!({"currency": "usd", "unit_amount": 0, "access_days": 1})).await;
    checkout(&app, &shop, json!({})).await;
    sqlx::query("update entitlement set ends_at = now() - interval '1 s'").execute(&pool).await.expect("update");
    assert_eq!(access(&app, &shop).await["entitled"], false, "reported ended before the sweep");
    let expired = lectern::payments::entitlements::expire_due(&pool, 100).await.expect("sweep");
    assert_eq!(expired, 1);
    assert_eq!(access(&app, &shop).await["enrollment_status"], "suspended");
}

fn python() -> std::path::PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/payments-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/install-payment-tools.sh` (the official Stripe SDK)",
        python.display()
    );
    python
}

/// Signs the cases with the official Stripe SDK (PyPI `stripe`) and returns its headers and
/// verdicts.
async fn sdk_cases(cases: Value) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/payments/stripe_sign.py");
    let mut child = tokio::process::Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(json!({"cases": cases}).to_string().as_bytes()).await.expect("write");
    drop(stdin);
    let output = child.wait_with_output().await.expect("python finishes");
    assert!(output.status.success(), "stripe_sign.py failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}

#[sqlx::test]
async fn signature_checks_agree_with_the_official_stripe_sdk(pool: PgPool) {
    let (_stripe, mut payments) = stand_in::start().await;
    let old_secret = "whsec_previous_secret";
    if let Some(stripe) = payments.stripe.as_mut() {
        stripe.webhook_secrets.push(secrecy::SecretString::from(old_secret));
    }
    let app = spawn_app_with(pool, TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = stand_in::event("evt_sig", "customer.created", json!({"id": "cus_1", "name": "Zoë ✓"}));
    let both = [WEBHOOK_SECRET, old_secret];
    let case = |name: &str, sign_with: &[&str], timestamp: i64, verify_body: &str| {
        json!({"name": name, "body": body, "sign_with": sign_with, "timestamp": timestamp,
               "verify_body": verify_body, "verify_with": both, "tolerance": 300})
    };
    let tampered = body.replace("Zoë", "Zoe");
    let cases = json!([
        case("valid", &[WEBHOOK_SECRET], now, &body),
        case("tampered body", &[WEBHOOK_SECRET], now, &tampered),
        case("old timestamp", &[WEBHOOK_SECRET], now - 301, &body),
        case("wrong secret", &["whsec_someone_else"], now, &body),
        case("two signatures, one ours", &["whsec_someone_else", old_secret], now, &body),
        case("rotated secret", &[old_secret], now, &body),
    ]);
    let answers = sdk_cases(cases).await;
    assert_eq!(answers.len(), 6);
    for answer in answers {
        let name = answer["name"].as_str().expect("name");
        let verify_body = if name == "tampered body" { &tampered } else { &body };
        let response = deliver_with(&app, verify_body, answer["header"].as_str().expect("header")).await;
        let accepted = response.status() == 200;
        if !accepted {
            assert_eq!(error_code(response).await, "invalid_signature", "{name}");
        }
        assert_eq!(accepted, answer["sdk_accepts"].as_bool().expect("bool"), "{name}: Lectern and the SDK disagree");
    }
}

pub(crate) async fn notify(app: &TestApp, body: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/payments/yookassa/notification"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

#[sqlx::test]
async fn a_yookassa_payment_carries_a_receipt_and_only_the_fetched_status_grants(pool: PgPool) {
    let (yookassa, payments) = crate::helpers::yookassa::start(&["127.0.0.0/8"]).await;
    let app = spawn_app_with(pool.clone(), TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let shop = shop(&app, "course", json!({"currency": "rub", "unit_amount": 149_000})).await;
    let started = checkout(&app, &shop, json!({})).await;
    assert_eq!(started["order"]["provider"], "yookassa");
    assert!(started["checkout_url"].as_str().expect("url").starts_with("https://yoomoney.ru/checkout/"));
    let order_id = started["order"]["order_id"].as_str().expect("order").to_owned();
    let payment_id = started["order"]["provider_checkout_id"].as_str().expect("payment").to_owned();

    let request = &yookassa.received()[0];
    assert_eq!(request.idempotence_key.as_deref(), Some(format!("lectern-order-{order_id}").as_str()));
    assert!(request.authorization.as_deref().is_some_and(|a| a.starts_with("Basic ")));
    let body = &request.body;
    assert_eq!(body["amount"], json!({"value": "1490.00", "currency": "RUB"}));
    assert_eq!(body["capture"], true);
    assert_eq!(body["confirmation"]["type"], "redirect");
    assert_eq!(body["metadata"]["order_id"], order_id);
    let item = &body["receipt"]["items"][0];
    assert_eq!(body["receipt"]["customer"]["email"], "learner@example.com");
    assert_eq!((item["vat_code"].clone(), item["quantity"].clone()), (json!(1), json!("1.00")));
    assert_eq!(
        (item["payment_subject"].clone(), item["payment_mode"].clone()),
        (json!("service"), json!("full_payment"))
    );

    // A spoofed "succeeded" while the API says pending grants nothing.
    let spoof = crate::helpers::yookassa::notification(
        "payment.succeeded",
        json!({"id": payment_id, "status": "succeeded", "paid": true, "metadata": {"order_id": order_id}}),
    );
    json_of(notify(&app, &spoof).await, 200).await;
    assert_eq!(access(&app, &shop).await["entitled"], false);
    assert_eq!(order(&app, &shop, &order_id).await["status"], "pending");

    // The buyer pays: the return page's poll fulfils, the notification finds it done.
    yookassa.set_status(&payment_id, "succeeded");
    assert_eq!(order(&app, &shop, &order_id).await["status"], "paid");
    let real = crate::helpers::yookassa::notification("payment.succeeded", json!({"id": payment_id}));
    // The spoof left its inbox row unprocessed, so the genuine notification is handled, not
    // taken for a duplicate; it finds the order paid and grants nothing more.
    assert_eq!(json_of(notify(&app, &real).await, 200).await["result"], "handled");
    assert_eq!(json_of(notify(&app, &real).await, 200).await["result"], "duplicate");
    assert_eq!(access(&app, &shop).await["entitled"], true);
    assert_eq!(
        count(
            &pool,
            "select count(*) from entitlement where source_id = $1",
            Uuid::parse_str(&order_id).expect("uuid")
        )
        .await,
        1
    );

    // A refund notification: fetched, then the payment's refunded amount revokes.
    let refund_id = yookassa.refund(&payment_id, "1490.00");
    json_of(
        notify(&app, &crate::helpers::yookassa::notification("refund.succeeded", json!({"id": refund_id}))).await,
        200,
    )
    .await;
    assert_eq!(order(&app, &shop, &order_id).await["status"], "refunded");
    assert_eq!(access(&app, &shop).await["entitled"], false);
}

#[sqlx::test]
async fn yookassa_notifications_from_other_networks_are_refused(pool: PgPool) {
    let (_yookassa, payments) = crate::helpers::yookassa::start(&["185.71.76.0/27"]).await;
    let app = spawn_app_with(pool, TestOptions { payments: Some(payments), ..TestOptions::default() }).await;
    let body = crate::helpers::yookassa::notification("payment.succeeded", json!({"id": "2e000001-000f-5000-8000-x"}));
    let response = notify(&app, &body).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "forbidden_source");
}
