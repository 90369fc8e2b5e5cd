//! Reading firegrid's `/metrics`: one series' value, or a metric's sum over its label sets.

use anyhow::{Context, Result};

/// The value of one series (`name` or `name{labels}`, exactly as exposed) from `{base}/metrics`.
pub async fn metric(base: &str, series: &str) -> Result<f64> {
    let text = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .with_context(|| format!("{series} not in /metrics"))
}

/// The sum of metric `name`'s series whose labels include every one of `labels` (`key="value"`);
/// 0 while there is none (a labelled counter has no series before its first count).
pub async fn metric_sum(base: &str, name: &str, labels: &[&str]) -> Result<f64> {
    let text = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if labels.iter().all(|l| rest.contains(l)) {
            sum += line.rsplit(' ').next().context("value")?.parse::<f64>()?;
        }
    }
    Ok(sum)
}
