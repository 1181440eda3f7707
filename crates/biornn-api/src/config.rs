//! Configs resolved by what they build.

use biornn_dendritic::EliseRunConfig;
use biornn_numerics::{Error, Result};
use biornn_r2n2::R2n2RunConfig;
use biornn_reservoir::{CtrnnForceRunConfig, ForceRunConfig, RfloRunConfig};
use biornn_train::longterm::LongTermConfig;
use biornn_train::reversal::ReversalConfig;
use biornn_train::RunConfig;
use biornn_vision::multiarea::MultiAreaRunConfig;
use biornn_vision::CordsNetRunConfig;
use std::path::Path;

/// The systems a config can build, by `([network] kind, [rule] kind)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ctrnn` trained by `bptt` (the default when a config names neither)
    CtrnnBptt,
    /// `ctrnn` trained by `rflo` (Murray's local credit in place of BPTT's, on the same batches)
    CtrnnRflo,
    /// `reservoir` trained by `rls`
    ReservoirRls,
    /// `ctrnn` trained by `rls` (FORCE on the CTRNN: its readout fed back, RLS on it, never reset)
    CtrnnForce,
    /// `r2n2` (the reversible network) trained by `r2n2` (BPTT during backward replay)
    R2n2Replay,
    /// `leaky_rnn` trained by `rflo` (Murray's random-feedback local online learning)
    LeakyRnnRflo,
    /// `leaky_rnn` trained by `esn`: recurrent weights frozen (the R2N2 comparison's reservoir)
    LeakyRnnEsn,
    /// `elise` (two-compartment neurons with a scaffold) trained by `urbanczik_senn`
    EliseUrbanczikSenn,
    /// `cordsnet` (convolutional areas, continuous time) trained by `bptt`
    CordsNetBptt,
    /// `cordsnet` trained by `inverse`: stage 2 of the staged training (a trained compatibility
    /// CNN folded in, the recurrent convs fitted to it)
    CordsNetInverse,
    /// `multiarea` (a CordsNet front end, frozen or fine-tuned, feeding a CTRNN) trained by `bptt`
    MultiAreaBptt,
    /// `protocol = "longterm"`: K CTRNNs trained by BPTT in rounds with skip connections through
    /// time, to a trimmed-mean criterion (the skip-connection paper's delayed tasks)
    LongTerm,
    /// `protocol = "reversal"`: the same on the closed-loop rule-reversal task, to a budget
    Reversal,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::CtrnnBptt,
        Kind::CtrnnRflo,
        Kind::ReservoirRls,
        Kind::CtrnnForce,
        Kind::R2n2Replay,
        Kind::LeakyRnnRflo,
        Kind::LeakyRnnEsn,
        Kind::EliseUrbanczikSenn,
        Kind::CordsNetBptt,
        Kind::CordsNetInverse,
        Kind::MultiAreaBptt,
    ];

    /// The kinds `biornn config --kind` (and Python's `default_config`) show, by name.
    pub const BY_NAME: [(&'static str, Kind); 10] = [
        ("ctrnn", Kind::CtrnnBptt),
        ("reservoir", Kind::ReservoirRls),
        ("r2n2", Kind::R2n2Replay),
        ("rflo", Kind::LeakyRnnRflo),
        ("esn", Kind::LeakyRnnEsn),
        ("ctrnn_rflo", Kind::CtrnnRflo),
        ("ctrnn_force", Kind::CtrnnForce),
        ("elise", Kind::EliseUrbanczikSenn),
        ("cordsnet", Kind::CordsNetBptt),
        ("multiarea", Kind::MultiAreaBptt),
    ];

    /// The kind `biornn config --kind NAME` means.
    pub fn by_name(name: &str) -> Result<Kind> {
        Self::BY_NAME
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::BY_NAME.iter().map(|(n, _)| *n).collect();
                Error::invalid("kind", name, &format!("allowed: {}", names.join(", ")))
            })
    }

    /// `(network kind, rule kind)`
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::CtrnnBptt => ("ctrnn", "bptt"),
            Kind::CtrnnRflo => ("ctrnn", "rflo"),
            Kind::ReservoirRls => ("reservoir", "rls"),
            Kind::CtrnnForce => ("ctrnn", "rls"),
            Kind::R2n2Replay => ("r2n2", "r2n2"),
            Kind::LeakyRnnRflo => ("leaky_rnn", "rflo"),
            Kind::LeakyRnnEsn => ("leaky_rnn", "esn"),
            Kind::EliseUrbanczikSenn => ("elise", "urbanczik_senn"),
            Kind::CordsNetBptt => ("cordsnet", "bptt"),
            Kind::CordsNetInverse => ("cordsnet", "inverse"),
            Kind::MultiAreaBptt => ("multiarea", "bptt"),
            Kind::LongTerm | Kind::Reversal => ("ctrnn", "bptt"),
        }
    }

    /// The kind a config's text names; a config that names none is a CTRNN trained by BPTT, so
    /// configs written before kinds existed keep their meaning.
    pub fn of_toml(text: &str) -> Result<Kind> {
        let value: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::new(e.to_string()))?;
        let kind_of = |section: &str, default: &'static str| -> Result<String> {
            match value.get(section).and_then(|s| s.get("kind")) {
                None => Ok(default.to_string()),
                Some(toml::Value::String(s)) => Ok(s.clone()),
                Some(v) => Err(Error::invalid(
                    &format!("{section}.kind"),
                    v,
                    "allowed: a string",
                )),
            }
        };
        match value.get("protocol") {
            None => {}
            Some(toml::Value::String(p)) if p == "longterm" => return Ok(Kind::LongTerm),
            Some(toml::Value::String(p)) if p == "reversal" => return Ok(Kind::Reversal),
            Some(v) => {
                return Err(Error::invalid(
                    "protocol",
                    v,
                    "allowed: \"longterm\", \"reversal\" (or no protocol: one network trained as [train] says)",
                ))
            }
        }
        let network = kind_of("network", "ctrnn")?;
        let rule = kind_of(
            "rule",
            match network.as_str() {
                "reservoir" => "rls",
                "r2n2" => "r2n2",
                "leaky_rnn" => "rflo",
                "elise" => "urbanczik_senn",
                _ => "bptt",
            },
        )?;
        // FORCE is RLS on a fed-back readout: either name selects it
        let rule = if rule == "force" {
            "rls".to_string()
        } else {
            rule
        };
        if let Some(k) = Kind::ALL
            .iter()
            .find(|k| k.names() == (network.as_str(), rule.as_str()))
        {
            return Ok(*k);
        }
        let mut networks: Vec<&str> = vec![];
        for k in Kind::ALL {
            if !networks.contains(&k.names().0) {
                networks.push(k.names().0);
            }
        }
        if !networks.contains(&network.as_str()) {
            return Err(Error::invalid(
                "network.kind",
                format!("\"{network}\""),
                &format!("allowed: {}", networks.join(", ")),
            ));
        }
        let rules: Vec<&str> = Kind::ALL
            .iter()
            .filter(|k| k.names().0 == network)
            .map(|k| k.names().1)
            .collect();
        Err(Error::invalid(
            "rule.kind",
            format!("\"{rule}\""),
            &format!(
                "allowed with network.kind = \"{network}\": {}",
                rules.join(", ")
            ),
        ))
    }
}

