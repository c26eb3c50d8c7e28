//! The root `Query` and the objects that are not REST views: `Me` and the course pages.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object};
use uuid::Uuid;

use super::{Caller, domain_error};
use crate::training::routes::{CourseList, encode_cursor, managed_courses_page};
use crate::training::views::{CourseView, DashboardEntry, LearnerOutlineView};
use crate::training::{TrainingError, learner_routes};

/// What a field that reads the database adds to a query's complexity, on top of one per field:
/// with the default limit of 1000, a query reads the database about 40 times at most.
pub(super) const DATABASE: usize = 25;

/// A page's size when `first` is not given, as REST's `limit`.
const DEFAULT_PAGE: i32 = 50;

/// The complexity of a page: its selection once per course it may hold, plus the read.
fn page_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let size = usize::try_from(first.unwrap_or(DEFAULT_PAGE).clamp(1, 100)).unwrap_or(100);
    DATABASE + size.saturating_mul(child_complexity)
}

/// The size of a page, checked like REST's `limit` but named for this API.
fn page_size(first: Option<i32>) -> Result<i64, async_graphql::Error> {
    match first.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=100 => Ok(i64::from(n)),
        _ => Err(domain_error(TrainingError::InvalidField("first must be between 1 and 100".into()))),
    }
}

/// A page of courses as a Relay connection: the edges' cursors are REST's `next_cursor` values,
/// so `after` takes either.
fn connection(page: CourseList, after_given: bool) -> Connection<String, CourseView> {
    let mut connection = Connection::new(after_given, page.next_cursor.is_some());
    connection.edges.extend(
        page.courses.into_iter().map(|course| Edge::new(encode_cursor(course.created_at, course.course_id), course)),
    );
    connection
}

/// Read-only training queries. Learner fields take a person's access token; `myCourses` also an
/// API key with `courses:read`.
///
/// Every field that can be refused is nullable, so one refusal (a course that is not visible)
/// leaves the rest of a round trip (the dashboard) answered, with the refusal in `errors`.
pub struct Query;

#[Object]
impl Query {
    /// The signed-in learner (an access token; API keys have no `me`, as in REST).
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Me>> {
        Ok(Some(Me { account_id: Caller::of(ctx).person()?.account_id }))
    }

    /// A course as the signed-in learner sees it, as `GET /v1/me/courses/{id}`: outline, the
    /// learner's enrolment and progress, each lesson's progress with its gaps, and where to
    /// resume. Drafts exist only for who may manage them (`course_not_found`); text bodies only
    /// for an active enrolment or a free preview.
    #[graphql(complexity = "DATABASE + child_complexity")]
    async fn course(&self, ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<LearnerOutlineView>> {
        let caller = Caller::of(ctx);
        let user = caller.person()?;
        let _turn = caller.database_turn().await;
        learner_routes::learner_course(&caller.state, user, id).await.map(Some).map_err(domain_error)
    }

    /// Published courses, newest first, as `GET /v1/catalog`. `first`: 1–100 (default 50);
    /// `after`: an edge's cursor.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn catalog(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Connection<String, CourseView>>> {
        let caller = Caller::of(ctx);
        caller.person()?;
        let size = page_size(first)?;
        let _turn = caller.database_turn().await;
        let page = learner_routes::catalog_page(&caller.state.pool, Some(size), after.as_deref())
            .await
            .map_err(domain_error)?;
        Ok(Some(connection(page, after.is_some())))
    }

    /// The caller's courses (an administrator's: everyone's), newest first, as `GET /v1/courses`:
    /// instructors, or an API key with `courses:read`.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn my_courses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<Connection<String, CourseView>>> {
        let caller = Caller::of(ctx);
        let principal = caller.principal()?;
        let size = page_size(first)?;
        let _turn = caller.database_turn().await;
        let page = managed_courses_page(&caller.state.pool, principal, Some(size), after.as_deref())
            .await
            .map_err(domain_error)?;
        Ok(Some(connection(page, after.is_some())))
    }
}

/// The signed-in learner.
pub struct Me {
    account_id: Uuid,
}

#[Object]
impl Me {
    async fn account_id(&self) -> Uuid {
        self.account_id
    }

    /// The dashboard, as `GET /v1/me/enrollments`: current enrolments first (most recent
    /// activity first), then ended ones, each with its course, progress and where to continue.
    #[graphql(complexity = "DATABASE + child_complexity")]
    async fn enrollments(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<DashboardEntry>>> {
        let caller = Caller::of(ctx);
        let _turn = caller.database_turn().await;
        let dashboard = learner_routes::dashboard(&caller.state.pool, self.account_id).await.map_err(domain_error)?;
        Ok(Some(dashboard.enrollments))
    }
}
