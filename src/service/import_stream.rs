//! Strict CSV inventory import, one line at a time as the bytes arrive: an
//! upload of 100 MB is never held in memory, only the current line, a batch of
//! valid rows and one integer per number seen (to refuse duplicates).

use super::inventory::{Columns, ImportReport, ParsedRow, RowProblem, line_problem, parse_row};
use super::{Error, Operator, Result, Service};
use crate::domain::Currency;
use std::collections::HashSet;

/// Longest line read; an inventory line is about 100 bytes.
pub const MAX_LINE_BYTES: usize = 4096;
/// Rejected lines named in a report; the rest are only counted.
pub const MAX_REPORTED_PROBLEMS: usize = 1000;
/// Valid rows written per transaction (and per audit row).
const IMPORT_BATCH: usize = 1000;

/// Cuts a byte stream into lines (`\n`, with an optional `\r` before it),
/// holding at most [`MAX_LINE_BYTES`] of a line that has not ended yet.
#[derive(Default)]
pub struct LineSplitter {
    buffer: Vec<u8>,
    start: usize,
    /// Inside a line that ran over the limit: dropped up to its end.
    overlong: bool,
}

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Bytes(&'a [u8]),
    TooLong,
}

impl LineSplitter {
    pub fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole line of what was pushed, if any.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let rest = &self.buffer[self.start..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > MAX_LINE_BYTES {
                self.overlong = true;
                self.buffer.clear();
                self.start = 0;
            }
            return None;
        };
        let begin = self.start;
        self.start += end + 1;
        if std::mem::take(&mut self.overlong) || end > MAX_LINE_BYTES {
            return Some(Line::TooLong);
        }
        let line = &self.buffer[begin..begin + end];
        Some(Line::Bytes(line.strip_suffix(b"\r").unwrap_or(line)))
    }

    /// The last line, when the input does not end with a line break.
    pub fn finish(&mut self) -> Option<Line<'_>> {
        if std::mem::take(&mut self.overlong) {
            return Some(Line::TooLong);
        }
        let rest = &self.buffer[self.start..];
        self.start = self.buffer.len();
        (!rest.is_empty()).then_some(Line::Bytes(rest))
    }
}

/// An import in progress: feed it lines in order, then `finish`.
pub struct InventoryImport<'s> {
    service: &'s Service,
    actor: Option<&'s Operator>,
    currency: Currency,
    now: i64,
    columns: Option<Columns>,
    line_number: u64,
    /// The digits of each E.164 number seen, as an integer (15 digits fit).
    seen: HashSet<u64>,
    pending: Vec<ParsedRow>,
    changed: bool,
    report: ImportReport,
}

fn number_key(number: &str) -> Option<u64> {
    number.strip_prefix('+').and_then(|d| d.parse().ok())
}

/// The fields of one line read as CSV (the rules of the csv crate: quotes,
/// `""` escapes, trimmed fields).
fn read_record(line: &str) -> std::result::Result<csv::StringRecord, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(_) => Ok(record),
        Err(e) => Err(e.to_string()),
    }
}

impl Service {
    /// A strict CSV import that records an audit row per batch when an operator acts.
    pub fn inventory_import<'s>(&'s self, actor: Option<&'s Operator>) -> InventoryImport<'s> {
        InventoryImport {
            service: self,
            actor,
            currency: self.settings().default_currency,
            now: self.now(),
            columns: None,
            line_number: 0,
            seen: HashSet::new(),
            pending: Vec::new(),
            changed: false,
            report: ImportReport::default(),
        }
    }
}

impl InventoryImport<'_> {
    fn reject(&mut self, message: String) {
        self.report.rejected += 1;
        if self.report.problems.len() < MAX_REPORTED_PROBLEMS {
            self.report.problems.push(RowProblem {
                line: self.line_number,
                message,
            });
        }
    }

    /// Reads the next line of the file. Fails only on a bad header or a
    /// database error; a bad row is reported by its line number.
    pub async fn line(&mut self, line: Line<'_>) -> Result<()> {
        self.line_number += 1;
        let text = match line {
            Line::TooLong => Err(format!("line longer than {MAX_LINE_BYTES} bytes")),
            Line::Bytes(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| "the line is not UTF-8".to_owned())
                .and_then(|t| line_problem(t).map_or(Ok(t), Err)),
        };
        if matches!(&text, Ok(t) if t.trim().is_empty()) {
            return Ok(());
        }
        let Some(columns) = &self.columns else {
            let header = text.and_then(read_record).map_err(|message| {
                Error::bad_request(
                    "invalid_csv",
                    format!("line {}: header: {message}", self.line_number),
                )
            })?;
            self.columns = Some(Columns::from_header(&header)?);
            return Ok(());
        };
        let parsed = text
            .and_then(read_record)
            .and_then(|record| parse_row(&record, columns, self.currency));
        match parsed {
            Err(message) => self.reject(message),
            Ok(row) if number_key(&row.number).is_some_and(|k| !self.seen.insert(k)) => {
                self.reject(format!("{} appears earlier in the file", row.number));
            }
            Ok(row) => {
                self.pending.push(row);
                if self.pending.len() >= IMPORT_BATCH {
                    self.write_pending().await?;
                }
            }
        }
        Ok(())
    }

    async fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let (service, actor, now) = (self.service, self.actor, self.now);
        let before = (self.report.inserted, self.report.updated);
        service
            .write_inventory_batch(actor, &batch, &mut self.report, now)
            .await?;
        self.changed |= before != (self.report.inserted, self.report.updated);
        Ok(())
    }

    /// Writes what is left and restocks the shelves of every instance.
    pub async fn finish(mut self) -> Result<ImportReport> {
        if self.columns.is_none() {
            return Err(Error::bad_request(
                "invalid_csv",
                "the file is empty: it needs a header line",
            ));
        }
        self.write_pending().await?;
        if self.changed {
            self.service.inventory_changed().await?;
        }
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        let as_owned = |line: Line<'_>| match line {
            Line::Bytes(b) => Some(b.to_vec()),
            Line::TooLong => None,
        };
        for chunk in chunks {
            splitter.push(chunk);
            while let Some(line) = splitter.next_line() {
                lines.push(as_owned(line));
            }
        }
        if let Some(line) = splitter.finish() {
            lines.push(as_owned(line));
        }
        lines
    }

    #[test]
    fn lines_are_cut_wherever_the_chunks_end_and_overlong_ones_are_dropped() {
        let lines = split(&[b"ab", b"c\r\nde\n\nf", b"g"]);
        let expected: Vec<Option<Vec<u8>>> = vec![
            Some(b"abc".to_vec()),
            Some(b"de".to_vec()),
            Some(Vec::new()),
            Some(b"fg".to_vec()),
        ];
        assert_eq!(lines, expected);
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let lines = split(&[&long[..3000], &long[3000..], b"\nok\n"]);
        assert_eq!(lines, vec![None, Some(b"ok".to_vec())]);
        let lines = split(&[&long, b"tail"]);
        assert_eq!(lines, vec![None], "an overlong last line is reported once");
    }

    #[test]
    fn a_number_key_is_its_digits() {
        assert_eq!(number_key("+33123456789"), Some(33_123_456_789));
        assert_eq!(number_key("33123456789"), None);
    }
}
