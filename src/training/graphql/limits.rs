//! What one query may cost, checked before anything runs.
//!
//! async-graphql measures depth and complexity while validating, by walking the document with
//! every fragment spread inlined. That walk (and the parser's own nesting check before it) is
//! exponential in a document whose fragments each spread the next one twice, and only ends
//! after the whole walk: measured with async-graphql 7.2.1's own limits set, 22 such fragments
//! (a kilobyte) took 16 s of a core and were then accepted, since `__typename` costs nothing.
//! So the document is first measured here, with each fragment measured
//! once, in time linear in its size: cycles, nesting past [`NESTING_LIMIT`], fields nested past
//! the depth limit and documents that inline to more than [`EXPANSION`] times the complexity
//! limit are refused before async-graphql looks at them. Then validation computes the real
//! depth and complexity (with the weights of `query.rs`), which must stay within the settings.
//! Mutations and subscriptions are refused first: the schema has neither.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Pos, Request, ServerError, ServerResult, ValidationResult};

use crate::training::GraphQlSettings;

/// The deepest nesting of selection sets (fields, inline fragments and fragment spreads each
/// count), as async-graphql's own recursion limit.
const NESTING_LIMIT: usize = 32;

/// How many selections, fragments inlined, a document may expand to per point of the
/// complexity limit. Only a bound on the work of validating: a real query has about one
/// selection per point.
const EXPANSION: u64 = 10;

/// The extension that holds the limits (see the module's docs).
pub struct QueryLimits {
    settings: GraphQlSettings,
}

impl QueryLimits {
    pub fn new(settings: GraphQlSettings) -> Self {
        Self { settings }
    }
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Limits { settings: self.settings })
    }
}

struct Limits {
    settings: GraphQlSettings,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Limits {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // Parsed once: async-graphql takes the parsed document from the request.
        let document = request.parsed_query()?;
        refuse_changes(document)?;
        measure(document, self.settings)?;
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.depth > self.settings.max_depth {
            return Err(vec![too_deep(result.depth, self.settings.max_depth)]);
        }
        if result.complexity > self.settings.max_complexity {
            return Err(vec![refusal(
                "query_too_complex",
                format!(
                    "the query's complexity is {}; at most {} is allowed (1 per field, 25 more per field that \
                     reads the database, a page's selection counted `first` times)",
                    result.complexity, self.settings.max_complexity
                ),
                None,
            )]);
        }
        Ok(result)
    }
}

fn refusal(code: &'static str, message: String, at: Option<Pos>) -> ServerError {
    let mut error = ServerError::new(message, at);
    error.extensions.get_or_insert_with(Default::default).set("code", code);
    error
}

fn too_deep(depth: usize, max_depth: usize) -> ServerError {
    refusal("query_too_deep", format!("the query nests fields {depth} deep; at most {max_depth} are allowed"), None)
}

/// Refuses mutations and subscriptions with a message that says where changes go.
fn refuse_changes(document: &ExecutableDocument) -> ServerResult<()> {
    for (_, operation) in document.operations.iter() {
        if operation.node.ty != OperationType::Query {
            return Err(refusal(
                "operation_not_supported",
                format!(
                    "this endpoint only answers queries, not {}s; changes go through the REST API",
                    operation.node.ty
                ),
                Some(operation.pos),
            ));
        }
    }
    Ok(())
}

/// The size of a selection set with its fragments inlined.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Shape {
    /// Fields nested, as async-graphql counts depth (`__typename` does not count).
    depth: usize,
    /// Selection sets nested, whatever opens them.
    nesting: usize,
    /// Selections (fields, spreads, inline fragments), saturating.
    selections: u64,
}

impl Shape {
    /// This shape with one more selection: `adds_depth` for a field that counts, and `inner` the
    /// shape of the selection set it opens (`None` for a leaf field).
    fn with(self, inner: Option<Shape>, adds_depth: bool) -> Shape {
        let (depth, nesting, selections) = inner.map_or((0, 0, 0), |i| (i.depth, i.nesting + 1, i.selections));
        Shape {
            depth: self.depth.max(depth + usize::from(adds_depth)),
            nesting: self.nesting.max(nesting),
            selections: self.selections.saturating_add(selections).saturating_add(1),
        }
    }
}

/// Measures the whole document (every operation and every fragment, each fragment once) and
/// refuses it past the limits.
fn measure(document: &ExecutableDocument, settings: GraphQlSettings) -> ServerResult<()> {
    let mut walk = Walk { document, settings, fragments: HashMap::new() };
    let mut selections = 0u64;
    for (_, operation) in document.operations.iter() {
        let shape = walk.selection_set(&operation.node.selection_set.node, 0, 0)?;
        selections = selections.saturating_add(shape.selections);
    }
    // Unused fragments are refused by validation, which still walks them.
    for name in document.fragments.keys() {
        let shape = walk.fragment(name, 0, 0, None)?;
        selections = selections.saturating_add(shape.selections);
    }
    let bound = u64::try_from(settings.max_complexity).unwrap_or(u64::MAX).saturating_mul(EXPANSION);
    if selections > bound {
        return Err(refusal(
            "query_too_complex",
            format!("the query expands to more than {bound} selections once its fragments are inlined"),
            None,
        ));
    }
    Ok(())
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    settings: GraphQlSettings,
    /// Each fragment's shape once measured; `None` while it is being measured (a spread of it
    /// then is a cycle).
    fragments: HashMap<&'a str, Option<Shape>>,
}

