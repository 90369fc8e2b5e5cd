//! Enums whose names are contract (wire, tag, metric label, stored column): one table per enum
//! gives its variants and their names, and everything else — `ALL`, `as_str`, `parse`, `Display`
//! and serde by name — follows from it, so a name is written in exactly one place.

/// Declares a fieldless enum from `Variant => "name"` pairs (see the module doc). The derives are
/// fixed: `Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord` (order = declaration order).
macro_rules! named_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in order.
            #[allow(dead_code)]
            $vis const ALL: &'static [$name] = &[$($name::$var),+];

            /// The name on the wire, in tags, labels and stored columns.
            $vis const fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            /// The value of a name.
            #[allow(dead_code)]
            $vis fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        serde_by_name!($name);
    };
}

/// Serde for a type with `as_str(self) -> &'static str` and `parse(&str) -> Option<Self>`: written
/// as its name, read back by name (an unknown name is an error that quotes it).
macro_rules! serde_by_name {
    ($name:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown {} `{s}`", stringify!($name))))
            }
        }
    };
}