/// A config resolved into the settings of the system it builds.
// made once per run: the size of its largest variant costs nothing worth a box
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Config {
    Bptt(RunConfig),
    Force(ForceRunConfig),
    /// FORCE on the CTRNN
    CtrnnForce(CtrnnForceRunConfig),
    R2n2(R2n2RunConfig),
    /// a leaky RNN trained by RFLO or as an echo-state network
    Rflo(RfloRunConfig),
    /// ELiSe: two-compartment neurons trained by the Urbanczik-Senn rule
    Elise(EliseRunConfig),
    /// CordsNet: convolutional areas trained by BPTT on images
    CordsNet(CordsNetRunConfig),
    /// a CordsNet front end feeding a CTRNN, on a cognitive task with images
    MultiArea(MultiAreaRunConfig),
    LongTerm(LongTermConfig),
    Reversal(ReversalConfig),
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::new(e.to_string()))
}

impl Default for Config {
    fn default() -> Self {
        Config::Bptt(RunConfig::default())
    }
}

impl Config {
    /// Parse and check TOML text.
    pub fn from_toml(text: &str) -> Result<Config> {
        let cfg = match Kind::of_toml(text)? {
            Kind::CtrnnBptt | Kind::CtrnnRflo => Config::Bptt(RunConfig::from_toml(text)?),
            Kind::ReservoirRls => Config::Force(ForceRunConfig::from_toml(text)?),
            Kind::CtrnnForce => Config::CtrnnForce(CtrnnForceRunConfig::from_toml(text)?),
            Kind::R2n2Replay => Config::R2n2(R2n2RunConfig::from_toml(text)?),
            Kind::LeakyRnnRflo | Kind::LeakyRnnEsn => Config::Rflo(RfloRunConfig::from_toml(text)?),
            Kind::EliseUrbanczikSenn => Config::Elise(EliseRunConfig::from_toml(text)?),
            Kind::CordsNetBptt | Kind::CordsNetInverse => {
                Config::CordsNet(CordsNetRunConfig::from_toml(text)?)
            }
            Kind::MultiAreaBptt => Config::MultiArea(MultiAreaRunConfig::from_toml(text)?),
            Kind::LongTerm => Config::LongTerm(parse(text)?),
            Kind::Reversal => Config::Reversal(parse(text)?),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        Config::from_toml(&text).map_err(|e| e.context(path.display()))
    }

    /// The commented default config of a kind (what `biornn config` prints).
    pub fn default_toml(kind: Kind) -> &'static str {
        match kind {
            Kind::CtrnnBptt => biornn_train::config::DEFAULT_CONFIG_TOML,
            Kind::CtrnnRflo => biornn_train::config::DEFAULT_RFLO_CONFIG_TOML,
            Kind::ReservoirRls => biornn_reservoir::DEFAULT_FORCE_TOML,
            Kind::CtrnnForce => biornn_reservoir::DEFAULT_CTRNN_FORCE_TOML,
            Kind::R2n2Replay => biornn_r2n2::DEFAULT_R2N2_TOML,
            Kind::LeakyRnnRflo => biornn_reservoir::DEFAULT_RFLO_TOML,
            Kind::LeakyRnnEsn => biornn_reservoir::DEFAULT_ESN_TOML,
            Kind::EliseUrbanczikSenn => biornn_dendritic::DEFAULT_ELISE_TOML,
            Kind::CordsNetBptt | Kind::CordsNetInverse => biornn_vision::DEFAULT_CORDSNET_TOML,
            Kind::MultiAreaBptt => biornn_vision::multiarea::DEFAULT_MULTIAREA_TOML,
            Kind::LongTerm | Kind::Reversal => "",
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Config::Bptt(c) if c.rule.kind == "rflo" => Kind::CtrnnRflo,
            Config::Bptt(_) => Kind::CtrnnBptt,
            Config::Force(_) => Kind::ReservoirRls,
            Config::CtrnnForce(_) => Kind::CtrnnForce,
            Config::R2n2(_) => Kind::R2n2Replay,
            Config::Rflo(c) if c.rule.kind == "esn" => Kind::LeakyRnnEsn,
            Config::Rflo(_) => Kind::LeakyRnnRflo,
            Config::Elise(_) => Kind::EliseUrbanczikSenn,
            Config::CordsNet(c) if c.rule.kind == "inverse" => Kind::CordsNetInverse,
            Config::CordsNet(_) => Kind::CordsNetBptt,
            Config::MultiArea(_) => Kind::MultiAreaBptt,
            Config::LongTerm(_) => Kind::LongTerm,
            Config::Reversal(_) => Kind::Reversal,
        }
    }

