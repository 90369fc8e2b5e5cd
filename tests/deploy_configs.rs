//! The deployment files in `deploy/` (and the root `Dockerfile`) are well-formed and agree with each other and
//! with firegrid: every JSON, YAML and TOML file parses; every `FIREGRID_*` setting that docker-compose, systemd
//! and Kubernetes give firegrid is a configuration key firegrid accepts (unknown keys are errors) and the result
//! validates; the Kubernetes tree (kustomize base, alert template, partition overlays, CloudNativePG) runs an ingest
//! group and two alert instances per partition, each probing `/healthz` and `/readyz`, no county in two partitions; the dashboards reach the provisioned kinds of data source through datasource
//! variables set from `__inputs` (so they import into any Grafana), carry Chinese titles and
//! English descriptions, and cover every metric of DESIGN §7; every file a compose service mounts exists (or is
//! one of the git-ignored secrets `compose/make-secrets.sh` writes); and the real `firegrid check-config` accepts
//! the sample configuration. Docker itself is not run here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn deploy() -> PathBuf {
    root().join("deploy")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn yaml_documents(path: &Path) -> Result<Vec<Yaml>> {
    let text = read(path)?;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = <Yaml as serde::Deserialize>::deserialize(doc).with_context(|| format!("{}", path.display()))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

fn yaml(path: &Path) -> Result<Yaml> {
    let mut docs = yaml_documents(path)?;
    ensure!(docs.len() == 1, "{}: one YAML document expected, found {}", path.display(), docs.len());
    Ok(docs.remove(0))
}

/// Loads `config` (a firegrid.toml) with `env` applied exactly as `firegrid run` does, and validates it.
fn firegrid_config(config: &Path, env: &[(String, String)]) -> Result<firegrid::Config> {
    let loaded = firegrid::Config::load(Some(config), env.to_vec())
        .with_context(|| format!("{} with {env:?}", config.display()))?;
    loaded.validate().with_context(|| format!("{} with {env:?} does not validate", config.display()))?;
    Ok(loaded)
}

/// The `FIREGRID_*` pairs, with every secret file (`*_FILE`, read by validation) replaced by a stand-in in `dir`:
/// the target system's secret paths do not exist here.
fn firegrid_env<'a>(dir: &Path, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (k, v) in pairs.into_iter().filter(|(k, _)| k.starts_with("FIREGRID_")) {
        let value = if k.ends_with("_FILE") {
            let file = dir.join(k.to_ascii_lowercase());
            let content = match k {
                _ if k.contains("TOKENS") => "token,role,subject\nt-1,dispatcher,\n",
                _ if k.contains("URL_FILE") => "postgresql://firegrid:stand-in@db.invalid:5432/firegrid\n",
                _ => "stand-in\n",
            };
            std::fs::write(&file, content)?;
            file.display().to_string()
        } else {
            v.to_owned()
        };
        out.push((k.to_owned(), value));
    }
    Ok(out)
}

#[test]
fn every_json_yaml_and_toml_file_in_deploy_parses() -> Result<()> {
    let mut files = Vec::new();
    files_under(&deploy(), &mut files)?;
    let mut parsed = BTreeMap::<&str, usize>::new();
    for path in &files {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "json" => {
                serde_json::from_str::<Json>(&read(path)?).with_context(|| format!("{}", path.display()))?;
            }
            "yml" | "yaml" => {
                ensure!(!yaml_documents(path)?.is_empty(), "{} is empty", path.display());
            }
            "toml" => {
                toml::from_str::<toml::Table>(&read(path)?).with_context(|| format!("{}", path.display()))?;
            }
            _ => continue,
        }
        *parsed.entry(if ext == "yml" { "yaml" } else { ext }).or_default() += 1;
    }
    // Three dashboards; provisioning, Prometheus, compose and Kubernetes files; the sample configuration.
    ensure!(parsed.get("json").copied().unwrap_or(0) >= 3, "{parsed:?}");
    ensure!(parsed.get("yaml").copied().unwrap_or(0) >= 10, "{parsed:?}");
    ensure!(parsed.get("toml").copied().unwrap_or(0) >= 1, "{parsed:?}");
    Ok(())
}

