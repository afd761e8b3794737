//! Reading operator files with bounds: a file is read line by line, and
//! reading stops at the first line or total size over the limit, so that
//! `/dev/zero` or a runaway export fails fast instead of filling memory.

use crate::config::ReadLimitArgs;
use anyhow::{Context, bail};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The whole text of `path`, UTF-8, within `limits`.
pub fn read_text(path: &Path, limits: ReadLimitArgs) -> anyhow::Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(meta) = file.metadata()
        && meta.is_file()
        && meta.len() > limits.max_import_bytes
    {
        bail!(
            "{} is {} bytes, more than --max-import-bytes {}",
            path.display(),
            meta.len(),
            limits.max_import_bytes
        );
    }
    read_bounded(BufReader::new(file), limits)
        .with_context(|| format!("reading {}", path.display()))
}

/// Reads `reader` to its end within `limits`.
pub fn read_bounded(mut reader: impl BufRead, limits: ReadLimitArgs) -> anyhow::Result<String> {
    let mut text = String::new();
    let mut line = Vec::new();
    let mut total: u64 = 0;
    for number in 1u64.. {
        line.clear();
        let line_cap = u64::try_from(limits.max_line_bytes).unwrap_or(u64::MAX);
        let read = (&mut reader)
            .take(line_cap.saturating_add(2))
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.len() > limits.max_line_bytes {
            bail!(
                "line {number} is longer than --max-line-bytes {}",
                limits.max_line_bytes
            );
        }
        total = total.saturating_add(read as u64);
        if total > limits.max_import_bytes {
            bail!(
                "more than --max-import-bytes {} bytes (at line {number})",
                limits.max_import_bytes
            );
        }
        let piece = std::str::from_utf8(&line)
            .map_err(|_| anyhow::anyhow!("line {number} is not UTF-8"))?;
        text.push_str(piece);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_import_bytes: u64, max_line_bytes: usize) -> ReadLimitArgs {
        ReadLimitArgs {
            max_import_bytes,
            max_line_bytes,
        }
    }

    #[test]
    fn lines_and_totals_are_bounded() {
        let ok = read_bounded(&b"a,b\r\nc,d\ne"[..], limits(100, 3)).expect("within limits");
        assert_eq!(ok, "a,b\r\nc,d\ne");
        let long = read_bounded(&b"a,b\nlonger\n"[..], limits(100, 3)).expect_err("long line");
        assert!(long.to_string().contains("line 2"), "{long}");
        let big = read_bounded(&b"abc\nabc\nabc\n"[..], limits(10, 3)).expect_err("too big");
        assert!(big.to_string().contains("line 3"), "{big}");
        let zeros = std::io::BufReader::new(std::io::repeat(0));
        assert!(read_bounded(zeros, limits(1 << 20, 1024)).is_err());
        assert!(read_bounded(&b"caf\xe9\n"[..], limits(100, 100)).is_err());
    }
}
