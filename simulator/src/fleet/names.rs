//! Chinese names and addresses for generated fleets: people (grid managers), venues, sites and
//! homes, in the forms a Chongqing dispatcher reads aloud.

use crate::fleet::divisions::{Community, Township};
use crate::rng::SimRng;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "罗", "高",
    "林", "谭", "冉", "向", "唐", "邓", "彭", "蒋", "余", "袁", "秦",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "建华", "晓东", "红梅", "德明", "小兰", "永强", "春燕", "国庆",
];
/// The nine kinds of small venue (九小场所).
const SMALL_VENUES: &[&str] =
    &["小餐饮", "小商店", "小旅馆", "小网吧", "小美容洗浴", "小歌舞娱乐", "小生产加工", "小学校幼儿园", "小医院诊所"];

/// A person's name, e.g. 谭建华.
pub(crate) fn person(rng: &mut SimRng) -> String {
    let s = rng.pick(SURNAMES).copied().unwrap_or("王");
    let g = rng.pick(GIVEN).copied().unwrap_or("伟");
    format!("{s}{g}")
}

/// An 11-digit mobile number in a 1xx-0000-xxxx pattern that reads as a placeholder.
pub(crate) fn phone(rng: &mut SimRng) -> String {
    let prefix = rng.pick(&["138", "139", "150", "177", "188"]).copied().unwrap_or("138");
    format!("{prefix}0000{:04}", rng.below(10_000))
}

/// A town's name without its 镇/乡/街道 suffix: 宁厂镇 → 宁厂.
pub(crate) fn stem(name: &str) -> &str {
    for suffix in ["街道", "镇", "乡"] {
        if let Some(s) = name.strip_suffix(suffix) {
            if !s.is_empty() {
                return s;
            }
        }
    }
    name
}

/// A home: 「五星路社区 3栋2单元502室」 in town, 「中心村3组12号」 in a village.
pub(crate) fn home(rng: &mut SimRng, c: &Community, building: u64) -> String {
    if c.urban {
        let unit = rng.int(1, 4);
        let floor = rng.int(2, 32);
        let room = rng.int(1, 4);
        format!("{} {building}栋{unit}单元{floor}{room:02}室", c.short_name())
    } else {
        format!("{}{}组{}号", c.short_name(), building, rng.int(1, 60))
    }
}

/// A small venue (九小场所) and its kind: 「五星路社区 12号门面（小餐饮）」.
pub(crate) fn small_venue(rng: &mut SimRng, c: &Community) -> String {
    let kind = rng.pick(SMALL_VENUES).copied().unwrap_or("小商店");
    format!("{} {}号门面（{kind}）", c.short_name(), rng.int(1, 120))
}

/// A rental building (群租房): 「五星路社区 7栋（群租房）」.
pub(crate) fn rental(c: &Community, building: u64) -> String {
    format!("{} {building}栋（群租房）", c.short_name())
}

/// An elderly-care home: 敬老院 in a town, 社区养老服务中心 in a street.
pub(crate) fn elderly_care(t: &Township, c: &Community) -> String {
    if t.urban {
        format!("{}养老服务中心", c.short_name())
    } else {
        format!("{}敬老院", t.name)
    }
}

/// A school: 「双龙湖街道中心小学」, 「中心村小学」.
pub(crate) fn school(rng: &mut SimRng, t: &Township, c: &Community) -> String {
    if rng.chance(0.5) {
        format!("{}中心小学", stem(&t.name))
    } else {
        format!("{}{}", c.short_name(), if t.urban { "幼儿园" } else { "小学" })
    }
}

/// A hospital: 社区卫生服务中心 in a street, 卫生院 in a town.
pub(crate) fn hospital(t: &Township) -> String {
    if t.urban {
        format!("{}社区卫生服务中心", t.name)
    } else {
        format!("{}卫生院", t.name)
    }
}

/// An ancient town or village (古镇古寨古村): 「宁厂古镇 12号」.
pub(crate) fn ancient_town(rng: &mut SimRng, t: &Township, c: &Community) -> String {
    if t.name.ends_with('镇') {
        format!("{}古镇 {}号", stem(&t.name), rng.int(1, 200))
    } else {
        format!("{}古寨 {}号", c.short_name(), rng.int(1, 80))
    }
}

/// A factory: 「统景工业园 3号厂房」.
pub(crate) fn factory(rng: &mut SimRng, t: &Township) -> String {
    format!("{}工业园 {}号厂房", stem(&t.name), rng.int(1, 20))
}

/// A forest camera post: 「中心村林区3号监控点」.
pub(crate) fn forest_post(c: &Community, n: u64) -> String {
    format!("{}林区{n}号监控点", c.short_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn community(name: &str, urban: bool) -> Community {
        Community { code: "500112002003".into(), name: name.into(), urban }
    }

    #[test]
    fn addresses_read_like_chongqing_addresses() {
        let mut rng = SimRng::seed(1);
        let a = home(&mut rng, &community("五星路社区居民委员会", true), 3);
        assert!(a.starts_with("五星路社区 3栋") && a.ends_with('室'), "{a}");
        let v = home(&mut rng, &community("中心村村民委员会", false), 3);
        assert!(v.starts_with("中心村3组") && v.ends_with('号'), "{v}");
        assert_eq!(stem("宁厂镇"), "宁厂");
        assert_eq!(stem("双龙湖街道"), "双龙湖");
        assert!(person(&mut rng).chars().count() >= 2);
        assert_eq!(phone(&mut rng).len(), 11);
    }
}
