//! The one definition of a setting: [`settings!`](crate::settings!) turns a list of settings, each written once
//! with its doc, type, default, flag and valid range, into
//!
//! - a configuration struct holding every value (serde: `config.json`; a field missing from a
//!   file written by an earlier version, or `null` there, takes its default), with `Default`,
//!   `new()` and `with_<name>(value)` builders, and `check_fields()`, which refuses a value out
//!   of its range naming the flag;
//! - an overrides struct holding each setting as an `Option` (given or not): clap flattens it
//!   into the command line (the doc is the flag's help), serde reads it from the studies' TOML
//!   tables (an unknown name is refused, naming it), and it applies onto a configuration,
//!   merges with other overrides and says which of its settings would change one.
//!
//! Adding a setting is one entry in one list (`crate::config` for the run, `crate::model` for
//! the network) plus the code that uses it. Hand-written because no crate derives a
//! configuration, its clap flags and its partial overrides from one list (clap's own derive
//! needs the defaults in the parser, which loses which flags were given); `paste` only joins
//! the builder names.

/// Which settings of a configuration a set of overrides gives, by field name; used across
/// nested configurations (the network's settings inside the run's).
pub trait Overrides: Default + Clone {
    /// The names of every setting, nested ones included.
    fn names() -> Vec<&'static str>;
    /// Sets the setting `name` from `value` (`null`: not given). `None` when `name` is not one
    /// of these settings; an error when the value does not fit its type.
    fn try_set(&mut self, name: &str, value: serde_json::Value) -> Option<Result<(), String>>;
    /// The given settings, by name, nested ones included.
    fn given(&self) -> serde_json::Map<String, serde_json::Value>;
}

/// The command-line flag of the setting `field` of overrides `O` (`learning_rate` → `lr`).
pub fn flag_of<O: clap::Args>(field: &str) -> String {
    O::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .find(|arg| arg.get_id() == field)
        .and_then(|arg| arg.get_long())
        .unwrap_or(field)
        .to_string()
}

/// Reads overrides from a table (TOML, JSON): every key must name a setting.
pub fn overrides_from_map<O: Overrides>(
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<O, String> {
    let mut overrides = O::default();
    for (name, value) in map {
        match overrides.try_set(&name, value) {
            Some(result) => result?,
            None => {
                return Err(format!(
                    "unknown setting `{name}`; the settings are {}",
                    O::names().join(", ")
                ));
            }
        }
    }
    Ok(overrides)
}

/// Every setting of a configuration by its name, as `config.json` holds them but with a nested
/// configuration's settings (the network's, under `model`) beside the others.
pub fn by_name(config: &impl serde::Serialize) -> serde_json::Map<String, serde_json::Value> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(config) else {
        unreachable!("a configuration serialises to an object")
    };
    map.into_iter()
        .flat_map(|(name, value)| match value {
            serde_json::Value::Object(nested) => nested.into_iter().collect::<Vec<_>>(),
            value => vec![(name, value)],
        })
        .collect()
}

/// A JSON object with its `null` values removed, recursively: what a field written as `null`
/// by an earlier version (when the setting was optional) becomes a missing one, which takes its
/// default.
pub fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The type a setting has in the configuration: `value` settings are always set, `optional`
/// ones may be absent.
#[doc(hidden)]
#[macro_export]
macro_rules! __setting_type {
    (value, $ty:ty) => { $ty };
    (optional, $ty:ty) => { Option<$ty> };
}

/// A given override as the configuration's value.
#[doc(hidden)]
#[macro_export]
macro_rules! __setting_value {
    (value, $v:expr) => {
        $v
    };
    (optional, $v:expr) => {
        Some($v)
    };
}

/// A setting's default in the configuration (`optional` ones: absent).
#[doc(hidden)]
#[macro_export]
macro_rules! __setting_default {
    (value $(, $default:expr)?) => { $($default)? };
    (optional $(, $default:expr)?) => { None };
}

/// Checks a setting's value against its range (an `optional` one only when present).
#[doc(hidden)]
#[macro_export]
macro_rules! __setting_check {
    (value, $overrides:ty, $name:ident, $value:expr, $check:expr, $expected:expr) => {
        if !($check)($value) {
            return Err(<$overrides>::invalid(stringify!($name), $value, $expected));
        }
    };
    (optional, $overrides:ty, $name:ident, $value:expr, $check:expr, $expected:expr) => {
        if let Some(value) = $value {
            $crate::__setting_check!(value, $overrides, $name, value, $check, $expected);
        }
    };
}

