//! Names of Chongqing's divisions for the Chinese summary of a dispatch message: the registry
//! holds codes only, so the crate embeds `data/division-names.csv` (`code,name`, cut from the
//! simulator's divisions file; see `data/README.md`). Parsed once, on first use. Pure.

use std::collections::HashMap;
use std::sync::OnceLock;

const NAMES_CSV: &str = include_str!("../../data/division-names.csv");

/// Division names by code.
#[derive(Debug, Default)]
pub(crate) struct Names {
    by_code: HashMap<&'static str, &'static str>,
}

impl Names {
    /// The embedded table (parsed on first call).
    pub(crate) fn embedded() -> &'static Names {
        static NAMES: OnceLock<Names> = OnceLock::new();
        NAMES.get_or_init(|| Names::parse(NAMES_CSV))
    }

    /// Parses `code,name` lines (a header line and malformed lines are skipped).
    pub(crate) fn parse(text: &'static str) -> Names {
        let by_code = text
            .lines()
            .filter_map(|l| l.split_once(','))
            .filter(|(code, _)| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()))
            .map(|(code, name)| (code, name.trim()))
            .collect();
        Names { by_code }
    }

    /// The official name of a division code.
    pub(crate) fn get(&self, code: &str) -> Option<&'static str> {
        self.by_code.get(code).copied()
    }

    /// The name people use for a community: 五星路社区居民委员会 → 五星路社区, 中心村村民委员会 → 中心村.
    pub(crate) fn community(&self, code: &str) -> Option<&'static str> {
        let name = self.get(code)?;
        for suffix in ["居民委员会", "村民委员会", "委员会", "居委会", "村委会"] {
            if let Some(s) = name.strip_suffix(suffix) {
                if !s.is_empty() {
                    return Some(s);
                }
            }
        }
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counties_townships_and_communities_have_their_chinese_names() {
        let n = Names::embedded();
        assert_eq!(n.get("500112"), Some("渝北区"));
        assert_eq!(n.get("500112002"), Some("双龙湖街道"));
        assert_eq!(n.community("500112002001"), Some("五星路社区"));
        assert_eq!(n.get("999999"), None);
    }
}