    pub fn to_toml(&self) -> String {
        match self {
            Config::Bptt(c) => c.to_toml(),
            Config::Force(c) => c.to_toml(),
            Config::CtrnnForce(c) => c.to_toml(),
            Config::R2n2(c) => c.to_toml(),
            Config::Rflo(c) => c.to_toml(),
            Config::Elise(c) => c.to_toml(),
            Config::CordsNet(c) => c.to_toml(),
            Config::MultiArea(c) => c.to_toml(),
            Config::LongTerm(c) => toml::to_string(c).expect("a config serialises"),
            Config::Reversal(c) => toml::to_string(c).expect("a config serialises"),
        }
    }

    pub fn validate(&self) -> Result<()> {
        match self {
            Config::Bptt(c) => c.validate(),
            Config::Force(c) => c.validate(),
            Config::CtrnnForce(c) => c.validate(),
            Config::R2n2(c) => c.validate(),
            Config::Rflo(c) => c.validate(),
            Config::Elise(c) => c.validate(),
            Config::CordsNet(c) => c.validate(),
            Config::MultiArea(c) => c.validate(),
            Config::LongTerm(c) => c.validate(),
            Config::Reversal(c) => c.validate(),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Config::Bptt(c) => c.name.clone(),
            Config::Force(c) => c.name.clone(),
            Config::CtrnnForce(c) => c.name.clone(),
            Config::R2n2(c) => c.name.clone(),
            Config::Rflo(c) => c.name.clone(),
            Config::Elise(c) => c.name.clone(),
            Config::CordsNet(c) => c.name.clone(),
            Config::MultiArea(c) => c.name.clone(),
            Config::LongTerm(c) => format!("{}-{}", c.task.name(), c.method.name()),
            Config::Reversal(c) => format!("reversal-{}", c.name()),
        }
    }

