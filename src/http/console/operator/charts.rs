//! Server-rendered SVG charts: no script, no external library, readable by
//! screen readers through a title and a summary.

use maud::{Markup, html};

const WIDTH: i64 = 600;
const HEIGHT: i64 = 180;
const LEFT: i64 = 70;
const BOTTOM: i64 = 24;

/// Vertical bars, one per label (days), with the largest value on the axis.
/// `label` writes a value for people (a count, an amount with its currency).
pub fn columns(
    id: &str,
    title: &str,
    summary: &str,
    bars: &[(String, i64)],
    label: impl Fn(i64) -> String,
) -> Markup {
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let count = i64::try_from(bars.len()).unwrap_or(1).max(1);
    let step = plot_w as f64 / count as f64;
    html! {
        figure #(id) {
            figcaption { (title) }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label={ (title) ": " (summary) } {
                line x1=(LEFT) y1=(plot_h) x2=(WIDTH) y2=(plot_h) stroke="#6e7781" {}
                text x="0" y="12" font-size="13" fill="#1b1f24" { (label(max)) }
                text x="0" y=(plot_h) font-size="13" fill="#1b1f24" { "0" }
                @for (i, (day, value)) in bars.iter().enumerate() {
                    @let h = value * (plot_h - 14) / max;
                    @let x = LEFT as f64 + i as f64 * step;
                    rect x=(format!("{x:.1}")) y=(plot_h - h) width=(format!("{:.1}", (step - 1.0).max(1.0))) height=(h) fill="#0b5cad" {
                        title { (day) ": " (label(*value)) }
                    }
                }
                @if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
                    text x=(LEFT) y=(HEIGHT - 6) font-size="13" fill="#1b1f24" { (first.0) }
                    text x=(WIDTH) y=(HEIGHT - 6) font-size="13" fill="#1b1f24" text-anchor="end" { (last.0) }
                }
            }
            p.hint { (summary) }
        }
    }
}

/// Two horizontal bars per row (on sale and owned), one row per country.
pub fn paired_rows(id: &str, title: &str, rows: &[(String, i64, i64)]) -> Markup {
    let max = rows
        .iter()
        .map(|(_, a, b)| (*a).max(*b))
        .max()
        .unwrap_or(0)
        .max(1);
    let row_h = 18;
    let height = i64::try_from(rows.len()).unwrap_or(0) * row_h + 24;
    let plot_w = WIDTH - 60;
    html! {
        figure #(id) {
            figcaption { (title) }
            svg viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
                aria-label={ (title) ": " @for (c, a, b) in rows { (c) " " (a) " on sale, " (b) " owned; " } } {
                rect x="60" y="2" width="10" height="10" fill="#9ec5f0" {}
                text x="74" y="11" font-size="13" fill="#1b1f24" { "on sale" }
                rect x="140" y="2" width="10" height="10" fill="#0b5cad" {}
                text x="154" y="11" font-size="13" fill="#1b1f24" { "owned" }
                @for (i, (country, on_sale, owned)) in rows.iter().enumerate() {
                    @let y = 20 + i64::try_from(i).unwrap_or(0) * row_h;
                    text x="0" y=(y + 12) font-size="13" fill="#1b1f24" { (country) }
                    rect x="60" y=(y) width=(on_sale * plot_w / max) height="7" fill="#9ec5f0" { title { (country) ": " (on_sale) " on sale" } }
                    rect x="60" y=(y + 8) width=(owned * plot_w / max) height="7" fill="#0b5cad" { title { (country) ": " (owned) " owned" } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_chart_draws_one_bar_per_day_scaled_to_the_largest() {
        let bars = vec![
            ("d1".to_owned(), 0),
            ("d2".to_owned(), 5),
            ("d3".to_owned(), 10),
        ];
        let svg = columns("c", "Sales", "15 sold", &bars, |n| format!("{n} sold")).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("aria-label=\"Sales: 15 sold\""), "{svg}");
        assert!(svg.contains("<title>d3: 10 sold</title>"), "{svg}");
        // The largest bar fills the plot; half the value, half the height.
        let full = HEIGHT - BOTTOM - 14;
        assert!(svg.contains(&format!("height=\"{full}\"")), "{svg}");
        assert!(svg.contains(&format!("height=\"{}\"", full / 2)), "{svg}");
    }

    #[test]
    fn country_rows_scale_both_bars_to_the_largest_count() {
        let rows = vec![("FR".to_owned(), 30, 10), ("US".to_owned(), 0, 60)];
        let svg = paired_rows("p", "Countries", &rows).into_string();
        let full = WIDTH - 60;
        assert!(
            svg.contains(&format!("width=\"{}\"", full / 2)),
            "FR on sale: {svg}"
        );
        assert!(
            svg.contains(&format!("width=\"{full}\"")),
            "US owned: {svg}"
        );
        assert!(svg.contains("FR 30 on sale, 10 owned;"), "{svg}");
    }
}