#[test]
fn the_shell_scripts_in_deploy_are_valid_sh() -> Result<()> {
    let mut files = Vec::new();
    files_under(&deploy(), &mut files)?;
    let scripts: Vec<&PathBuf> = files.iter().filter(|p| p.extension().is_some_and(|e| e == "sh")).collect();
    ensure!(scripts.len() >= 2, "scripts: {scripts:?}");
    for script in scripts {
        let status = Command::new("sh").arg("-n").arg(script).status()?;
        ensure!(status.success(), "sh -n {}: {status}", script.display());
    }
    Ok(())
}

#[test]
fn the_sample_configuration_passes_the_real_check_config() -> Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_firegrid"))
        .args(["check-config", "--config", "deploy/firegrid.toml"])
        .current_dir(root())
        .env_remove("FIREGRID_LOG")
        .output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    ensure!(out.status.success(), "firegrid check-config failed: {text}");
    ensure!(text.contains("configuration ok"), "{text}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Grafana

fn datasource_uids() -> Result<BTreeMap<String, String>> {
    let ds = yaml(&deploy().join("grafana/provisioning/datasources/firegrid.yml"))?;
    let mut out = BTreeMap::new();
    for d in ds["datasources"].as_sequence().context("datasources")? {
        out.insert(d["uid"].as_str().context("uid")?.to_owned(), d["type"].as_str().context("type")?.to_owned());
    }
    Ok(out)
}

/// The datasource variables of a dashboard (name → plugin type), each with the `__inputs` entry an import asks
/// for: its current value is `${DS_…}`, which Grafana's import replaces with the data source the user picks.
fn datasource_variables(name: &str, d: &Json) -> Result<BTreeMap<String, String>> {
    let inputs: BTreeMap<String, String> = d["__inputs"]
        .as_array()
        .with_context(|| format!("{name}: no __inputs"))?
        .iter()
        .filter(|i| i["type"] == "datasource")
        .filter_map(|i| Some((format!("${{{}}}", i["name"].as_str()?), i["pluginId"].as_str()?.to_owned())))
        .collect();
    let mut out = BTreeMap::new();
    for v in d["templating"]["list"].as_array().into_iter().flatten().filter(|v| v["type"] == "datasource") {
        let (var, ty) = (v["name"].as_str().context("name")?, v["query"].as_str().context("query")?);
        let input = v["current"]["value"].as_str().unwrap_or("");
        ensure!(inputs.get(input).map(String::as_str) == Some(ty), "{name}: ${var} is not set from __inputs");
        out.insert(var.to_owned(), ty.to_owned());
    }
    ensure!(out.len() == inputs.len(), "{name}: an __inputs entry without its datasource variable");
    Ok(out)
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

fn walk_datasources<'a>(value: &'a Json, out: &mut Vec<&'a Json>) {
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                if k == "datasource" && v.is_object() {
                    out.push(v);
                }
                walk_datasources(v, out);
            }
        }
        Json::Array(items) => items.iter().for_each(|v| walk_datasources(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboards_take_their_data_sources_from_variables_and_are_titled_in_chinese_and_described_in_english(
) -> Result<()> {
    let uids = datasource_uids()?;
    ensure!(
        uids.values().collect::<BTreeSet<_>>() == BTreeSet::from([&"influxdb".to_owned(), &"prometheus".to_owned()])
    );
    let dir = deploy().join("grafana/dashboards");
    let mut dashboard_uids = BTreeSet::new();
    let mut all_text = String::new();
    let mut files = Vec::new();
    files_under(&dir, &mut files)?;
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let name = path.display().to_string();
        let text = read(path)?;
        all_text.push_str(&text);
        let d: Json = serde_json::from_str(&text)?;
        ensure!(dashboard_uids.insert(d["uid"].as_str().context("uid")?.to_owned()), "{name}: duplicate uid");
        ensure!(has_cjk(d["title"].as_str().unwrap_or("")), "{name}: dashboard title in Chinese");
        let chosen = datasource_variables(&name, &d)?;
        let mut refs = Vec::new();
        walk_datasources(&d, &mut refs);
        for r in refs {
            let Some(uid) = r["uid"].as_str() else { bail!("{name}: data source without uid: {r}") };
            if uid == "-- Grafana --" {
                continue;
            }
            // Every query names its data source through a datasource variable of its type, so the dashboard
            // imports into any Grafana.
            let var = uid.strip_prefix("${").and_then(|u| u.strip_suffix('}'));
            let ty = var.and_then(|v| chosen.get(v));
            ensure!(
                ty.is_some() && ty.map(String::as_str) == r["type"].as_str(),
                "{name}: data source {r} is not a variable"
            );
            ensure!(uids.values().any(|t| Some(t) == ty), "{name}: no provisioned {ty:?} data source");
        }
        let mut ids = BTreeSet::new();
        let mut panels = 0;
        let mut stack: Vec<&Json> = d["panels"].as_array().context("panels")?.iter().collect();
        while let Some(p) = stack.pop() {
            stack.extend(p["panels"].as_array().into_iter().flatten());
            let title = p["title"].as_str().unwrap_or("");
            ensure!(ids.insert(p["id"].as_i64().context("panel id")?), "{name}: duplicate panel id {}", p["id"]);
            ensure!(p["gridPos"]["w"].as_i64().is_some_and(|w| w > 0 && w <= 24), "{name}: gridPos of {title}");
            ensure!(has_cjk(title), "{name}: panel title {title:?} is not Chinese");
            if p["type"] == "row" {
                continue;
            }
            panels += 1;
            let description = p["description"].as_str().unwrap_or("");
            let ascii_words = description.split_whitespace().filter(|w| w.is_ascii()).count();
            ensure!(ascii_words >= 5, "{name}: panel {title} needs an English description, has {description:?}");
            ensure!(p["targets"].as_array().is_some_and(|t| !t.is_empty()), "{name}: {title} has no query");
        }
        ensure!(panels >= 7, "{name}: {panels} panels");
    }
    ensure!(dashboard_uids.len() == 3, "{dashboard_uids:?}");
    // DESIGN §7 metrics on the dashboards, and every reading measurement and the incident measurement.
    for needle in [
        "firegrid_messages_received_total",
        "firegrid_messages_rejected_total",
        "firegrid_points_written_total",
        "firegrid_write_batches_total",
        "firegrid_write_duration_seconds_bucket",
        "firegrid_spool_bytes",
        "firegrid_incidents_opened_total",
        "firegrid_dispatches_total",
        "firegrid_dispatch_duration_seconds_bucket",
        "firegrid_devices_offline",
        "firegrid_mqtt_connected",
        "FROM \\\"smoke\\\"",
        "FROM \\\"electrical\\\"",
        "FROM \\\"forest_ir\\\"",
        "FROM \\\"fire_incident\\\"",
    ] {
        ensure!(all_text.contains(needle), "no dashboard uses {needle}");
    }
    // The histograms' old names are served for one release only (DESIGN §7): nothing shipped reads them.
    let rules = read(&deploy().join("prometheus/rules/firegrid.rules.yml"))?;
    for old in ["firegrid_write_seconds", "firegrid_dispatch_seconds"] {
        ensure!(!all_text.contains(old) && !rules.contains(old), "{old} is renamed _duration_seconds");
    }

    // The provider loads the directory docker-compose mounts the dashboards into.
    let provider = yaml(&deploy().join("grafana/provisioning/dashboards/firegrid.yml"))?;
    let path = provider["providers"][0]["options"]["path"].as_str().context("provider path")?;
    let compose = yaml(&deploy().join("docker-compose.yml"))?;
    let grafana_mounts: Vec<&str> = compose["services"]["grafana"]["volumes"]
        .as_sequence()
        .context("grafana volumes")?
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    ensure!(
        grafana_mounts.iter().any(|m| m.starts_with("./grafana/dashboards:") && m.contains(path)),
        "{grafana_mounts:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// docker-compose, Dockerfile

#[test]
fn the_compose_file_runs_the_whole_stack_from_files_that_exist_with_settings_firegrid_accepts() -> Result<()> {
    let compose = yaml(&deploy().join("docker-compose.yml"))?;
    let services = compose["services"].as_mapping().context("services")?;
    let names: BTreeSet<&str> = services.keys().filter_map(Yaml::as_str).collect();
    let want = BTreeSet::from(["mosquitto", "influxdb", "grafana", "prometheus", "firegrid", "simulator"]);
    ensure!(names == want, "services {names:?}");
    let ignored = read(&deploy().join(".gitignore"))?;
    let generated = |source: &str| {
        let rel = source.trim_start_matches("./");
        ignored.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).any(|l| {
            let l = l.trim_end_matches('/');
            rel == l || rel.starts_with(&format!("{l}/"))
        })
    };
    for (name, service) in services {
        let name = name.as_str().unwrap_or("");
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let spec = volume.as_str().context("short volume syntax")?;
            let source = spec.split(':').next().unwrap_or("");
            if source.starts_with("./") || source.starts_with("../") {
                ensure!(
                    deploy().join(source).exists() || generated(source),
                    "{name} mounts {source}, which does not exist and is not a generated secret"
                );
            } else {
                ensure!(compose["volumes"].get(source).is_some(), "{name}: volume {source} is not declared");
            }
        }
        for port in service["ports"].as_sequence().into_iter().flatten() {
            ensure!(
                port.as_str().is_some_and(|p| p.starts_with("127.0.0.1:")),
                "{name} publishes {port:?} beyond loopback"
            );
        }
        for secret in service["secrets"].as_sequence().into_iter().flatten() {
            let secret = secret.as_str().context("secret name")?;
            let file = compose["secrets"][secret]["file"].as_str().with_context(|| format!("secret {secret}"))?;
            ensure!(generated(file), "secret file {file} must be git-ignored (deploy/.gitignore)");
        }
    }
    let script = read(&deploy().join("compose/make-secrets.sh"))?;
    for file in compose["secrets"].as_mapping().context("secrets")?.values() {
        let file = file["file"].as_str().context("file")?.trim_start_matches("./");
        ensure!(script.contains(file), "compose/make-secrets.sh does not write {file}");
    }

    // firegrid's environment is valid configuration on top of the mounted firegrid.toml.
    let secrets = tempfile::tempdir()?;
    let firegrid = &compose["services"]["firegrid"];
    let env: Vec<(&str, &str)> = firegrid["environment"]
        .as_mapping()
        .context("firegrid environment")?
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
        .collect();
    let config = firegrid_config(&deploy().join("firegrid.toml"), &firegrid_env(secrets.path(), env)?)?;
    ensure!(config.mqtt.url == "mqtt://mosquitto:1883" && config.mqtt.username == "firegrid");
    ensure!(config.http.listen == "0.0.0.0:8080", "firegrid must listen beyond the container's loopback");
    // The simulator talks to the simulator listener of compose/mosquitto-conf.d.
    let sim = read(&deploy().join("compose/mosquitto-conf.d/simulator.conf"))?;
    let command: Vec<&str> = compose["services"]["simulator"]["command"]
        .as_sequence()
        .context("command")?
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    ensure!(command.starts_with(&["simulate", "run"]), "{command:?}");
    ensure!(command.contains(&"mqtt://mosquitto:1884") && sim.contains("listener 1884"), "{command:?}");
    Ok(())
}

/// The `FIREGRID_*` environment of a compose service.
fn compose_env(service: &Yaml) -> Result<Vec<(&str, &str)>> {
    Ok(service["environment"]
        .as_mapping()
        .context("environment")?
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?, v.as_str()?)))
        .collect())
}

