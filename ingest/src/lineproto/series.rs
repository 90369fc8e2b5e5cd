//! The series of a reading in line protocol (DESIGN §4): its measurement and tags before the
//! `status` tag. A registered device's series comes from the registry and is encoded once per
//! device (DESIGN §1's hot-path note), here and nowhere else; an unregistered device's carries
//! the topic's location and `registered=false`.

use super::escape::{escape_measurement, push_tag};
use crate::model::device::Device;
use crate::model::reading::Reading;

/// The pre-encoded measurement and registry tags of a registered device,
/// `smoke,device_id=…,county=…,township=…,community=…,grid_id=…,site_type=…` (empty tags left
/// out), encoded on the first call and cached in the device (one atomic load after that).
pub fn device_prefix(device: &Device) -> &str {
    device.line_prefix.get_or_init(|| {
        let mut out = String::with_capacity(128);
        escape_measurement(&mut out, device.kind.as_str());
        push_tag(&mut out, "device_id", &device.device_id);
        push_tag(&mut out, "county", &device.county);
        push_tag(&mut out, "township", &device.township);
        push_tag(&mut out, "community", &device.community);
        push_tag(&mut out, "grid_id", &device.grid_id);
        push_tag(&mut out, "site_type", device.site_type.as_str());
        out
    })
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
    use crate::model::device::{LinePrefix, SiteType};
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
            line_prefix: LinePrefix::default(),
        }
    }

    #[test]
    fn a_device_prefix_escapes_chinese_and_special_characters_and_skips_empty_tags() {
        assert_eq!(
            device_prefix(&device("", SiteType::SmallVenue)),
            "smoke,device_id=sd-1,county=500112,township=500112002,community=500112002003,site_type=small_venue"
        );
        let d = device("网格 1,东=西", SiteType::Residential);
        assert!(device_prefix(&d).contains(",grid_id=网格\\ 1\\,东\\=西,"));
    }

    #[test]
    fn a_device_prefix_parses_into_the_registry_tags() {
        let line = format!("{},status=normal f=1 5", device_prefix(&device("网格 1", SiteType::Residential)));
        let p = parse_line(&line).expect("parses");
        assert_eq!(p.tags[4], ("grid_id".into(), "网格 1".into()));
    }

    #[test]
    fn an_edited_clone_of_a_device_is_encoded_with_its_own_tags() {
        let d = device("g-old", SiteType::Residential);
        assert!(device_prefix(&d).contains("grid_id=g-old"));
        let moved = Device { grid_id: "g-new".into(), ..d.clone() };
        assert!(device_prefix(&moved).contains("grid_id=g-new"), "{}", device_prefix(&moved));
        assert_eq!(moved.line_prefix, d.line_prefix, "the cache is not part of a device's identity");
    }
}
