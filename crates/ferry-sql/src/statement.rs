//! Running SQL text: several statements, and ferry's short form of
//! `CREATE FUNCTION`, in which the module supplies the signature.

use datafusion::common::{DataFusionError, Result};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// Splits SQL text into statements at the semicolons that end them (not
/// those inside strings, identifiers or comments). Empty statements are
/// dropped.
///
/// ```
/// let parts = ferry_sql::split_statements("SELECT ';'; -- done;\nSELECT 2;").unwrap();
/// assert_eq!(parts, vec!["SELECT ';'", "-- done;\nSELECT 2"]);
/// ```
pub fn split_statements(text: &str) -> Result<Vec<String>> {
    let mut statements = Vec::new();
    let (mut start, mut has_code) = (0, false);
    let mut end_here = |start: usize, end: usize, has_code: bool| {
        if has_code {
            statements.push(text[start..end].trim().to_owned());
        }
    };
    for token in tokenize(text)? {
        match token.token {
            Token::SemiColon => {
                let end = byte_offset(text, token.span.start);
                end_here(start, end, has_code);
                (start, has_code) = (end + 1, false);
            }
            // Comments are whitespace to the tokenizer.
            Token::Whitespace(_) | Token::EOF => {}
            _ => has_code = true,
        }
    }
    end_here(start, text.len(), has_code);
    Ok(statements)
}

/// Plans and runs one statement, as `SessionContext::sql` does, accepting
/// also `CREATE FUNCTION name AS '...' LANGUAGE wasm` with no argument list:
/// the function's types are then the ones its module records.
///
/// ```
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let functions = ferry_sql::WasmFunctions::new(ferry_host::Runtime::new(Default::default())?);
/// let ctx = functions.session();
/// ferry_sql::execute(&ctx, "CREATE FUNCTION gcd AS 'udfs.wasm' LANGUAGE wasm").await?;
/// let rows = ferry_sql::execute(&ctx, "SELECT gcd(12, 18)").await?.collect().await?;
/// # Ok(())
/// # }
/// ```
pub async fn execute(ctx: &SessionContext, statement: &str) -> Result<DataFrame> {
    let Some(name_end) = short_create_function(statement)? else {
        return ctx.sql(statement).await;
    };
    // Give the parser the empty argument list it insists on, then take it
    // away again: `None` means "as the module says", `Some([])` would
    // declare a function of no arguments.
    let with_list = format!("{}(){}", &statement[..name_end], &statement[name_end..]);
    let mut parsed = DFParser::parse_sql_with_dialect(&with_list, &GenericDialect {})?;
    let mut statement = parsed
        .pop_front()
        .ok_or_else(|| DataFusionError::Plan("expected a CREATE FUNCTION statement".into()))?;
    if let Statement::Statement(inner) = &mut statement
        && let ast::Statement::CreateFunction(create) = inner.as_mut()
    {
        create.args = None;
    }
    let state = ctx.state();
    let plan = state.statement_to_plan(statement).await?;
    ctx.execute_logical_plan(plan).await
}

/// For `CREATE [OR REPLACE] [TEMPORARY] FUNCTION name AS ...` (no argument
/// list), where the name ends.
fn short_create_function(statement: &str) -> Result<Option<usize>> {
    let tokens: Vec<TokenWithSpan> = tokenize(statement)?
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let keyword = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(word)) => Some(word.keyword),
        _ => None,
    };
    if keyword(0) != Some(Keyword::CREATE) {
        return Ok(None);
    }
    let mut i = 1;
    if keyword(i) == Some(Keyword::OR) && keyword(i + 1) == Some(Keyword::REPLACE) {
        i += 2;
    }
    if matches!(keyword(i), Some(Keyword::TEMPORARY | Keyword::TEMP)) {
        i += 1;
    }
    if keyword(i) != Some(Keyword::FUNCTION) {
        return Ok(None);
    }
    // The name: words joined by dots.
    i += 1;
    while matches!(tokens.get(i).map(|t| &t.token), Some(Token::Word(_)))
        && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Period))
    {
        i += 2;
    }
    if !matches!(tokens.get(i).map(|t| &t.token), Some(Token::Word(_))) {
        return Ok(None);
    }
    Ok(match tokens.get(i + 1) {
        Some(next) if next.token != Token::LParen => Some(byte_offset(statement, next.span.start)),
        _ => None,
    })
}

fn tokenize(text: &str) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(&GenericDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| DataFusionError::SQL(Box::new(e.into()), None))
}

/// The byte offset of a tokenizer location (1-based line and character).
fn byte_offset(text: &str, location: Location) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take((location.line as usize).saturating_sub(1))
        .map(str::len)
        .sum();
    let line = &text[line_start..];
    line_start
        + line
            .char_indices()
            .nth((location.column as usize).saturating_sub(1))
            .map_or(line.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_form_is_recognised_and_nothing_else() {
        fn at(s: &str) -> Option<&str> {
            short_create_function(s).unwrap().map(|i| &s[i..])
        }
        assert_eq!(
            at("CREATE FUNCTION gcd AS 'x.wasm' LANGUAGE wasm"),
            Some("AS 'x.wasm' LANGUAGE wasm")
        );
        assert_eq!(
            at("create or replace function \"Gcd\"\n LANGUAGE wasm AS 'é.wasm'"),
            Some("LANGUAGE wasm AS 'é.wasm'")
        );
        assert_eq!(
            at("CREATE FUNCTION gcd(BIGINT) RETURNS BIGINT AS 'x' LANGUAGE wasm"),
            None
        );
        assert_eq!(at("CREATE TABLE t AS SELECT 1"), None);
        assert_eq!(at("SELECT 1"), None);
    }

    #[test]
    fn statements_split_where_they_end() {
        assert_eq!(
            split_statements("SELECT 'a;b'; ; /* ; */ SELECT \"x;\" ;\n").unwrap(),
            vec!["SELECT 'a;b'", "/* ; */ SELECT \"x;\""]
        );
        assert!(split_statements("  -- nothing\n").unwrap().is_empty());
    }
}