#[test]
fn the_postgres_compose_override_runs_an_ingest_member_and_a_partitions_leader_and_standby() -> Result<()> {
    let base = yaml(&deploy().join("docker-compose.yml"))?;
    let mut over = yaml(&deploy().join("compose/postgres.yml"))?;
    over.apply_merge()?;
    for service in over["services"].as_mapping_mut().context("services")?.values_mut() {
        service.apply_merge()?;
    }
    let tmp = tempfile::tempdir()?;
    let config = deploy().join("firegrid.toml");
    // The single node becomes an ingest member: its environment is the base's with the override's on top.
    let mut env = compose_env(&base["services"]["firegrid"])?;
    env.extend(compose_env(&over["services"]["firegrid"])?);
    let ingest = firegrid_config(&config, &firegrid_env(tmp.path(), env)?)?;
    ensure!(ingest.node.role == "ingest" && ingest.mqtt.shared_group == "firegrid-ingest", "the ingest member");
    let script = read(&deploy().join("compose/make-secrets.sh"))?;
    let ignored = read(&deploy().join(".gitignore"))?;
    let mut ports = BTreeSet::new();
    for name in ["alert-a", "alert-b"] {
        let service = &over["services"][name];
        let alert = firegrid_config(&config, &firegrid_env(tmp.path(), compose_env(service)?)?)?;
        ensure!(alert.node.role == "alert" && alert.incidents.backend == "postgres", "{name}: alert on PostgreSQL");
        ensure!(alert.alerting.partition == "chongqing" && alert.alerting.counties.len() == 3, "{name}: the partition");
        ensure!(alert.mqtt.client_id == "firegrid-alert", "{name}: the partition's instances share the client id");
        ensure!(service["depends_on"]["postgres"]["condition"] == "service_healthy", "{name} waits for PostgreSQL");
        for port in service["ports"].as_sequence().context("ports")? {
            let port = port.as_str().context("port")?;
            ensure!(port.starts_with("127.0.0.1:") && ports.insert(port.to_owned()), "{name} publishes {port}");
        }
        for volume in service["volumes"].as_sequence().context("volumes")? {
            let source = volume.as_str().context("volume")?.split(':').next().unwrap_or("");
            ensure!(deploy().join(source).exists(), "{name} mounts {source}, which does not exist");
        }
    }
    for (secret, spec) in over["secrets"].as_mapping().context("secrets")? {
        let file = spec["file"].as_str().with_context(|| format!("secret {secret:?}"))?.trim_start_matches("./");
        ensure!(script.contains(file), "compose/make-secrets.sh does not write {file}");
        let rules = ignored.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        ensure!(rules.clone().any(|l| file.starts_with(l)), "{file} is not git-ignored");
    }
    let pg = &over["services"]["postgres"];
    ensure!(pg["environment"]["POSTGRES_PASSWORD_FILE"].as_str().is_some(), "PostgreSQL's password from a secret");
    ensure!(pg["ports"].is_null(), "PostgreSQL stays on the compose network");
    Ok(())
}