    pub fn seed(&self) -> u64 {
        match self {
            Config::Bptt(c) => c.seed,
            Config::Force(c) => c.seed,
            Config::CtrnnForce(c) => c.seed,
            Config::R2n2(c) => c.seed,
            Config::Rflo(c) => c.seed,
            Config::Elise(c) => c.seed,
            Config::CordsNet(c) => c.seed,
            Config::MultiArea(c) => c.seed,
            Config::LongTerm(c) => c.seed,
            Config::Reversal(c) => c.seed,
        }
    }

    pub fn set_name(&mut self, name: &str) {
        match self {
            Config::Bptt(c) => c.name = name.to_string(),
            Config::Force(c) => c.name = name.to_string(),
            Config::CtrnnForce(c) => c.name = name.to_string(),
            Config::R2n2(c) => c.name = name.to_string(),
            Config::Rflo(c) => c.name = name.to_string(),
            Config::Elise(c) => c.name = name.to_string(),
            Config::CordsNet(c) => c.name = name.to_string(),
            Config::MultiArea(c) => c.name = name.to_string(),
            // named by task and method
            Config::LongTerm(_) | Config::Reversal(_) => {}
        }
    }

    pub fn set_seed(&mut self, seed: u64) {
        match self {
            Config::Bptt(c) => c.seed = seed,
            Config::Force(c) => c.seed = seed,
            Config::CtrnnForce(c) => c.seed = seed,
            Config::R2n2(c) => c.seed = seed,
            Config::Rflo(c) => c.seed = seed,
            Config::Elise(c) => c.seed = seed,
            Config::CordsNet(c) => c.seed = seed,
            Config::MultiArea(c) => c.seed = seed,
            Config::LongTerm(c) => c.seed = seed,
            Config::Reversal(c) => c.seed = seed,
        }
    }

    /// The budget in updates (in rounds for the rounds protocols).
    pub fn max_steps(&self) -> usize {
        match self {
            Config::Bptt(c) => c.train.max_steps,
            Config::Force(c) => c.train.max_steps,
            Config::CtrnnForce(c) => c.train.max_steps,
            Config::R2n2(c) => c.train.max_steps,
            Config::Rflo(c) => c.train.max_steps,
            Config::Elise(c) => c.train.max_steps,
            Config::CordsNet(c) => c.train.max_steps,
            Config::MultiArea(c) => c.train.max_steps,
            Config::LongTerm(c) => c.max_rounds,
            Config::Reversal(c) => c.rounds,
        }
    }

