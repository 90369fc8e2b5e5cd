//! The ingest hot path on one core: topic → decode → validate → enrich → line protocol, over
//! a realistic message mix (70 % smoke heartbeats, 20 % electrical, 10 % forest cameras;
//! 1 % of devices unregistered). Throughput is reported in readings per second.
#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use firegrid_ingest::lineproto::encode::encode;
use firegrid_ingest::pipeline::enrich::Enricher;
use firegrid_ingest::wire::payload::Limits;
use firegrid_ingest::{Device, Kind, Registry, SiteType};

const NOW: i64 = 1_795_930_617_074;

fn fixture() -> (Registry, Vec<(String, String)>) {
    let mut reg = Registry::default();
    let mut msgs = Vec::new();
    for i in 0..1000u32 {
        let kind = match i % 10 {
            0 => Kind::ForestIr,
            1 | 2 => Kind::Electrical,
            _ => Kind::Smoke,
        };
        let (county, township) = ("500112", format!("500112{:03}", i % 30));
        let community = format!("{township}{:03}", i % 7);
        let id = format!("{}-{i:06}", &kind.as_str()[..2]);
        let grid = format!("G{community}-{}", i % 3);
        if i % 100 != 99 {
            reg.insert_device(Device {
                device_id: id.clone(),
                kind,
                county: county.into(),
                township: township.clone(),
                community: community.clone(),
                grid_id: grid.clone(),
                household_id: format!("H{}", i / 2),
                address: "五星路社区 3栋2单元502室".into(),
                lat: Some(29.7),
                lon: Some(106.6),
                site_type: SiteType::Residential,
                vulnerable: false,
            });
        }
        let seq = 1000 + i;
        let ts = NOW - i64::from(i);
        let payload = match kind {
            Kind::Smoke => format!(
                r#"{{"ts":{ts},"seq":{seq},"status":"normal","values":{{"obscuration_db_m":0.0{},"temperature_c":22.{},"battery_pct":{}}}}}"#,
                i % 9 + 1,
                i % 10,
                60 + i % 40
            ),
            Kind::Electrical => format!(
                r#"{{"ts":{ts},"seq":{seq},"values":{{"residual_current_ma":{}.5,"cable_temp_c":[31.2,33.0,30.8],"current_a":12.4,"voltage_v":221.7}}}}"#,
                20 + i % 80
            ),
            Kind::ForestIr => format!(
                r#"{{"ts":{ts},"seq":{seq},"values":{{"max_temp_c":2{}.4,"hotspot_px":0,"smoke_score":0.02,"ambient_c":18.5}}}}"#,
                i % 10
            ),
        };
        msgs.push((format!("firegrid/v1/{county}/{township}/{}/{id}", kind.as_str()), payload));
    }
    (reg, msgs)
}

fn bench(c: &mut Criterion) {
    let (reg, msgs) = fixture();
    let limits = Limits::default();
    let enricher = Enricher { prefix: "firegrid/v1", limits: &limits };
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("decode_validate_enrich_encode", |b| {
        b.iter_batched_ref(
            || String::with_capacity(msgs.len() * 256),
            |out| {
                for (t, p) in &msgs {
                    let r = enricher.process(t.as_bytes(), p.as_bytes(), NOW, &reg).expect("valid fixture");
                    encode(out, &r);
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