#[test]
fn the_dockerfile_is_multi_stage_runs_unprivileged_and_copies_only_what_exists() -> Result<()> {
    let text = read(&root().join("Dockerfile"))?;
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    ensure!(froms.len() >= 2 && froms[0].contains(" AS build"), "{froms:?}");
    ensure!(text.contains("COPY --from=build"), "the runtime stage takes the binary from the build stage");
    let user = text.lines().rfind(|l| l.starts_with("USER ")).context("USER")?;
    ensure!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    for line in text.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &parts[..parts.len() - 1] {
            ensure!(*source == "." || root().join(source).exists(), "Dockerfile copies missing {source}");
        }
    }
    ensure!(text.contains("--bin firegrid") && text.contains("ENTRYPOINT [\"/usr/local/bin/firegrid\"]"));
    let ignore = read(&root().join(".dockerignore"))?;
    ensure!(ignore.lines().any(|l| l.trim() == "target"), "target/ is excluded from the build context");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// systemd

#[test]
fn the_systemd_unit_is_hardened_and_its_settings_are_valid_configuration() -> Result<()> {
    let path = deploy().join("systemd/firegrid.service");
    let text = read(&path)?;
    let mut section = String::new();
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
            continue;
        }
        let (k, v) = line.split_once('=').with_context(|| format!("not key=value: {line}"))?;
        keys.push((section.clone(), k.to_owned(), v.to_owned()));
    }
    let get =
        |k: &'static str| keys.iter().filter(move |(s, key, _)| s == "Service" && key == k).map(|(_, _, v)| v.as_str());
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("DynamicUser", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
        ("KillSignal", "SIGTERM"),
        // firegrid exits 2 on bad configuration (tests/exit_codes.rs): no restart loop on it.
        ("RestartPreventExitStatus", "2"),
    ] {
        ensure!(get(key).any(|v| v == value), "{key}={value} missing from the unit");
    }
    ensure!(get("ExecStart").any(|v| v.contains("firegrid run --config")), "ExecStart");
    ensure!(get("ExecReload").any(|v| v.contains("-HUP")), "reload is SIGHUP (registry reload)");
    let stop: u64 = get("TimeoutStopSec").next().context("TimeoutStopSec")?.parse()?;
    ensure!(stop > 10, "firegrid needs up to 10 s to stop; TimeoutStopSec={stop}");
    // Environment= settings are valid firegrid configuration keys.
    let secrets = tempfile::tempdir()?;
    let env: Vec<(&str, &str)> = get("Environment").filter_map(|v| v.split_once('=')).collect();
    ensure!(env.len() >= 5, "{env:?}");
    firegrid_config(&deploy().join("firegrid.toml"), &firegrid_env(secrets.path(), env)?)?;

    // With systemd installed, systemd-analyze checks every directive (the binary path swapped for one that exists).
    if Path::new("/usr/bin/systemd-analyze").is_file() {
        let dir = tempfile::tempdir()?;
        let copy = dir.path().join("firegrid.service");
        std::fs::write(&copy, text.replace("/usr/local/bin/firegrid", "/bin/true"))?;
        let out = Command::new("/usr/bin/systemd-analyze").arg("verify").arg(&copy).output()?;
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(out.status.success() && !report.contains("Unknown"), "systemd-analyze verify: {report}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

/// One object of the Kubernetes tree with the partition overlay it came through (`None` outside `partitions/`).
struct K8sObject {
    partition: Option<String>,
    object: Yaml,
}

/// The objects `kustomization.yaml` in `dir` builds: its resources (files, and directories with their own
/// kustomization) read recursively, each partition overlay's inline JSON patches applied to its Deployment (`add`
/// of an env entry: what the overlays do) and its `nameSuffix` to the names. A small reading of what `kubectl
/// kustomize deploy/kubernetes` renders (kustomize is not needed to run the tests).
fn kustomize(dir: &Path, out: &mut Vec<K8sObject>) -> Result<()> {
    let k = yaml(&dir.join("kustomization.yaml"))?;
    let mut own = Vec::new();
    for resource in k["resources"].as_sequence().context("resources")? {
        let path = dir.join(resource.as_str().context("resource")?);
        if path.is_dir() {
            kustomize(&path, &mut own)?;
        } else {
            own.extend(yaml_documents(&path)?.into_iter().map(|object| K8sObject { partition: None, object }));
        }
    }
    let suffix = k["nameSuffix"].as_str().unwrap_or("");
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let here = (dir.parent().and_then(|p| p.file_name()) == Some("partitions".as_ref())).then_some(name);
    for mut o in own {
        for patch in k["patches"].as_sequence().into_iter().flatten() {
            let target = &patch["target"];
            if o.object["kind"] != target["kind"] || o.object["metadata"]["name"] != target["name"] {
                continue;
            }
            let ops: Yaml = serde_yaml::from_str(patch["patch"].as_str().context("inline patch")?)?;
            for op in ops.as_sequence().context("JSON patch")? {
                ensure!(op["op"] == "add" && op["path"] == "/spec/template/spec/containers/0/env/-", "{op:?}");
                let env = &mut o.object["spec"]["template"]["spec"]["containers"][0]["env"];
                env.as_sequence_mut().context("env")?.push(op["value"].clone());
            }
        }
        if let (Some(n), false) = (o.object["metadata"]["name"].as_str(), suffix.is_empty()) {
            o.object["metadata"]["name"] = Yaml::from(format!("{n}{suffix}"));
        }
        o.partition = o.partition.or(here.map(str::to_owned));
        out.push(o);
    }
    Ok(())
}

/// A workload's pod checks: probes on `/healthz` and `/readyz`, the security context, every mount declared (a
/// volume of the pod or a StatefulSet's claim template), every Secret key in an example Secret; the environment's
/// values.
fn check_pod<'a>(name: &str, workload: &'a Yaml, secret_keys: &BTreeSet<String>) -> Result<Vec<(&'a str, &'a str)>> {
    let pod = &workload["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    let port = c["ports"][0]["name"].as_str().context("port name")?;
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")] {
        ensure!(c[probe]["httpGet"]["path"].as_str() == Some(path), "{name}: {probe} on {path}");
        ensure!(c[probe]["httpGet"]["port"].as_str() == Some(port), "{name}: {probe} on port {port}");
    }
    let sc = &c["securityContext"];
    ensure!(sc["readOnlyRootFilesystem"] == Yaml::Bool(true) && sc["allowPrivilegeEscalation"] == Yaml::Bool(false));
    ensure!(pod["spec"]["securityContext"]["runAsNonRoot"] == Yaml::Bool(true), "{name}: runAsNonRoot");
    let mut volumes: BTreeMap<&str, &Yaml> = pod["spec"]["volumes"]
        .as_sequence()
        .context("volumes")?
        .iter()
        .filter_map(|v| Some((v["name"].as_str()?, v)))
        .collect();
    for claim in workload["spec"]["volumeClaimTemplates"].as_sequence().into_iter().flatten() {
        volumes.insert(claim["metadata"]["name"].as_str().context("claim name")?, claim);
    }
    for v in volumes.values() {
        for item in v["secret"]["items"].as_sequence().into_iter().flatten() {
            let key = item["key"].as_str().context("key")?;
            ensure!(secret_keys.contains(key), "{name}: secret key {key} is in no example Secret");
        }
    }
    let mounts: Vec<&str> =
        c["volumeMounts"].as_sequence().context("mounts")?.iter().filter_map(|m| m["name"].as_str()).collect();
    Ok(c["env"]
        .as_sequence()
        .context("env")?
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .chain(mounts.into_iter().filter(|m| !volumes.contains_key(m)).map(|m| ("UNDECLARED_VOLUME", m)))
        .collect())
}

#[test]
fn the_kubernetes_layout_runs_an_ingest_group_and_two_alert_instances_per_partition_on_shared_postgres() -> Result<()> {
    let dir = deploy().join("kubernetes");
    let mut objects = Vec::new();
    kustomize(&dir, &mut objects)?;
    let find = |kind: &'static str| objects.iter().filter(move |o| o.object["kind"] == kind);
    let mut secret_keys = BTreeSet::new();
    for example in [dir.join("secret.example.yaml"), dir.join("postgres/external/secret.example.yaml")] {
        let secret = yaml(&example)?;
        ensure!(secret["kind"] == "Secret");
        let keys = secret["stringData"].as_mapping().context("stringData")?.keys().filter_map(Yaml::as_str);
        secret_keys.extend(keys.map(str::to_owned));
    }
    let config_map = find("ConfigMap").next().context("ConfigMap")?;
    let tmp = tempfile::tempdir()?;
    let config_path = tmp.path().join("firegrid.toml");
    std::fs::write(&config_path, config_map.object["data"]["firegrid.toml"].as_str().context("firegrid.toml")?)?;

    let ingest = find("StatefulSet").next().context("the ingest StatefulSet")?;
    ensure!(ingest.object["spec"]["replicas"].as_i64() >= Some(2), "two or more ingest members");
    let env = check_pod("ingest", &ingest.object, &secret_keys)?;
    ensure!(!env.iter().any(|(k, _)| *k == "UNDECLARED_VOLUME"), "ingest: {env:?}");
    let config = firegrid_config(&config_path, &firegrid_env(tmp.path(), env)?)?;
    ensure!(config.node.role == "ingest" && !config.mqtt.shared_group.is_empty(), "ingest: role and shared group");
    ensure!(config.incidents.backend == "sqlite", "ingest instances need no PostgreSQL");

    let mut counties = BTreeSet::new();
    let mut partitions = BTreeSet::new();
    for d in find("Deployment") {
        let name = d.object["metadata"]["name"].as_str().context("name")?;
        let partition = d.partition.as_deref().with_context(|| format!("{name} is not in a partition overlay"))?;
        ensure!(d.object["spec"]["replicas"].as_i64() == Some(2), "{name}: a leader and a standby");
        let selector = d.object["spec"]["selector"]["matchLabels"]["firegrid-partition"].as_str();
        ensure!(selector.is_none(), "{name}: the overlay adds the partition label (kustomize labels)");
        let env = check_pod(name, &d.object, &secret_keys)?;
        ensure!(!env.iter().any(|(k, _)| *k == "UNDECLARED_VOLUME"), "{name}: {env:?}");
        let config = firegrid_config(&config_path, &firegrid_env(tmp.path(), env)?)?;
        ensure!(config.node.role == "alert" && config.incidents.backend == "postgres", "{name}: alert on postgres");
        ensure!(config.alerting.partition == partition, "{name}: partition {}", config.alerting.partition);
        ensure!(partitions.insert(partition.to_owned()), "{name}: partition used twice");
        for county in &config.alerting.counties {
            ensure!(counties.insert(county.clone()), "{name}: county {county} in two partitions");
        }
    }
    ensure!(partitions.len() >= 2, "one alert Deployment per partition: {partitions:?}");
    let cluster = find("Cluster").next().context("the CloudNativePG Cluster")?;
    let app_secret = format!("{}-app", cluster.object["metadata"]["name"].as_str().context("cluster name")?);
    let external = yaml(&dir.join("postgres/external/secret.example.yaml"))?;
    ensure!(external["metadata"]["name"].as_str() == Some(app_secret.as_str()), "the external Secret's name");
    ensure!(cluster.object["spec"]["instances"].as_i64() >= Some(2), "an HA cluster");
    Ok(())
}
