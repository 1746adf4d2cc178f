//! Limits on what one GraphQL document may ask for, beyond the depth and complexity limits
//! async-graphql enforces itself: aliases, which let one request repeat an expensive field
//! many times under different names.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{ServerError, ServerResult, Variables};

/// Refuses documents with more than `max` aliases (over all operations and fragments).
pub struct AliasLimit(pub usize);

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasCheck(self.0))
    }
}

struct AliasCheck(usize);

#[async_graphql::async_trait::async_trait]
impl Extension for AliasCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let used = aliases(&document);
        if used > self.0 {
            return Err(ServerError::new(
                format!(
                    "the query uses {used} aliases; at most {} are allowed (HOOKQL_MAX_QUERY_ALIASES)",
                    self.0
                ),
                None,
            ));
        }
        Ok(document)
    }
}

/// How many aliased fields `document` has.
pub fn aliases(document: &ExecutableDocument) -> usize {
    let operations: usize = match &document.operations {
        DocumentOperations::Single(op) => in_set(&op.node.selection_set.node),
        DocumentOperations::Multiple(ops) => ops
            .values()
            .map(|op| in_set(&op.node.selection_set.node))
            .sum(),
    };
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| in_set(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

fn in_set(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_everywhere() {
        let query = "query { a: me { id } b: me { x: id } ...F ... on Query { c: me { id } } } fragment F on Query { d: me { id } }";
        let document = async_graphql::parser::parse_query(query).expect("parses");
        assert_eq!(aliases(&document), 5);
    }
}