/// Defines a configuration and its overrides from one list of settings (see the module).
///
/// ```ignore
/// settings! {
///     /// The configuration's doc.
///     pub struct Config / ConfigOverrides {
///         nested model: ModelConfig / ModelOverrides;
///         /// Passes over the training split.
///         #[arg(long, value_name = "N")]
///         value epochs: usize = 10, valid(|v: &usize| *v >= 1, "at least 1");
///         /// Size of the random training subset (absent: the whole split).
///         #[arg(long, value_name = "N")]
///         optional train_size: usize;
///     }
/// }
/// ```
#[macro_export]
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub struct $config:ident / $overrides:ident {
            $( nested $nested:ident : $nconfig:ident / $noverrides:ident ; )*
            $(
                $(#[doc = $doc:literal])*
                #[arg($($arg:tt)*)]
                $kind:ident $name:ident : $ty:ty $(= $default:expr)?
                    $(, valid($check:expr, $expected:expr))? ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct $config {
            $( #[allow(missing_docs)] pub $nested: $nconfig, )*
            $( $(#[doc = $doc])* pub $name: $crate::__setting_type!($kind, $ty), )*
        }

        impl Default for $config {
            fn default() -> Self {
                Self {
                    $( $nested: <$nconfig>::default(), )*
                    $( $name: $crate::__setting_default!($kind $(, $default)?), )*
                }
            }
        }

        impl burn::config::Config for $config {}

        paste::paste! {
            impl $config {
                /// Every setting at its default.
                pub fn new() -> Self {
                    Self::default()
                }

                $(
                    #[doc = concat!("This configuration with `", stringify!($nested), "` replaced.")]
                    pub fn [<with_ $nested>](mut self, $nested: $nconfig) -> Self {
                        self.$nested = $nested;
                        self
                    }
                )*
                $(
                    #[doc = concat!("This configuration with `", stringify!($name), "` replaced.")]
                    pub fn [<with_ $name>](mut self, $name: $crate::__setting_type!($kind, $ty)) -> Self {
                        self.$name = $name;
                        self
                    }
                )*

                /// Refuses a value out of its setting's range, naming the flag and the range
                /// (nested configurations included).
                pub fn check_fields(&self) -> $crate::error::Result<()> {
                    $( self.$nested.check_fields()?; )*
                    $( $( $crate::__setting_check!($kind, $overrides, $name, &self.$name, $check, $expected); )? )*
                    Ok(())
                }
            }
        }

        #[doc = concat!("Every setting of [`", stringify!($config), "`], each optional: what a command line, a study's table or a resumed run changes in one. clap flattens it into the flags, serde reads it from the studies' tables.")]
        #[derive(clap::Args, Debug, Clone, Default, PartialEq)]
        pub struct $overrides {
            $( #[command(flatten)] #[allow(missing_docs)] pub $nested: $noverrides, )*
            $( $(#[doc = $doc])* #[arg($($arg)*)] pub $name: Option<$ty>, )*
        }

        impl $crate::settings::Overrides for $overrides {
            fn names() -> Vec<&'static str> {
                let mut names: Vec<&'static str> = Vec::new();
                $( names.extend(<$noverrides as $crate::settings::Overrides>::names()); )*
                names.extend([$(stringify!($name)),*]);
                names
            }

            fn try_set(
                &mut self,
                name: &str,
                value: serde_json::Value,
            ) -> Option<Result<(), String>> {
                $(
                    if name == stringify!($name) {
                        if value.is_null() {
                            return Some(Ok(()));
                        }
                        return Some(
                            serde_json::from_value(value)
                                .map(|v| self.$name = Some(v))
                                .map_err(|e| format!("{name}: {e}")),
                        );
                    }
                )*
                $(
                    if let Some(result) = self.$nested.try_set(name, value.clone()) {
                        return Some(result);
                    }
                )*
                None
            }

            fn given(&self) -> serde_json::Map<String, serde_json::Value> {
                let mut map = serde_json::Map::new();
                $( map.extend(self.$nested.given()); )*
                $(
                    if let Some(value) = &self.$name {
                        let value = serde_json::to_value(value).expect("a setting serialises");
                        map.insert(stringify!($name).to_string(), value);
                    }
                )*
                map
            }
        }

        impl $overrides {
            /// The error for a value of the setting `field` (a field name) out of its range,
            /// naming the setting by its flag.
            pub fn invalid(
                field: &str,
                value: impl ToString,
                expected: impl Into<String>,
            ) -> $crate::error::LenetError {
                assert!(
                    <Self as $crate::settings::Overrides>::names().contains(&field),
                    "{field} is not a setting"
                );
                $crate::error::LenetError::invalid(
                    $crate::settings::flag_of::<Self>(field),
                    value,
                    expected,
                )
            }

            /// Writes every setting given here into `config`.
            pub fn apply_to(&self, config: &mut $config) {
                $( self.$nested.apply_to(&mut config.$nested); )*
                $(
                    if let Some(value) = &self.$name {
                        config.$name = $crate::__setting_value!($kind, value.clone());
                    }
                )*
            }

            /// These settings with every one `other` gives replaced by `other`'s.
            pub fn then(&self, other: &Self) -> Self {
                Self {
                    $( $nested: self.$nested.then(&other.$nested), )*
                    $( $name: other.$name.clone().or_else(|| self.$name.clone()), )*
                }
            }

            /// The settings given here whose values differ from `config`'s, by field name.
            pub fn changes(&self, config: &$config) -> Vec<&'static str> {
                let mut names = Vec::new();
                $( names.extend(self.$nested.changes(&config.$nested)); )*
                $(
                    if let Some(value) = &self.$name
                        && config.$name != $crate::__setting_value!($kind, value.clone())
                    {
                        names.push(stringify!($name));
                    }
                )*
                names
            }
        }

        impl serde::Serialize for $overrides {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::settings::Overrides::given(self).serialize(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $overrides {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
                $crate::settings::overrides_from_map(map).map_err(serde::de::Error::custom)
            }
        }
    };
}
