//! The series of a reading in line protocol (DESIGN §4): its measurement and tags before the
//! `status` tag. A registered device's series is the measurement, its `device_id` and the tags
//! its registry entry shares with the other devices of its series (county … site type), which
//! are encoded once per series and kept in the registry's text table (DESIGN §1's hot-path note:
//! writing a line is then a few copies, not a re-escape), here and nowhere else; an unregistered
//! device's carries the topic's location and `registered=false`.

use super::escape::{escape_measurement, push_tag};
use crate::model::reading::Reading;
use crate::model::record::DeviceRecord;

/// Appends the measurement and registry tags of a registered device,
/// `smoke,device_id=…,county=…,township=…,community=…,grid_id=…,site_type=…` (empty tags left
/// out); the tags after `device_id` are encoded on the first call for their series.
pub(crate) fn push_device_prefix(out: &mut String, device: &DeviceRecord) {
    escape_measurement(out, device.kind().as_str());
    push_tag(out, "device_id", device.device_id());
    out.push_str(device.encoded_series(encode_series));
}

/// The measurement and registry tags of a registered device (see [`push_device_prefix`]).
pub fn device_prefix(device: &DeviceRecord) -> String {
    let mut out = String::with_capacity(160);
    push_device_prefix(&mut out, device);
    out
}

/// The tags a series shares, from any device of it.
fn encode_series(d: &DeviceRecord) -> String {
    let mut out = String::with_capacity(128);
    push_tag(&mut out, "county", d.county());
    push_tag(&mut out, "township", d.township());
    push_tag(&mut out, "community", d.community());
    push_tag(&mut out, "grid_id", d.grid_id());
    push_tag(&mut out, "site_type", d.site_type().as_str());
    out
}

/// Appends the series of a reading from a device missing from the registry.
pub(crate) fn push_unregistered(out: &mut String, reading: &Reading) {
    escape_measurement(out, reading.kind.as_str());
    push_tag(out, "device_id", &reading.device_id);
    push_tag(out, "county", &reading.county);
    push_tag(out, "township", &reading.township);
    out.push_str(",registered=false");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::parse::parse_line;
    use crate::model::device::{Device, SiteType};
    use crate::model::kind::Kind;

    fn device(grid_id: &str, site_type: SiteType) -> Device {
        Device {
            device_id: "sd-1".into(),
            kind: Kind::Smoke,
            county: "500112".into(),
            township: "500112002".into(),
            community: "500112002003".into(),
            grid_id: grid_id.into(),
            household_id: String::new(),
            address: String::new(),
            lat: None,
            lon: None,
            site_type,
            vulnerable: false,
        }
    }

    fn record(grid_id: &str, site_type: SiteType) -> DeviceRecord {
        DeviceRecord::from(device(grid_id, site_type))
    }

    #[test]
    fn a_device_prefix_escapes_chinese_and_special_characters_and_skips_empty_tags() {
        assert_eq!(
            device_prefix(&record("", SiteType::SmallVenue)),
            "smoke,device_id=sd-1,county=500112,township=500112002,community=500112002003,site_type=small_venue"
        );
        let d = record("网格 1,东=西", SiteType::Residential);
        assert!(device_prefix(&d).contains(",grid_id=网格\\ 1\\,东\\=西,"));
    }

    #[test]
    fn a_device_prefix_parses_into_the_registry_tags() {
        let line = format!("{},status=normal f=1 5", device_prefix(&record("网格 1", SiteType::Residential)));
        let p = parse_line(&line).expect("parses");
        assert_eq!(p.tags[4], ("grid_id".into(), "网格 1".into()));
    }

    #[test]
    fn devices_of_one_series_share_its_tags_and_keep_their_own_id() {
        let mut reg = crate::model::registry::Registry::default();
        for (id, grid) in [("sd-1", "g-1"), ("sd-2", "g-1"), ("sd-3", "g-2")] {
            reg.insert_device(Device { device_id: id.into(), ..device(grid, SiteType::School) });
        }
        let prefix = |id: &str| reg.device(id).map(|d| device_prefix(d)).unwrap_or_default();
        assert!(prefix("sd-1").starts_with("smoke,device_id=sd-1,county=500112,"));
        assert_eq!(prefix("sd-2"), prefix("sd-1").replace("sd-1", "sd-2"));
        assert!(prefix("sd-3").contains(",grid_id=g-2,"), "{}", prefix("sd-3"));
    }

    #[test]
    fn an_edited_copy_of_a_device_is_encoded_with_its_own_tags() {
        let d = record("g-old", SiteType::Residential);
        assert!(device_prefix(&d).contains("grid_id=g-old"));
        let moved = DeviceRecord::from(Device { grid_id: "g-new".into(), ..d.to_device() });
        assert!(device_prefix(&moved).contains("grid_id=g-new"), "{}", device_prefix(&moved));
        assert!(device_prefix(&d).contains("grid_id=g-old"), "the original keeps its tags");
    }
}