    /// What `other` sets differently from this config, the budget, the checkpoint interval and
    /// the run's name aside (none changes what is trained), one `key: this, other` line per setting (dotted
    /// keys for tables); empty when they describe the same run.
    pub fn differences(&self, other: &Config) -> Vec<String> {
        let mut other = other.clone();
        if other.set_max_steps(self.max_steps()).is_err() {
            return vec!["the budget cannot be compared".into()];
        }
        let table = |c: &Config| toml::from_str::<toml::Table>(&c.to_toml()).unwrap_or_default();
        let mut out = vec![];
        diff_tables("", &table(self), &table(&other), &mut out);
        out
    }

    /// A new budget (`--max-steps`): at least one update and at most what a TOML integer holds
    /// (the run's config.toml records it).
    pub fn set_max_steps(&mut self, steps: usize) -> Result<()> {
        check_max_steps(steps)?;
        match self {
            Config::Bptt(c) => c.train.max_steps = steps,
            Config::Force(c) => c.train.max_steps = steps,
            Config::CtrnnForce(c) => c.train.max_steps = steps,
            Config::R2n2(c) => c.train.max_steps = steps,
            Config::Rflo(c) => c.train.max_steps = steps,
            Config::Elise(c) => c.train.max_steps = steps,
            Config::CordsNet(c) => c.train.max_steps = steps,
            Config::MultiArea(c) => c.train.max_steps = steps,
            Config::LongTerm(c) => c.max_rounds = steps,
            Config::Reversal(c) => c.rounds = steps,
        }
        Ok(())
    }

    /// The fraction of the CTRNN's recurrent weights its mask lets be nonzero (its seed draws a
    /// probabilistic mask); `None` for the systems without one.
    pub fn recurrent_density(&self) -> Result<Option<f64>> {
        let Config::Bptt(c) = self else {
            return Ok(None);
        };
        let (n_in, n_out) = c.task.sizes()?;
        let net = biornn_model::Ctrnn::<f32>::new(
            &c.model,
            n_in,
            n_out,
            c.task.dt,
            &biornn_numerics::Streams::new(c.seed),
        )?;
        let mask: Vec<f64> = net.mask_rec.iter().map(|v| *v as f64).collect();
        Ok(Some(biornn_model::mask::density(&mask)))
    }

