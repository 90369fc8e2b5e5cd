//! The queries of the shipped dashboards and alert rules, and Grafana's macro substitution.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Dashboards

/// Where a query is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Influx,
    Prometheus,
}

/// One query of a dashboard: a panel target, a template variable or an annotation.
#[derive(Debug, Clone)]
pub(crate) struct DashQuery {
    pub(crate) dashboard: String,
    /// Panel title (or `variable NAME`, `annotation NAME`).
    pub(crate) panel: String,
    pub(crate) ref_id: String,
    pub(crate) source: Source,
    pub(crate) text: String,
    /// The dashboard's default range, e.g. `now-6h`.
    pub(crate) from: String,
}

pub(crate) fn source_of(datasource: &Value) -> Option<Source> {
    match datasource["type"].as_str()? {
        "influxdb" => Some(Source::Influx),
        "prometheus" => Some(Source::Prometheus),
        _ => None,
    }
}

pub(crate) fn load_dashboards() -> Result<Vec<(String, Value)>> {
    let dir = root().join("deploy/grafana/dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let json: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("parsing {}", path.display()))?;
            out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), json));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    ensure!(out.len() == 3, "three dashboards expected in {}, found {}", dir.display(), out.len());
    Ok(out)
}

pub(crate) fn collect_panels<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
    for p in panels.as_array().into_iter().flatten() {
        out.push(p);
        collect_panels(&p["panels"], out);
    }
}

/// Every query of every dashboard.
pub(crate) fn dashboard_queries() -> Result<Vec<DashQuery>> {
    let mut out = Vec::new();
    for (file, d) in load_dashboards()? {
        let from = d["time"]["from"].as_str().context("time.from")?.to_owned();
        let mut panels = Vec::new();
        collect_panels(&d["panels"], &mut panels);
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                let source = source_of(&t["datasource"]).or_else(|| source_of(&p["datasource"]));
                let source = source.with_context(|| format!("{file}: no data source for {}", p["title"]))?;
                let text = match source {
                    Source::Influx => t["query"].as_str(),
                    Source::Prometheus => t["expr"].as_str(),
                };
                out.push(DashQuery {
                    dashboard: file.clone(),
                    panel: p["title"].as_str().unwrap_or("").to_owned(),
                    ref_id: t["refId"].as_str().unwrap_or("").to_owned(),
                    source,
                    text: text.with_context(|| format!("{file}: {} has no query", p["title"]))?.to_owned(),
                    from: from.clone(),
                });
            }
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let Some(source) = source_of(&v["datasource"]) else { continue };
            let text = v["query"].as_str().or_else(|| v["query"]["query"].as_str()).context("variable query")?;
            out.push(DashQuery {
                dashboard: file.clone(),
                panel: format!("variable {}", v["name"].as_str().unwrap_or("")),
                ref_id: String::new(),
                source,
                text: text.to_owned(),
                from: from.clone(),
            });
        }
        for a in d["annotations"]["list"].as_array().into_iter().flatten() {
            let Some(source) = source_of(&a["datasource"]) else { continue };
            for text in [a["query"].as_str(), a["target"]["query"].as_str()].into_iter().flatten() {
                out.push(DashQuery {
                    dashboard: file.clone(),
                    panel: format!("annotation {}", a["name"].as_str().unwrap_or("")),
                    ref_id: String::new(),
                    source,
                    text: text.to_owned(),
                    from: from.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// `now-6h` → 6 h.
pub(crate) fn relative_range(from: &str) -> Result<Duration> {
    let spec = from.strip_prefix("now-").with_context(|| format!("unsupported time.from {from}"))?;
    let (number, unit) = spec.split_at(spec.len() - 1);
    let n: u64 = number.parse().with_context(|| format!("time.from {from}"))?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("unsupported unit in time.from {from}"),
    };
    Ok(Duration::from_secs(n * secs))
}

/// Fails if a Grafana variable or macro is left in `text`.
pub(crate) fn ensure_substituted(text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'$' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'{') {
            bail!("unsubstituted variable in {text}");
        }
    }
    Ok(())
}

/// Substitutes the Grafana macros and variables of an InfluxQL query the way Grafana does.
pub(crate) fn render_influxql(
    text: &str,
    vars: &[(&str, &str)],
    from_ms: i64,
    to_ms: i64,
    interval: &str,
) -> Result<String> {
    let mut s = text
        .replace("$timeFilter", &format!("time >= {from_ms}ms and time <= {to_ms}ms"))
        .replace("$__interval", interval)
        .replace("$interval", interval);
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in vars {
        s = s.replace(&format!("${name}"), value);
    }
    ensure_substituted(&s)?;
    Ok(s)
}

/// Substitutes the Grafana macros and variables of a PromQL query.
pub(crate) fn render_promql(text: &str, range: &str) -> Result<String> {
    let s = text
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", range)
        .replace("$instance", ".*");
    ensure_substituted(&s)?;
    Ok(s)
}

/// Metric names a PromQL expression refers to (histogram series mapped to their metric).
pub(crate) fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("firegrid_") {
        let tail = &rest[i..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        out.insert(base.to_owned());
        rest = &tail[end..];
    }
    if expr.contains("up{") {
        out.insert("up".to_owned());
    }
    out
}

/// Metric names in a Prometheus text exposition (histogram series mapped to their metric).
pub(crate) fn exported_metrics(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .chain(std::iter::once("up".to_owned()))
        .collect()
}

pub(crate) fn rule_expressions() -> Result<Vec<(String, String)>> {
    let path = root().join("deploy/prometheus/rules/firegrid.rules.yml");
    let rules: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
    let mut out = Vec::new();
    for group in rules["groups"].as_sequence().context("groups")? {
        for rule in group["rules"].as_sequence().context("rules")? {
            let name = rule["alert"].as_str().or_else(|| rule["record"].as_str()).context("rule name")?;
            out.push((name.to_owned(), rule["expr"].as_str().context("expr")?.to_owned()));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------------
// Division variables

/// A division variable: dashboard file, variable name, its `(text, value)` options.
pub(crate) type DivisionVariable = (String, String, Vec<(String, String)>);

/// The `text : value` options of every custom variable named `county` or `township`, by dashboard and variable.
pub(crate) fn division_variables() -> Result<Vec<DivisionVariable>> {
    let mut out = Vec::new();
    for (file, d) in load_dashboards()? {
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or("");
            if !matches!(name, "county" | "township") {
                continue;
            }
            ensure!(v["type"] == "custom", "{file}: ${name} is a {} variable, not custom with names", v["type"]);
            let query = v["query"].as_str().context("query")?;
            let options = query
                .split(", ")
                .map(|o| o.split_once(" : ").map(|(t, c)| (t.to_owned(), c.to_owned())))
                .collect::<Option<Vec<_>>>()
                .with_context(|| format!("{file}: ${name} options are not `name : code`"))?;
            out.push((file.clone(), name.to_owned(), options));
        }
    }
    Ok(out)
}

/// Division names by code, from the table the alerting crate embeds (`alerting/data/division-names.csv`).
pub(crate) fn division_names() -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(root().join("alerting/data/division-names.csv"))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(c, n)| (c.to_owned(), n.trim().to_owned()))
        .collect())
}

/// The label a division variable shows for a code: the county's name, or the county's and the township's.
pub(crate) fn division_label(names: &BTreeMap<String, String>, code: &str) -> Option<String> {
    let own = names.get(code)?;
    match code.len() {
        6 => Some(own.clone()),
        _ => Some(format!("{} {own}", names.get(code.get(..6)?)?)),
    }
}
