//! Pages as the server sent them ([`JsonPage`]): each row's cells kept as their JSON text, in the
//! query's column order, for a columnar consumer that reads each cell straight into its own
//! representation ([`JsonPage::read`]: Arrow builders) with no [`Record`](super::Record) in
//! between. Paged and checked by the same pager as typed pages: the rows' keys are their JSON
//! text.

use super::super::value::{key_text, mismatch_error, Cell, Column, TypeMismatch};
use super::paging::PageItem;
use super::RawPage;
use crate::http::Response;
use crate::{Error, Result};
use std::sync::Arc;

/// The JSON text of a page's cells, row after row, and where each ends.
#[derive(Debug)]
struct PageText {
    /// The columns decoded (the query's, and the key columns it left out).
    columns: Arc<Vec<Column>>,
    /// Every cell's JSON text, row-major, one after the other.
    text: String,
    /// For cell `row * columns + column`, where its text ends in `text` (it starts where the
    /// cell before it ends); an empty cell is one the row lacked.
    ends: Vec<usize>,
    /// The path of the answer the page came from, and its status, for errors.
    source: String,
    status: u16,
}

impl PageText {
    /// The JSON text of `column` (among the decoded columns) in `row`; `None` when the row
    /// lacks it.
    fn cell(&self, row: usize, column: usize) -> Option<&str> {
        let width = self.columns.len();
        if column >= width {
            return None;
        }
        let at = row.checked_mul(width)?.checked_add(column)?;
        let end = *self.ends.get(at)?;
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        (end > start).then(|| &self.text[start..end])
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// One row of a [`PageText`].
#[derive(Debug, Clone)]
pub struct JsonRow {
    page: Arc<PageText>,
    row: usize,
}

impl PageItem for JsonRow {
    fn cell_text(&self, name: &str) -> Option<String> {
        let i = self.page.index(name)?;
        self.page.cell(self.row, i).map(str::to_owned)
    }

    fn key_text(&self, key: &[String]) -> Option<String> {
        // As the default, without a `String` per cell: this runs for every row.
        let mut text = String::with_capacity(16 * key.len());
        for k in key {
            text.push_str(self.page.cell(self.row, self.page.index(k)?)?);
            text.push('\u{1f}');
        }
        Some(text)
    }

    fn row_text(&self) -> String {
        let width = self.page.columns.len();
        (0..width)
            .map(|c| self.page.cell(self.row, c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }
}

/// The rows of a collection answer as JSON text in `columns` order, and its next link.
pub(super) fn page_json_rows(
    response: &Response,
    columns: &Arc<Vec<Column>>,
) -> Result<(Vec<JsonRow>, Option<String>)> {
    let page: RawPage<'_> = super::raw_page(response)?;
    let Some(values) = page.value else {
        return Err(super::super::protocol(response, "no `value` array of rows"));
    };
    let mut text = String::with_capacity(response.body().len());
    let mut ends = Vec::with_capacity(values.len() * columns.len());
    for cells in &values {
        for (i, c) in columns.iter().enumerate() {
            if let Some(raw) = cells.get(i, &c.name) {
                text.push_str(raw.get());
            }
            ends.push(text.len());
        }
    }
    let shared = Arc::new(PageText {
        columns: columns.clone(),
        text,
        ends,
        source: response.url().path().to_owned(),
        status: response.status().as_u16(),
    });
    let rows = (0..values.len())
        .map(|row| JsonRow {
            page: shared.clone(),
            row,
        })
        .collect();
    let link = page.next_v4.or(page.next_v3).filter(|l| !l.is_empty());
    Ok((rows, link))
}

/// One page of a query ([`EntitySetQuery::json_pages`](super::EntitySetQuery::json_pages)) as
/// the server sent it: each row's cells as JSON text, read with [`JsonPage::read`] by the same
/// rules as [`Column::read`] (strict: a cell that does not read as its column's type is an
/// [`Error::Protocol`] naming the row). Paged and checked as typed pages are; the rows under the
/// query's shared columns, in order.
#[derive(Debug, Clone)]
pub struct JsonPage {
    columns: Arc<Vec<Column>>,
    /// For each of `columns`, its index among the decoded ones (which may add key columns).
    at: Arc<Vec<Option<usize>>>,
    rows: Vec<JsonRow>,
    first_row: u64,
}

impl JsonPage {
    pub(super) fn new(
        columns: Arc<Vec<Column>>,
        at: Arc<Vec<Option<usize>>>,
        rows: Vec<JsonRow>,
        first_row: u64,
    ) -> JsonPage {
        JsonPage {
            columns,
            at,
            rows,
            first_row,
        }
    }

    /// The columns, shared by every page of the query.
    pub fn columns(&self) -> &Arc<Vec<Column>> {
        &self.columns
    }

    /// How many rows the page holds (never 0).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the page holds no row (pages handed out never are).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The index of the page's first row in the whole result (counting from 0).
    pub fn first_row(&self) -> u64 {
        self.first_row
    }

    /// The JSON text of column `column` (in [`JsonPage::columns`] order) in row `row`, as sent;
    /// `None` when the row lacks it (or there is no such row or column).
    pub fn text(&self, row: usize, column: usize) -> Option<&str> {
        let r = self.rows.get(row)?;
        r.page.cell(r.row, (*self.at.get(column)?)?)
    }

    /// The cell of column `column` in row `row`, read as its column's type by
    /// [`Column::read_cell`] (a lacking cell is null); [`Error::Protocol`] naming the row (its
    /// index in the result and its key), the column, the type and the value when it does not
    /// read as that type.
    pub fn read(&self, row: usize, column: usize) -> Result<Cell<'_>> {
        let Some(c) = self.columns.get(column) else {
            return Ok(Cell::Null);
        };
        match self.text(row, column) {
            None => Ok(Cell::Null),
            Some(text) => c.read_cell(text).map_err(|e| self.mismatch(row, e)),
        }
    }

    /// The error of a cell of `row` that does not read as its type, naming the answer it came
    /// in, the row's index in the result and its key.
    fn mismatch(&self, row: usize, mismatch: TypeMismatch) -> Error {
        let Some(r) = self.rows.get(row) else {
            return mismatch_error(mismatch, None, None);
        };
        let page = &r.page;
        let key = key_text(
            page.columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.key)
                .filter_map(|(i, c)| Some((c.name.as_str(), page.cell(r.row, i)?))),
        );
        match mismatch_error(mismatch, Some(self.first_row + row as u64), key) {
            Error::Protocol {
                message, source, ..
            } => Error::Protocol {
                status: Some(page.status),
                message: format!("the answer from {}: {message}", page.source),
                correlation_id: None,
                source,
            },
            other => other,
        }
    }
}