    /// One line on what the config builds, e.g. `6 tasks, 128 units, dt 20 ms`.
    pub fn describe(&self) -> Result<String> {
        Ok(match self {
            Config::Bptt(c) => {
                let density = self.recurrent_density()?.unwrap_or(1.0);
                let sparse = if density < 1.0 {
                    format!(" (recurrent density {:.2}%)", 100.0 * density)
                } else {
                    String::new()
                };
                format!(
                    "ctrnn trained by {}: {} tasks of {}, {} units{sparse}, dt {} ms",
                    c.rule.kind,
                    c.task.task_names()?.len(),
                    c.task.battery,
                    c.model.n_rec,
                    c.task.dt
                )
            }
            Config::Force(c) => format!(
                "reservoir trained by rls: {} units, target {} ({} steps a period)",
                c.network.n_rec, c.task.kind, c.task.period_steps
            ),
            Config::CtrnnForce(c) => format!(
                "ctrnn trained by rls (force): {} units, target {} ({} steps a period)",
                c.model.n_rec, c.task.kind, c.task.period_steps
            ),
            Config::R2n2(c) => format!(
                "r2n2 trained by replay ({}{}): 2 x {} units, {}",
                match c.rule.feedback {
                    biornn_r2n2::Feedback::Bp => "bp",
                    biornn_r2n2::Feedback::Fa => "fa",
                },
                match (c.rule.code_parity, c.network.precision) {
                    (true, biornn_r2n2::Precision::F32) => ", code parity, f32",
                    (true, _) => ", code parity",
                    (false, biornn_r2n2::Precision::F32) => ", f32",
                    (false, _) => "",
                },
                c.network.n_hidden,
                c.task.describe()
            ),
            Config::Rflo(c) => format!(
                "leaky rnn trained by {}: {} units, {}",
                c.rule.kind,
                c.network.n_rec,
                c.task.describe()
            ),
            Config::Elise(c) => {
                let p = c.pattern()?;
                format!(
                    "elise trained by urbanczik_senn ({:?}): {} visible and {} latent neurons, pattern {} ({} steps of {} ms)",
                    c.network.mode, p.neurons, c.network.n_latent, p.name, p.steps, c.task.step_ms
                )
            }
            Config::CordsNet(c) if c.network.form == "cnn" => format!(
                "the compatibility CNN of cordsnet R{} trained by backpropagation: widths {:?} on {} ({})",
                c.network.depth,
                &c.network.widths[..c.network.depth.div_ceil(2)],
                c.task.dataset,
                c.task.path.display(),
            ),
            Config::CordsNet(c) if c.rule.kind == "inverse" => format!(
                "cordsnet R{} trained by inverse (stage 2): the compatibility CNN {} folded in, each area's recurrent conv fitted to it; widths {:?} on {} ({})",
                c.network.depth,
                c.network.from,
                &c.network.widths[..c.network.depth.div_ceil(2)],
                c.task.dataset,
                c.task.path.display(),
            ),
            Config::CordsNet(c) => format!(
                "cordsnet R{} trained by bptt: widths {:?}, {} on {}, {} + {} + {} steps",
                c.network.depth,
                &c.network.widths[..c.network.depth.div_ceil(2)],
                match c.rule.anneal_levels {
                    0 => c.network.activation.clone(),
                    k => format!("prelu annealed to relu in {k} levels"),
                },
                match c.task.dataset.as_str() {
                    "dots" => format!(
                        "random-dot movies (coherences {:?}, a frame per stimulus step)",
                        c.task.coherences
                    ),
                    d => format!("{d} ({})", c.task.path.display()),
                },
                c.task.spontaneous_steps,
                c.task.stimulus_steps,
                c.task.offset_steps
            ),
            Config::MultiArea(c) => format!(
                "multiarea trained by bptt: the CordsNet front end {} ({}) feeding a ctrnn of {} units, {}",
                c.front_end.model.display(),
                if c.front_end.fine_tune {
                    "fine-tuned"
                } else {
                    "frozen"
                },
                c.model.n_rec,
                if c.task.kind == "dots" {
                    "random-dot motion".to_string()
                } else {
                    format!("delayed match-to-category on {}", c.task.path.display())
                }
            ),
            Config::LongTerm(c) => format!(
                "{} ctrnns on {} with {}, in rounds to a trimmed mean of {}",
                c.networks,
                c.task.name(),
                c.method.name(),
                c.criterion
            ),
            Config::Reversal(c) => format!(
                "{} ctrnns on rule reversal with {}, {} rounds",
                c.networks,
                c.name(),
                c.rounds
            ),
        })
    }
}

/// A budget of updates given on the command line or from Python: 1 to `i64::MAX` (TOML's largest
/// integer, as the run's config.toml keeps it).
pub fn check_max_steps(steps: usize) -> Result<()> {
    if steps == 0 || steps as u128 > i64::MAX as u128 {
        return Err(Error::invalid(
            "--max-steps",
            steps,
            &format!("allowed: 1 to {}", i64::MAX),
        ));
    }
    Ok(())
}

