//! Inline SVG charts for the HTML report (`html`): a histogram and a horizontal bar chart,
//! drawn from plain numbers with no script, font or stylesheet fetched from anywhere. Pure.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bin edges for `samples` (ms): `bins` equal bins from 0 to the largest, counts per bin.
pub(crate) fn bin(samples: &[i64], bins: usize) -> (i64, Vec<usize>) {
    let max = samples.iter().copied().max().unwrap_or(0).max(1);
    let width = (max + bins as i64 - 1) / bins as i64;
    let width = width.max(1);
    let mut counts = vec![0; bins];
    for &s in samples {
        let i = usize::try_from(s.max(0) / width).unwrap_or(0).min(bins - 1);
        counts[i] += 1;
    }
    (width, counts)
}

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 36.0;

/// A histogram of `samples` (ms) in seconds, with vertical lines at `marks` (`label`, ms).
pub(crate) fn histogram(samples: &[i64], marks: &[(&str, i64)]) -> String {
    const BINS: usize = 20;
    let mut s = format!(r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img">"#);
    if samples.is_empty() {
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">no sample</text></svg>"#, W / 2.0, H / 2.0);
        return s;
    }
    let (width, counts) = bin(samples, BINS);
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - 12.0;
    let bar_w = plot_w / BINS as f64;
    let x_of = |ms: i64| LEFT + ms as f64 / (width as f64 * BINS as f64) * plot_w;
    for (i, &c) in counts.iter().enumerate() {
        let h = c as f64 / top * plot_h;
        let (x, y) = (LEFT + i as f64 * bar_w, 12.0 + plot_h - h);
        let lo = i as i64 * width;
        let _ = write!(
            s,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}"><title>{:.3}–{:.3} s: {c}</title></rect>"#,
            bar_w - 1.0,
            lo as f64 / 1000.0,
            (lo + width) as f64 / 1000.0
        );
    }
    axes(&mut s, plot_h, &format!("{:.1} s", (width * BINS as i64) as f64 / 1000.0), &format!("{top}"));
    for (label, ms) in marks {
        let x = x_of(*ms);
        let _ = write!(
            s,
            r#"<line class="mark" x1="{x:.1}" y1="12" x2="{x:.1}" y2="{:.1}"/><text class="mark" x="{:.1}" y="10">{}</text>"#,
            12.0 + plot_h,
            x + 2.0,
            escape(label)
        );
    }
    s.push_str("</svg>");
    s
}

fn axes(s: &mut String, plot_h: f64, x_max: &str, y_max: &str) {
    let base = 12.0 + plot_h;
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}"/><line class="axis" x1="{LEFT}" y1="12" x2="{LEFT}" y2="{base:.1}"/><text x="{LEFT}" y="{:.1}">0</text><text x="{:.1}" y="{:.1}" text-anchor="end">{x_max}</text><text x="{:.1}" y="20" text-anchor="end">{y_max}</text>"#,
        W - 8.0,
        base + 16.0,
        W - 8.0,
        base + 16.0,
        LEFT - 4.0
    );
}

/// Horizontal bars of shares (0–1), one per `(label, count, total)`, with the figure written beside each.
pub(crate) fn shares(rows: &[(String, usize, usize)]) -> String {
    let row_h = 22.0;
    let label_w = 200.0;
    let h = row_h * rows.len().max(1) as f64 + 8.0;
    let mut s = format!(r#"<svg class="chart" viewBox="0 0 {W} {h}" role="img">"#);
    let plot_w = W - label_w - 120.0;
    for (i, (label, count, total)) in rows.iter().enumerate() {
        let share = if *total > 0 { *count as f64 / *total as f64 } else { 0.0 };
        let y = 4.0 + i as f64 * row_h;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="track" x="{label_w}" y="{y:.1}" width="{plot_w:.1}" height="{:.1}"/><rect class="bar" x="{label_w}" y="{y:.1}" width="{:.1}" height="{:.1}"/><text x="{:.1}" y="{:.1}">{:.1} % ({count}/{total})</text>"#,
            label_w - 6.0,
            y + 15.0,
            escape(label),
            row_h - 6.0,
            share * plot_w,
            row_h - 6.0,
            label_w + plot_w + 6.0,
            y + 15.0,
            share * 100.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fall_into_equal_bins_up_to_the_largest() {
        let (width, counts) = bin(&[0, 999, 1000, 20_000], 20);
        assert_eq!(width, 1000);
        assert_eq!(counts.iter().sum::<usize>(), 4);
        assert_eq!((counts[0], counts[1], counts[19]), (2, 1, 1));
    }

    #[test]
    fn text_is_escaped_and_charts_draw_a_bar_per_row() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let svg = shares(&[("kitchen_fire".into(), 2, 3), ("cooking".into(), 0, 0)]);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert!(svg.contains("66.7 % (2/3)"), "{svg}");
        assert!(histogram(&[], &[]).contains("no sample"));
        assert_eq!(histogram(&[100, 2_000, 3_000], &[("p50", 2_000)]).matches(r#"class="bar""#).count(), 20);
    }
}