impl<'a> Walk<'a> {
    /// The shape of `set`, which sits under `depth` fields and `nesting` selection sets. Refuses
    /// as soon as anything passes a limit, so the recursion never goes deeper than the limits.
    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize, nesting: usize) -> ServerResult<Shape> {
        if nesting > NESTING_LIMIT {
            return Err(refusal(
                "query_too_deep",
                format!("the query nests selections more than {NESTING_LIMIT} deep (fields, fragments and spreads)"),
                None,
            ));
        }
        if depth > self.settings.max_depth {
            return Err(too_deep(depth, self.settings.max_depth));
        }
        let mut shape = Shape::default();
        for selection in &set.items {
            shape = match &selection.node {
                Selection::Field(field) => {
                    let counts = field.node.name.node != "__typename";
                    let below = depth + usize::from(counts);
                    if below > self.settings.max_depth {
                        return Err(too_deep(below, self.settings.max_depth));
                    }
                    let set = &field.node.selection_set.node;
                    let inner =
                        if set.items.is_empty() { None } else { Some(self.selection_set(set, below, nesting + 1)?) };
                    shape.with(inner, counts)
                }
                Selection::InlineFragment(fragment) => {
                    shape.with(Some(self.selection_set(&fragment.node.selection_set.node, depth, nesting + 1)?), false)
                }
                Selection::FragmentSpread(spread) => {
                    let inner = self.fragment(&spread.node.fragment_name.node, depth, nesting + 1, Some(spread.pos))?;
                    // A fragment measured elsewhere comes from the memo: check it where it is used.
                    if depth + inner.depth > self.settings.max_depth {
                        return Err(too_deep(depth + inner.depth, self.settings.max_depth));
                    }
                    if nesting + 1 + inner.nesting > NESTING_LIMIT {
                        return Err(refusal(
                            "query_too_deep",
                            format!(
                                "the query nests selections more than {NESTING_LIMIT} deep (fields, fragments and \
                                 spreads)"
                            ),
                            Some(spread.pos),
                        ));
                    }
                    shape.with(Some(inner), false)
                }
            };
        }
        Ok(shape)
    }

    /// The shape of the named fragment's selection set, measured once.
    fn fragment(&mut self, name: &'a str, depth: usize, nesting: usize, at: Option<Pos>) -> ServerResult<Shape> {
        match self.fragments.get(name) {
            Some(Some(shape)) => return Ok(*shape),
            Some(None) => {
                return Err(refusal("invalid_query", format!("fragment \"{name}\" spreads itself"), at));
            }
            None => {}
        }
        // An unknown fragment is named by validation.
        let Some(definition) = self.document.fragments.get(name) else { return Ok(Shape::default()) };
        self.fragments.insert(name, None);
        // Shapes are relative to their selection set, so a later spread elsewhere adds its own
        // place to the stored one.
        let shape = self.selection_set(&definition.node.selection_set.node, depth, nesting)?;
        self.fragments.insert(name, Some(shape));
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn settings() -> GraphQlSettings {
        GraphQlSettings { max_depth: 6, max_complexity: 100 }
    }

    fn measured(query: &str) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).map_err(|e| e.to_string())?;
        refuse_changes(&document).map_err(|e| e.message)?;
        measure(&document, settings()).map_err(|e| e.message)
    }

    #[test]
    fn ordinary_queries_with_fragments_pass() {
        let query = "query { a { ...F b { c } } ...G } fragment F on A { x y { z } } fragment G on Query { q }";
        assert_eq!(measured(query), Ok(()));
    }

    #[test]
    fn fields_nested_past_the_depth_limit_are_refused_also_through_fragments() {
        assert!(measured("{ a { b { c { d { e { f { g } } } } } } }").expect_err("too deep").contains("7 deep"));
        let through_fragment = "{ a { b { ...F } } } fragment F on B { c { d { e { f { g } } } } }";
        assert!(measured(through_fragment).expect_err("too deep").contains("deep"));
        // __typename is not a level, as async-graphql counts.
        assert_eq!(measured("{ a { b { c { d { e { f { __typename } } } } } } }"), Ok(()));
    }

    #[test]
    fn fragment_cycles_are_refused_without_recursing_forever() {
        let query = "{ ...A } fragment A on Query { x ...B } fragment B on Query { y ...A }";
        assert!(measured(query).expect_err("cycle").contains("spreads itself"));
        let unused = "{ x } fragment A on Query { ...A }";
        assert!(measured(unused).expect_err("cycle").contains("spreads itself"));
    }

    #[test]
    fn doubling_fragments_are_measured_in_linear_time_and_refused() {
        // 30 fragments, each spreading the next twice: 2^31 selections once inlined (and within
        // the nesting limit, which a longer chain would meet first).
        let mut query = String::from("{ ...F0 }");
        for n in 0..30 {
            query.push_str(&format!(" fragment F{n} on Query {{ ...F{next} ...F{next} }}", next = n + 1));
        }
        query.push_str(" fragment F30 on Query { __typename }");
        let started = Instant::now();
        let refused = measured(&query).expect_err("too complex");
        assert!(refused.contains("expands to more than 1000 selections"), "{refused}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn deep_inline_fragment_nesting_is_refused_before_it_can_exhaust_the_stack() {
        // The parser refuses more than 64 levels; async-graphql's own check, after this one,
        // more than 32, following every spread without measuring a fragment only once.
        let query = format!("{{ {} x {} }}", "... on Query { ".repeat(50), "}".repeat(50));
        let refused = measured(&query).expect_err("too deep");
        assert!(refused.contains("nests selections"), "{}", &refused[..refused.len().min(200)]);
    }

    #[test]
    fn mutations_and_subscriptions_are_refused() {
        assert!(measured("mutation { x }").expect_err("refused").contains("not mutations"));
        assert!(measured("subscription { x }").expect_err("refused").contains("not subscriptions"));
    }
}
