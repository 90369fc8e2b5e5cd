//! The service's own metrics from the real binary: `process_*`, `firegrid_build_info`,
//! `firegrid_store_up`, the memory keeper's gauge and counter, and the duration histograms under
//! their Prometheus-style names beside the old ones (kept for one release, DESIGN §7).

mod support;

use std::time::Duration;

use anyhow::{ensure, Result};
use support::process::Firegrid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_process_build_store_memory_keeper_and_renamed_histograms() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let reg = support::fleet::write_registry(dir.path(), &support::fleet::devices(3))?;
    let mut c = support::fleet::harness_config(dir.path(), &reg, "embedded", "http://127.0.0.1:1", "metrics");
    c.mqtt.embedded_listen = format!("127.0.0.1:{}", support::free_port()?);
    c.store.backend = "embedded".into();
    let conf = dir.path().join("firegrid.toml");
    std::fs::write(&conf, toml::to_string(&c)?)?;
    let mut f = Firegrid::start(&conf, Vec::new(), &dir.path().join("log")).await?;
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", f.http_port)).await?.text().await?;
    for series in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
        "firegrid_store_up 1",
        "# TYPE firegrid_write_duration_seconds histogram",
        "# TYPE firegrid_write_seconds histogram",
        "# TYPE firegrid_dispatch_duration_seconds histogram",
        "# TYPE firegrid_dispatch_seconds histogram",
    ] {
        ensure!(text.lines().any(|l| l.starts_with(series)), "no `{series}` in /metrics:\n{text}");
    }
    let build = text.lines().find(|l| l.starts_with("firegrid_build_info{")).unwrap_or_default();
    ensure!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("commit=\"")
            && !build.contains("commit=\"\"")
            && build.ends_with(" 1"),
        "build info: {build}"
    );
    // The memory keeper's first look is at start: what glibc holds free, never nothing once the
    // registry load's temporaries were freed.
    let port = f.http_port;
    support::eventually(Duration::from_secs(10), || async move {
        let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await?.text().await?;
        let free = text.lines().find_map(|l| l.strip_prefix("firegrid_allocator_free_bytes "));
        let trims = text.lines().any(|l| l.starts_with("firegrid_memory_trims_total "));
        Ok(free.and_then(|v| v.trim().parse::<u64>().ok()).filter(|&v| v > 0 && trims))
    })
    .await?;
    f.stop(Duration::from_secs(15)).await?;
    Ok(())
}