/// The settings `a` and `b` give differently, as `key: a's value, b's value` (`unset` where one
/// lacks the key), keys dotted below `prefix`; `checkpoint_every` and the run's `name` are skipped.
fn diff_tables(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        // neither changes what is trained
        if key == "checkpoint_every" || (prefix.is_empty() && key == "name") {
            continue;
        }
        let name = format!("{prefix}{key}");
        match (a.get(key), b.get(key)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                diff_tables(&format!("{name}."), x, y, out)
            }
            (x, y) if x != y => {
                let shown = |v: Option<&toml::Value>| v.map_or("unset".into(), |v| v.to_string());
                out.push(format!("{name}: {}, {}", shown(x), shown(y)));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_resolve_with_defaults_and_clear_errors() {
        assert_eq!(Kind::of_toml("").unwrap(), Kind::CtrnnBptt);
        assert_eq!(
            Kind::of_toml("[model]\nn_rec = 8\n").unwrap(),
            Kind::CtrnnBptt
        );
        assert_eq!(
            Kind::of_toml("[network]\nkind = \"reservoir\"\n").unwrap(),
            Kind::ReservoirRls
        );
        let e = Kind::of_toml("[network]\nkind = \"lstm\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("network.kind")
                && e.contains("lstm")
                && e.contains("ctrnn, reservoir, r2n2, leaky_rnn"),
            "{e}"
        );
        let e = Kind::of_toml("[rule]\nkind = \"esn\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rule.kind") && e.contains("esn") && e.contains("bptt, rflo, rls"),
            "{e}"
        );
        // FORCE on the CTRNN, by either name of its rule
        for rule in ["rls", "force"] {
            let text = format!("[rule]\nkind = \"{rule}\"\n");
            assert_eq!(Kind::of_toml(&text).unwrap(), Kind::CtrnnForce);
        }
        for k in Kind::ALL {
            let c = Config::from_toml(Config::default_toml(k)).unwrap();
            // stage 2 of CordsNet's staged training needs a trained CNN to start from: its
            // default is CordsNet's, whose comments say how to turn it into one
            let want = match k {
                Kind::CordsNetInverse => Kind::CordsNetBptt,
                k => k,
            };
            assert_eq!(c.kind(), want);
            assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
        }
    }

    #[test]
    fn protocol_configs_round_trip_and_bad_values_are_named() {
        use biornn_tasks::temporalskip::TsRule;
        use biornn_train::longterm::Method;
        let lt = Config::LongTerm(LongTermConfig::reference(
            TsRule::DlyGo,
            Method::parse("dasc-t40-s2-b0.5").unwrap(),
            3,
        ));
        let text = lt.to_toml();
        assert_eq!(Config::from_toml(&text).unwrap(), lt);
        for (from, to, field) in [
            ("batch = 20", "batch = 0", "batch"),
            ("eval_trials = 200", "eval_trials = 0", "eval_trials"),
            ("dt = 5.0", "dt = 0.0", "dt"),
            ("dt = 5.0", "dt = 1e-300", "dt"),
            ("criterion = 0.99", "criterion = nan", "criterion"),
            (
                "updates_per_round = 10",
                "updates_per_round = 0",
                "updates_per_round",
            ),
            ("task = \"dlygo\"", "task = \"dlygoo\"", "task"),
            (
                "method = \"dasc-t40-s2-b0.5\"",
                "method = \"dasc\"",
                "method",
            ),
        ] {
            assert!(text.contains(from), "{from} not in {text}");
            let e = Config::from_toml(&text.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{to}: {e}");
        }
        let rv = Config::Reversal(ReversalConfig::reference(Method::Base, true, 2));
        assert_eq!(Config::from_toml(&rv.to_toml()).unwrap(), rv);
        // seeds past what TOML holds are refused before anything is written
        let mut big = Config::default();
        big.set_seed(u64::MAX);
        assert!(big.validate().unwrap_err().to_string().contains("seed"));
    }

    #[test]
    fn differences_name_nested_settings_but_not_the_budget() {
        let run = Config::default();
        let mut asked = run.clone();
        asked.set_max_steps(run.max_steps() + 100).unwrap();
        assert!(run.differences(&asked).is_empty());
        let Config::Bptt(c) = &mut asked else {
            unreachable!()
        };
        c.model.n_rec = 17;
        c.train.checkpoint_every += 1;
        let n = run.max_steps();
        let Config::Bptt(c) = &run else {
            unreachable!()
        };
        assert_eq!(
            run.differences(&asked),
            [format!("model.n_rec: {}, 17", c.model.n_rec)],
            "budget {n} and checkpoint interval aside"
        );
        let other = Config::Reversal(ReversalConfig::reference(
            biornn_train::longterm::Method::Base,
            true,
            2,
        ));
        assert!(run.differences(&other).len() > 3);
    }
}
