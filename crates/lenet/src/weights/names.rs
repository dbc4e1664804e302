//! Tensor names: a built-in table of the names other programs give this network's layers, and
//! the user's own rules (`--remap FROM=TO`), applied to a file's tensors by burn-store's
//! `KeyRemapper` before they meet the network.

use std::fmt;

use burn::store::KeyRemapper;
use burn::store::burn_pack::Tensor as PackTensor;

/// The names other programs use for this network's layers, mapped to ours: PyTorch ports
/// (`conv1`, `conv2`, `fc1`, `nn.DataParallel`'s `module.`), burn's own examples and most
/// LeNets written with burn (`conv1`, `conv2`, `fc1`, `linear`, `output`; their pooling layers
/// have no tensors), and the `net.` prefix of this project's per-epoch checkpoints (they hold
/// the learner's [`TrainingModel`](crate::train::TrainingModel)).
pub const BUILT_IN: [(&str, &str); 6] = [
    (r"^module\.", ""),
    (r"^model\.", ""),
    (r"^net\.", ""),
    (r"^conv_?1\.", "c1."),
    (r"^conv_?2\.", "c3."),
    (r"^(fc_?1|linear_?1|linear|output|out)\.", "fc."),
];

/// Renaming rules: the user's, then the built-in table.
#[derive(Debug, Clone, Default)]
pub struct Names {
    user: Vec<(regex::Regex, String)>,
}

impl Names {
    /// The built-in table plus `rules` (`FROM=TO`, `FROM` a regular expression matched against
    /// the file's tensor names, `TO` its replacement, `$1` for groups), which apply first.
    pub fn with_rules(rules: &[String]) -> Result<Self, String> {
        let user = rules
            .iter()
            .map(|rule| {
                let (from, to) = rule
                    .split_once('=')
                    .ok_or_else(|| format!("--remap {rule:?}: expected FROM=TO"))?;
                let from = regex::Regex::new(from)
                    .map_err(|e| format!("--remap {rule:?}: not a regular expression: {e}"))?;
                Ok((from, to.to_string()))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { user })
    }

    /// The rules, the user's first, as `(pattern, replacement)`.
    pub fn rules(&self) -> Vec<(String, String)> {
        self.user
            .iter()
            .map(|(from, to)| (from.as_str().to_string(), to.clone()))
            .chain(BUILT_IN.iter().map(|(f, t)| (f.to_string(), t.to_string())))
            .collect()
    }

    /// `tensors` renamed: every rule, in order, rewrites the names it matches.
    pub fn apply(&self, tensors: Vec<PackTensor>) -> Vec<PackTensor> {
        let remapper = KeyRemapper::from_patterns(self.rules())
            .expect("the rules are valid regular expressions");
        remapper.remap(tensors).0
    }

    /// `name` renamed (what [`Self::apply`] does to a tensor of that name).
    pub fn rename(&self, name: &str) -> String {
        self.rules()
            .iter()
            .fold(name.to_string(), |name, (from, to)| {
                regex::Regex::new(from)
                    .expect("valid rules")
                    .replace(&name, to.as_str())
                    .into_owned()
            })
    }
}

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self
            .rules()
            .iter()
            .map(|(from, to)| format!("{from} → {to:?}"))
            .collect();
        f.write_str(&rules.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_programs_names_become_ours() {
        let names = Names::default();
        for (theirs, ours) in [
            ("conv1.weight", "c1.weight"),
            ("conv2.bias", "c3.bias"),
            ("fc1.weight", "fc.weight"),
            ("module.conv1.weight", "c1.weight"),
            ("net.c3.weight", "c3.weight"),
            ("linear.bias", "fc.bias"),
            ("c1.weight", "c1.weight"),
        ] {
            assert_eq!(names.rename(theirs), ours, "{theirs}");
        }
    }

    #[test]
    fn user_rules_come_first_and_bad_ones_are_refused() {
        let names = Names::with_rules(&["^features\\.0\\.=conv1.".into()]).unwrap();
        assert_eq!(names.rename("features.0.weight"), "c1.weight");
        assert!(
            Names::with_rules(&["no-equals".into()])
                .unwrap_err()
                .contains("FROM=TO")
        );
        assert!(
            Names::with_rules(&["(=x".into()])
                .unwrap_err()
                .contains("regular expression")
        );
    }
}
