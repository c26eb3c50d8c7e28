//! The read-only GraphQL endpoint, held against the REST endpoints it mirrors: one round trip
//! answers what `/v1/me/courses/{id}`, its `/resume` and `/v1/me/enrollments` answer for the same
//! learner; refusals carry REST's codes; the limits refuse before anything runs; nothing changes.
//! Courses are built, enrolled and watched with `training`'s helpers, as a player would.

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, TestOptions, account_with_roles, api_key, error_code, spawn_app, spawn_app_with};
use crate::training::{Course, course, enroll, get, id, json_of, lesson_session, let_time_pass, post, report};

/// `POST /graphql` with an optional bearer token; the answer must be a 200 with a GraphQL body.
async fn graphql(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = app.client.post(app.url("/graphql")).json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    json_of(request.send().await.expect("request"), 200).await
}

/// The `extensions.code` of each error, in order.
fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect())
        .unwrap_or_default()
}

fn snake_case(name: &str) -> String {
    let mut snake = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// Every field GraphQL answered equals REST's field of the same name (camelCase for
/// snake_case; enum values are REST's upper-cased), recursively.
fn assert_same(graphql: &Value, rest: &Value, path: &str) {
    match (graphql, rest) {
        (Value::Object(fields), Value::Object(rest_fields)) => {
            for (name, value) in fields {
                let rest_value = rest_fields
                    .get(&snake_case(name))
                    .unwrap_or_else(|| panic!("{path}.{name} has no {} in REST's {rest}", snake_case(name)));
                assert_same(value, rest_value, &format!("{path}.{name}"));
            }
        }
        (Value::Array(items), Value::Array(rest_items)) => {
            assert_eq!(items.len(), rest_items.len(), "{path}: {graphql} vs {rest}");
            for (n, (item, rest_item)) in items.iter().zip(rest_items).enumerate() {
                assert_same(item, rest_item, &format!("{path}[{n}]"));
            }
        }
        (Value::String(value), Value::String(rest_value)) if *value == rest_value.to_uppercase() => {}
        _ => assert_eq!(graphql, rest, "{path}"),
    }
}

/// A learner in the middle of a course: lesson 1 watched from 0 to 40 s and from 100 to 120 s
/// (two gaps), then paused at 45 s on another device.
async fn learner_midway(app: &TestApp) -> Course {
    let course = course(app, &[600.0, 300.0], json!({"title": "Economics"})).await;
    enroll(app, &course).await;
    let phone = lesson_session(app, course.lessons[0], &course.learner).await;
    let laptop = lesson_session(app, course.lessons[0], &course.learner).await;
    let_time_pass(app, &phone, 60).await;
    let_time_pass(app, &laptop, 60).await;
    let spans = json!([{"from_ms": 0, "to_ms": 40_000}]);
    json_of(report(app, &phone, json!({"seq": 1, "position_ms": 40_000, "playing": true, "spans": spans})).await, 200)
        .await;
    let spans = json!([{"from_ms": 100_000, "to_ms": 120_000}]);
    json_of(
        report(app, &laptop, json!({"seq": 1, "position_ms": 120_000, "playing": true, "spans": spans})).await,
        200,
    )
    .await;
    json_of(report(app, &phone, json!({"seq": 2, "position_ms": 45_000})).await, 200).await;
    course
}

const OUTLINE_AND_DASHBOARD: &str = r"
query Outline($id: UUID!) {
  course(id: $id) {
    courseId ownerId title description status free completionThreshold certificateEnabled
    publishedAt archivedAt createdAt updatedAt
    enrollment { enrollmentId courseId accountId attempt status source enrolledBy expiresAt completedAt createdAt }
    progress { lessonsTotal lessonsCompleted requiredTotal requiredCompleted coveredRatio completed lastActivityAt }
    resume { lessonId positionMs courseCompleted }
    sections {
      sectionId title
      lessons {
        lessonId sectionId position title kind assetId durationMs body url required freePreview completionThreshold
        progress {
          coveredSeconds durationSeconds coveredRatio completionThreshold completed completedAt gaps positionMs watchMs
        }
      }
    }
  }
  me {
    enrollments {
      course { courseId title status }
      enrollment { enrollmentId status attempt }
      progress { lessonsTotal lessonsCompleted coveredRatio completed lastActivityAt }
      next { lessonId positionMs courseCompleted }
    }
  }
}";

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn one_round_trip_answers_the_outline_progress_and_resume_that_rest_answers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = learner_midway(&app).await;

    let answer = graphql(&app, Some(&course.learner), OUTLINE_AND_DASHBOARD, json!({"id": course.course_id})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let outline = &answer["data"]["course"];

    let rest = json_of(get(&app, &format!("/v1/me/courses/{}", course.course_id), &course.learner).await, 200).await;
    // GraphQL puts the course's own fields on the object itself.
    let mut flattened = rest["course"].as_object().expect("course").clone();
    for field in ["enrollment", "progress", "resume", "sections"] {
        flattened.insert(field.to_owned(), rest[field].clone());
    }
    assert_same(outline, &Value::Object(flattened), "course");
    let resume =
        json_of(get(&app, &format!("/v1/me/courses/{}/resume", course.course_id), &course.learner).await, 200).await;
    assert_same(&outline["resume"], &resume, "course.resume");
    let dashboard = json_of(get(&app, "/v1/me/enrollments", &course.learner).await, 200).await;
    assert_same(&answer["data"]["me"]["enrollments"], &dashboard["enrollments"], "me.enrollments");

    // What the learner did is really in there (not two empty answers agreeing).
    assert_eq!(
        outline["resume"],
        json!({"lessonId": course.lessons[0], "positionMs": 42_000, "courseCompleted": false})
    );
    let first = &outline["sections"][0]["lessons"][0]["progress"];
    assert_eq!(first["gaps"], json!([[40, 100], [120, 600]]));
    assert_eq!(first["coveredSeconds"], 60);
    assert_eq!(outline["completionThreshold"], 0.9);
    assert_eq!(outline["status"], "PUBLISHED");
    assert_eq!(answer["data"]["me"]["enrollments"][0]["next"]["positionMs"], 42_000);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_same_query_in_the_url_answers_the_same_and_nothing_is_cached(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = learner_midway(&app).await;
    let posted = graphql(&app, Some(&course.learner), OUTLINE_AND_DASHBOARD, json!({"id": course.course_id})).await;
    let variables = json!({"id": course.course_id}).to_string();
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", OUTLINE_AND_DASHBOARD), ("variables", &variables), ("operationName", "Outline")])
        .bearer_auth(&course.learner)
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    assert_eq!(json_of(response, 200).await, posted);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn callers_without_a_person_s_token_are_refused_with_rest_s_codes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[60.0], json!({"title": "Statistics"})).await;
    let query = "{ me { accountId } }";

    let anonymous = graphql(&app, None, query, json!({})).await;
    assert_eq!(codes(&anonymous), ["missing_token"]);
    assert_eq!(anonymous["data"], json!({"me": null}));
    assert_eq!(anonymous["errors"][0]["path"], json!(["me"]));
    let response = app.client.get(app.url("/v1/me/enrollments")).send().await.expect("request");
    assert_eq!(error_code(response).await, "missing_token");

    let forged = graphql(&app, Some("not-a-token"), query, json!({})).await;
    assert_eq!(codes(&forged), ["invalid_token"]);

    // REST's /v1/me refuses an API key as an invalid access token; so does `me`. `myCourses`
    // takes the key, as GET /v1/courses does, and answers the same courses.
    let key = api_key(&app, &course.instructor, &["courses:read"]).await;
    let rest_code = error_code(get(&app, "/v1/me/enrollments", &key).await).await;
    assert_eq!(codes(&graphql(&app, Some(&key), query, json!({})).await), [rest_code]);
    let mine = graphql(&app, Some(&key), "{ myCourses { edges { node { courseId title } } } }", json!({})).await;
    let rest = json_of(get(&app, "/v1/courses", &key).await, 200).await;
    let nodes: Vec<Value> =
        mine["data"]["myCourses"]["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect();
    assert_same(&Value::Array(nodes), &rest["courses"], "myCourses");
    assert_eq!(mine["data"]["myCourses"]["edges"][0]["node"]["courseId"], course.course_id.to_string());

    // A learner is no instructor: REST's `forbidden`.
    let learners = graphql(&app, Some(&course.learner), "{ myCourses { edges { cursor } } }", json!({})).await;
    assert_eq!(codes(&learners), ["forbidden"]);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_learner_cannot_see_a_draft_course_that_its_instructor_can(pool: PgPool) {
    let app = spawn_app(pool).await;
    let published = course(&app, &[60.0], json!({"title": "Published"})).await;
    let draft = json_of(post(&app, "/v1/courses", &published.instructor, json!({"title": "Secret"})).await, 201).await;
    let draft_id = id(&draft, "course_id");
    let query = "query($id: UUID!) { course(id: $id) { title status } }";

    let learner = graphql(&app, Some(&published.learner), query, json!({"id": draft_id})).await;
    assert_eq!(codes(&learner), ["course_not_found"]);
    assert_eq!(learner["data"], json!({"course": null}));
    // In one round trip with other fields, the refusal costs only its own field.
    let both = "query($id: UUID!) { me { accountId } course(id: $id) { title } }";
    let answer = graphql(&app, Some(&published.learner), both, json!({"id": draft_id})).await;
    assert_eq!(codes(&answer), ["course_not_found"]);
    assert_eq!(answer["errors"][0]["path"], json!(["course"]));
    assert_eq!(answer["data"]["course"], Value::Null);
    assert!(answer["data"].as_object().expect("data").contains_key("course"), "a failed field is null: {answer}");
    assert!(answer["data"]["me"]["accountId"].is_string(), "{answer}");
    assert_eq!(
        error_code(get(&app, &format!("/v1/me/courses/{draft_id}"), &published.learner).await).await,
        "course_not_found"
    );
    // No such course reads the same.
    let missing = graphql(&app, Some(&published.learner), query, json!({"id": Uuid::new_v4()})).await;
    assert_eq!(codes(&missing), ["course_not_found"]);

    let owner = graphql(&app, Some(&published.instructor), query, json!({"id": draft_id})).await;
    assert_eq!(owner["data"]["course"], json!({"title": "Secret", "status": "DRAFT"}));
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn pages_of_courses_follow_rest_s_cursors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let course = course(&app, &[60.0], json!({"title": "Published"})).await;
    for title in ["Draft one", "Draft two"] {
        json_of(post(&app, "/v1/courses", &course.instructor, json!({"title": title})).await, 201).await;
    }
    let query = "query($after: String) { myCourses(first: 2, after: $after) {
        edges { cursor node { title } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let first = graphql(&app, Some(&course.instructor), query, json!({})).await;
    let page = &first["data"]["myCourses"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let titles: Vec<&str> =
        page["edges"].as_array().expect("edges").iter().map(|e| e["node"]["title"].as_str().expect("title")).collect();
    assert_eq!(titles, ["Draft two", "Draft one"]);
    let rest = json_of(get(&app, "/v1/courses?limit=2", &course.instructor).await, 200).await;
    assert_eq!(page["pageInfo"]["endCursor"], rest["next_cursor"]);

    let second = graphql(&app, Some(&course.instructor), query, json!({"after": page["pageInfo"]["endCursor"]})).await;
    let page = &second["data"]["myCourses"];
    assert_eq!(page["edges"][0]["node"]["title"], "Published");
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);

    // The catalogue holds only the published course; a bad page size is REST's invalid_field.
    let catalog =
        graphql(&app, Some(&course.learner), "{ catalog(first: 10) { edges { node { title } } } }", json!({})).await;
    assert_eq!(catalog["data"]["catalog"]["edges"], json!([{"node": {"title": "Published"}}]));
    let too_many = graphql(&app, Some(&course.learner), "{ catalog(first: 0) { edges { cursor } } }", json!({})).await;
    assert_eq!(codes(&too_many), ["invalid_field"]);
    let bad_cursor =
        graphql(&app, Some(&course.learner), r#"{ catalog(after: "nope") { edges { cursor } } }"#, json!({})).await;
    assert_eq!(codes(&bad_cursor), ["invalid_cursor"]);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn too_deep_and_too_complex_queries_are_refused_before_anything_runs(pool: PgPool) {
    let training = lectern::training::TrainingSettings {
        graphql: lectern::training::GraphQlSettings { max_depth: 5, max_complexity: 200 },
        ..lectern::training::TrainingSettings::default()
    };
    let app = spawn_app_with(pool, TestOptions { training: Some(training), ..TestOptions::default() }).await;
    let (_, learner) = account_with_roles(&app, "learner@example.com", &["learner"]).await;
    let id = Uuid::new_v4();

    // Five levels is the whole outline with gaps: allowed (and answered: no such course).
    let outline = "query($id: UUID!) { course(id: $id) { sections { lessons { progress { gaps } } } } }";
    assert_eq!(codes(&graphql(&app, Some(&learner), outline, json!({"id": id})).await), ["course_not_found"]);

    // Six, here through introspection, which counts like any field.
    let deep = "{ __schema { types { fields { type { ofType { name } } } } } }";
    let refused = graphql(&app, Some(&learner), deep, json!({})).await;
    assert_eq!(codes(&refused), ["query_too_deep"]);
    assert!(refused["data"].is_null());
    assert!(refused["errors"][0]["message"].as_str().expect("message").contains("at most 5"), "{refused}");
    // Also hidden in a fragment.
    let hidden = "{ __schema { ...T } } fragment T on __Schema { types { fields { type { ofType { name } } } } }";
    assert_eq!(codes(&graphql(&app, Some(&learner), hidden, json!({})).await), ["query_too_deep"]);

    // Eight aliases of a course read the database eight times: 8 × (25 + 1 + 1) > 200.
    let aliases: String = (0..8).map(|n| format!("c{n}: course(id: $id) {{ title }} ")).collect();
    let complex = format!("query($id: UUID!) {{ {aliases} }}");
    let refused = graphql(&app, Some(&learner), &complex, json!({"id": id})).await;
    assert_eq!(codes(&refused), ["query_too_complex"]);
    assert!(refused["errors"][0]["message"].as_str().expect("message").contains("at most 200"), "{refused}");
    // A page counts its selection once per course it may hold.
    let page = "{ catalog(first: 100) { edges { node { title } } } }";
    assert_eq!(codes(&graphql(&app, Some(&learner), page, json!({})).await), ["query_too_complex"]);
    // Fragments that each spread the next one twice are measured without being expanded.
    let mut bomb = String::from("{ ...F0 }");
    for n in 0..30 {
        bomb.push_str(&format!(" fragment F{n} on Query {{ ...F{next} ...F{next} }}", next = n + 1));
    }
    bomb.push_str(" fragment F30 on Query { __typename }");
    let started = std::time::Instant::now();
    let refused = graphql(&app, Some(&learner), &bomb, json!({})).await;
    assert_eq!(codes(&refused), ["query_too_complex"]);
    assert!(refused["errors"][0]["message"].as_str().expect("message").contains("expands to more than"), "{refused}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    assert_eq!(codes(&graphql(&app, Some(&learner), cycle, json!({})).await), ["invalid_query"]);

    // A syntax error is the query's fault, and says so.
    assert_eq!(codes(&graphql(&app, Some(&learner), "{ course(", json!({})).await), ["invalid_query"]);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_default_limits_let_the_standard_introspection_query_through(pool: PgPool) {
    let app = spawn_app(pool).await;
    let answer = graphql(&app, None, INTROSPECTION, json!({})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let types = answer["data"]["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "LearnerCourse"));
    // Read-only: no mutation or subscription type.
    assert!(answer["data"]["__schema"]["mutationType"].is_null());
    assert!(answer["data"]["__schema"]["subscriptionType"].is_null());
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn mutations_and_oversized_bodies_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, learner) = account_with_roles(&app, "learner@example.com", &["learner"]).await;
    for operation in ["mutation { me { accountId } }", "subscription { me { accountId } }"] {
        let refused = graphql(&app, Some(&learner), operation, json!({})).await;
        assert_eq!(codes(&refused), ["operation_not_supported"], "{operation}");
        assert!(refused["data"].is_null());
    }
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { me { accountId } }")])
        .bearer_auth(&learner)
        .send()
        .await
        .expect("request");
    assert_eq!(codes(&json_of(response, 200).await), ["operation_not_supported"]);

    // The JSON API's body limit (1 MiB in tests) applies.
    let huge = format!("{{ me {{ accountId }} }} # {}", "x".repeat(2 * 1024 * 1024));
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&learner)
        .json(&json!({"query": huge}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "payload_too_large");
    let response = app.client.post(app.url("/graphql")).body("{ me { accountId } }").send().await.expect("request");
    assert_eq!(response.status(), 415);
}

/// graphql-js's `getIntrospectionQuery()` (what GraphiQL and most clients send), as of v16.
const INTROSPECTION: &str = r"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description
  type { ...TypeRef }
  defaultValue
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}";
