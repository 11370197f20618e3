//! The statements a session answers itself, which clients send on their own (drivers set
//! options, open transactions and savepoints): there is nothing to run for them.

use pgwire::api::results::{Response, Tag};

/// The first word of a statement (after spaces and comments).
pub(crate) fn first_word(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The answer to a statement about the session itself, which clients send on their own
/// (drivers set options, open transactions): `None` for anything else.
pub(crate) fn session_statement(query: &str) -> Option<Response> {
    let word = first_word(query).to_ascii_uppercase();
    Some(match word.as_str() {
        "" if query.trim().trim_matches(';').trim().is_empty() => Response::EmptyQuery,
        "SET" => Response::Execution(Tag::new("SET")),
        "RESET" => Response::Execution(Tag::new("RESET")),
        "DISCARD" => Response::Execution(Tag::new("DISCARD ALL")),
        "BEGIN" | "START" => Response::TransactionStart(Tag::new("BEGIN")),
        "COMMIT" | "END" => Response::TransactionEnd(Tag::new("COMMIT")),
        // `ROLLBACK TO [SAVEPOINT] name` undoes nothing and stays in the transaction.
        "ROLLBACK" if rolls_back_to_a_savepoint(query) => Response::Execution(Tag::new("ROLLBACK")),
        "ROLLBACK" | "ABORT" => Response::TransactionEnd(Tag::new("ROLLBACK")),
        // Savepoints, which drivers set on their own (psycopg's nested `transaction()`, as
        // SQLAlchemy's first connection uses it): a session that only reads has nothing to
        // undo, as for BEGIN and COMMIT.
        "SAVEPOINT" => Response::Execution(Tag::new("SAVEPOINT")),
        "RELEASE" => Response::Execution(Tag::new("RELEASE")),
        _ => return None,
    })
}

/// Whether `query` (a ROLLBACK) is `ROLLBACK [WORK | TRANSACTION] TO ...`.
fn rolls_back_to_a_savepoint(query: &str) -> bool {
    let mut words = query
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .skip_while(|w| !w.eq_ignore_ascii_case("ROLLBACK"))
        .skip(1)
        .skip_while(|w| w.eq_ignore_ascii_case("WORK") || w.eq_ignore_ascii_case("TRANSACTION"));
    words.next().is_some_and(|w| w.eq_ignore_ascii_case("TO"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_words_skip_comments() {
        assert_eq!(first_word("  -- a\n /* b */ select 1"), "select");
        assert_eq!(first_word("SET x = 1"), "SET");
        assert_eq!(first_word(""), "");
        assert!(session_statement("select 1").is_none());
        assert!(matches!(
            session_statement("BEGIN"),
            Some(Response::TransactionStart(_))
        ));
        assert!(matches!(
            session_statement(" ; "),
            Some(Response::EmptyQuery)
        ));
        assert!(matches!(
            session_statement("SAVEPOINT \"_pg3_1\""),
            Some(Response::Execution(_))
        ));
        assert!(matches!(
            session_statement("RELEASE SAVEPOINT \"_pg3_1\""),
            Some(Response::Execution(_))
        ));
        assert!(matches!(
            session_statement("ROLLBACK TO SAVEPOINT \"_pg3_1\""),
            Some(Response::Execution(_))
        ));
        assert!(matches!(
            session_statement("rollback transaction to s"),
            Some(Response::Execution(_))
        ));
        assert!(matches!(
            session_statement("ROLLBACK"),
            Some(Response::TransactionEnd(_))
        ));
    }
}
