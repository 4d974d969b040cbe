//! Prepared statements a connection keeps for its whole life, found by the address of their
//! SQL text.
//!
//! rusqlite's statement cache (`prepare_cached`) is keyed by the SQL text: every use trims
//! it, hashes it to take the statement out of an LRU, copies it into a new `Arc<str>` key and
//! hashes it again to put the statement back. On the writer, which runs a dozen statements
//! per Create, that was about 7 % of its instructions. Almost every statement of this
//! backend is a `&'static str` literal, and a literal's address and length name its text:
//! two literals at one address with one length hold the same bytes. So [`Held`] keys
//! statements by (address, length) and only ever accepts `&'static str`; SQL built at run
//! time keeps going through rusqlite's cache.
//!
//! The statements themselves behave as cached ones do: rusqlite resets a statement after
//! each execution or when its rows are dropped, and every use binds all of its parameters.

use rusqlite::{Connection, PrepFlags, Statement};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Runs a closure over the prepared statement for a `'static` SQL text. A trait, so that a
/// transaction can borrow the statements without naming their connection's lifetime.
pub(crate) trait Prepared {
    /// Prepares `sql` on first use, then lends the same statement to `f` every time.
    fn with(
        &self,
        sql: &'static str,
        f: &mut dyn FnMut(&mut Statement<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()>;
}

/// Hashes the (address, length) key: the address alone is already well spread.
#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(29) ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The statements one connection holds.
pub(crate) struct Held<'c> {
    conn: &'c Connection,
    stmts: RefCell<HashMap<(usize, usize), Statement<'c>, BuildHasherDefault<AddrHasher>>>,
}

impl<'c> Held<'c> {
    /// None held yet.
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Held {
            conn,
            stmts: RefCell::new(HashMap::default()),
        }
    }
}

impl Prepared for Held<'_> {
    fn with(
        &self,
        sql: &'static str,
        f: &mut dyn FnMut(&mut Statement<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let key = (sql.as_ptr() as usize, sql.len());
        // Taken out while in use, so a statement run from inside `f` (none is, today) would
        // get a fresh one instead of a second borrow.
        let taken = self.stmts.borrow_mut().remove(&key);
        let mut st = match taken {
            Some(st) => st,
            None => self
                .conn
                .prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?,
        };
        let r = f(&mut st);
        self.stmts.borrow_mut().insert(key, st);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_is_prepared_once_and_reused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let held = Held::new(&conn);
        const INSERT: &str = "INSERT INTO t (x) VALUES (?)";
        for i in 0..3 {
            held.with(INSERT, &mut |st| st.execute([i]).map(|_| ()))
                .unwrap();
        }
        let mut n = 0i64;
        held.with("SELECT SUM(x) FROM t", &mut |st| {
            n = st.query_row([], |r| r.get(0))?;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(held.stmts.borrow().len(), 2);
        // A failing statement is not kept from being used again.
        assert!(held
            .with(INSERT, &mut |st| st.execute([1, 2]).map(|_| ()))
            .is_err());
        held.with(INSERT, &mut |st| st.execute([4]).map(|_| ()))
            .unwrap();
    }
}
