//! The administrative divisions of Chongqing (重庆市), embedded from `data/chongqing-divisions.csv`
//! (see `data/README.md`): counties (区县) with their centroids, townships and streets
//! (乡镇/街道) and community or village committees (社区/村委会), with the urban–rural split the
//! 城乡一体 model spans — a township whose name ends in 街道 and a committee named …社区… are
//! urban; 镇/乡 and …村… are rural.

use std::collections::HashMap;

use crate::error::SimError;

/// The embedded divisions file.
pub(crate) const DIVISIONS_CSV: &str = include_str!("../../data/chongqing-divisions.csv");

/// A community or village committee (12-digit code).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Community {
    /// 12-digit code.
    pub code: String,
    /// Official name, e.g. 五星路社区居民委员会.
    pub name: String,
    /// Urban (社区) or rural (村).
    pub urban: bool,
}

impl Community {
    /// The name people use: 五星路社区, 中心村.
    pub(crate) fn short_name(&self) -> &str {
        for suffix in ["居民委员会", "村民委员会", "委员会", "居委会", "村委会"] {
            if let Some(s) = self.name.strip_suffix(suffix) {
                if !s.is_empty() {
                    return s;
                }
            }
        }
        &self.name
    }
}

/// A township or street (9-digit code).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Township {
    /// 9-digit code.
    pub code: String,
    /// Official name, e.g. 双龙湖街道.
    pub name: String,
    /// A street (街道) rather than a town (镇) or township (乡).
    pub urban: bool,
    /// Its committees, in code order.
    pub communities: Vec<Community>,
}

/// A county or district (6-digit code).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct County {
    /// 6-digit code.
    pub code: String,
    /// Official name, e.g. 渝北区.
    pub name: String,
    /// WGS-84 centroid longitude.
    pub lon: f64,
    /// WGS-84 centroid latitude.
    pub lat: f64,
    /// Its townships and streets, in code order.
    pub townships: Vec<Township>,
}

/// Every county of the data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Divisions {
    counties: Vec<County>,
    by_code: HashMap<String, usize>,
}

impl Divisions {
    /// Parses the embedded file.
    pub(crate) fn embedded() -> Result<Divisions, SimError> {
        Divisions::parse(DIVISIONS_CSV)
    }

    /// Parses a divisions file (`code,name,level,parent,lon,lat`).
    pub(crate) fn parse(text: &str) -> Result<Divisions, SimError> {
        let mut counties: Vec<County> = Vec::new();
        let mut by_code = HashMap::new();
        // township code -> (county index, township index)
        let mut townships: HashMap<String, (usize, usize)> = HashMap::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let line_no = i + 1;
            let err = |message: String| SimError::Divisions { line: line_no, message };
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').collect();
            let [code, name, level, parent, lon, lat] = f[..] else {
                return Err(err(format!("{} fields, want 6", f.len())));
            };
            let digits = |n: usize| code.len() == n && code.bytes().all(|b| b.is_ascii_digit());
            match level {
                "county" if digits(6) => {
                    let lon: f64 = lon.parse().map_err(|_| err(format!("lon `{lon}`")))?;
                    let lat: f64 = lat.parse().map_err(|_| err(format!("lat `{lat}`")))?;
                    by_code.insert(code.to_owned(), counties.len());
                    counties.push(County { code: code.into(), name: name.into(), lon, lat, townships: Vec::new() });
                }
                "township" if digits(9) => {
                    let &ci = by_code.get(parent).ok_or_else(|| err(format!("unknown county `{parent}`")))?;
                    let county = &mut counties[ci];
                    townships.insert(code.to_owned(), (ci, county.townships.len()));
                    county.townships.push(Township {
                        code: code.into(),
                        name: name.into(),
                        urban: name.ends_with("街道"),
                        communities: Vec::new(),
                    });
                }
                "community" if digits(12) => {
                    let &(ci, ti) = townships.get(parent).ok_or_else(|| err(format!("unknown township `{parent}`")))?;
                    let urban = name.contains("社区") || (!name.contains('村') && counties[ci].townships[ti].urban);
                    counties[ci].townships[ti].communities.push(Community {
                        code: code.into(),
                        name: name.into(),
                        urban,
                    });
                }
                _ => return Err(err(format!("`{code}` is not a valid {level} row"))),
            }
        }
        for c in &mut counties {
            c.townships.sort_by(|a, b| a.code.cmp(&b.code));
            for t in &mut c.townships {
                t.communities.sort_by(|a, b| a.code.cmp(&b.code));
            }
        }
        Ok(Divisions { counties, by_code })
    }

    /// Every county, in file order.
    #[cfg(test)]
    pub(crate) fn counties(&self) -> &[County] {
        &self.counties
    }

    /// The county with this 6-digit code or official name (渝北区).
    pub(crate) fn county(&self, code_or_name: &str) -> Option<&County> {
        let key = code_or_name.trim();
        self.by_code.get(key).map(|&i| &self.counties[i]).or_else(|| self.counties.iter().find(|c| c.name == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_has_every_level_of_chongqing() {
        let d = Divisions::embedded().expect("parses");
        assert_eq!(d.counties().len(), 38);
        let townships: usize = d.counties().iter().map(|c| c.townships.len()).sum();
        assert_eq!(townships, 1031);
        let communities: Vec<&Community> =
            d.counties().iter().flat_map(|c| &c.townships).flat_map(|t| &t.communities).collect();
        assert_eq!(communities.len(), 11_270);
        let urban_townships = d.counties().iter().flat_map(|c| &c.townships).filter(|t| t.urban).count();
        assert_eq!(urban_townships, 245);
        let urban = communities.iter().filter(|c| c.urban).count();
        assert!((3_345..3_400).contains(&urban), "{urban}");
    }

    #[test]
    fn counties_are_found_by_code_or_name_with_their_centroid() {
        let d = Divisions::embedded().expect("parses");
        let yubei = d.county("渝北区").expect("by name");
        assert_eq!(yubei.code, "500112");
        assert_eq!(d.county("500112").map(|c| &c.name), Some(&"渝北区".to_string()));
        assert!((yubei.lon - 106.631187).abs() < 1e-9 && (yubei.lat - 29.718142).abs() < 1e-9);
        let shuanglonghu = yubei.townships.iter().find(|t| t.code == "500112002").expect("双龙湖街道");
        assert!(shuanglonghu.urban);
        let yufengshan = yubei.townships.iter().find(|t| t.code == "500112129").expect("玉峰山镇");
        assert!(!yufengshan.urban);
        let village = &yufengshan.communities[1];
        assert_eq!(village.short_name(), "中心村");
        assert!(!village.urban);
        assert_eq!(yufengshan.communities[0].short_name(), "石坪社区");
        assert!(yufengshan.communities[0].urban);
        assert!(d.county("500999").is_none());
    }

    #[test]
    fn a_malformed_row_names_its_line() {
        let err =
            Divisions::parse("code,name,level,parent,lon,lat\n500112,渝北区,county,500000,x,1\n").expect_err("bad");
        assert!(err.to_string().starts_with("divisions data line 2: lon"), "{err}");
        let err = Divisions::parse("h\n500112001,X街道,township,500112,,\n").expect_err("bad");
        assert!(err.to_string().contains("unknown county"), "{err}");
    }
}
