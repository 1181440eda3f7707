//! Tasks by name. A *battery* is a named family of tasks that share one layout of inputs and
//! outputs; a run's `[task]` section names its battery and its tasks, and the [`Registry`] builds
//! them. A battery may build its tasks from another battery's (ask the registry it is handed), which
//! is how a battery of modified tasks composes with the one it modifies.
//!
//! Only this module maps names to task types: the trainers, evaluation and analysis hold tasks as
//! `Arc<dyn Task>` and never match on a battery's enum.

use crate::config::{suggest, TaskConfig};
use crate::modcog::{ModCogTask, Variant};
use crate::temporalskip::{TsRule, TsTask};
use crate::yang::{YangRule, YangTask};
use crate::Task;
use biornn_numerics::{Error, Result};
use std::sync::Arc;

/// What a battery builds a task for: the run's `[task]` section and the names of every task the
/// run trains, in order (a task's one-hot input may depend on them, as Mod-Cog's does).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub cfg: &'a TaskConfig,
    pub names: &'a [String],
}

/// A named family of tasks with one input and output layout.
pub trait BatteryDef: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for listings: where the battery comes from and its channel layout.
    fn description(&self) -> String;
    /// Input channels when a run trains `n_tasks` of the battery's tasks.
    fn n_in(&self, n_tasks: usize) -> usize;
    fn n_out(&self) -> usize;
    /// Check the options of `cfg` that this battery reads (the step, its own section).
    fn validate(&self, _cfg: &TaskConfig) -> Result<()> {
        Ok(())
    }
    /// Every task name, in the battery's order.
    fn task_names(&self) -> Vec<String>;
    /// The task another name stands for (a reference's spelling), if any.
    fn alias(&self, _name: &str) -> Option<String> {
        None
    }
    /// Named subsets a config may give in place of a list (`["all"]`); `all` is always there.
    fn sets(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![]
    }
    /// The task called `name` for the run of `ctx`, or `None` when the battery has no such task.
    /// `registry` lets a battery build on another battery's tasks.
    fn build(&self, name: &str, ctx: &Context, registry: &Registry) -> Option<Arc<dyn Task>>;
}

/// The batteries a run can name.
pub struct Registry {
    batteries: Vec<Box<dyn BatteryDef>>,
}

impl Registry {
    /// No batteries at all (add them with [`Registry::register`]).
    pub fn empty() -> Self {
        Registry { batteries: vec![] }
    }

    /// The batteries biornn ships: `yang20`, `temporalskip`, `modcog`, `anbn` and `digits`.
    pub fn standard() -> Self {
        let mut r = Registry::empty();
        r.register(Box::new(Yang20));
        r.register(Box::new(TemporalSkip));
        r.register(Box::new(ModCog));
        r.register(Box::new(AnbnBattery));
        r.register(Box::new(DigitsBattery));
        r
    }

    /// Add a battery; one with the same name is replaced.
    pub fn register(&mut self, battery: Box<dyn BatteryDef>) {
        self.batteries.retain(|b| b.name() != battery.name());
        self.batteries.push(battery);
    }

    pub fn batteries(&self) -> impl Iterator<Item = &dyn BatteryDef> {
        self.batteries.iter().map(|b| b.as_ref())
    }

    /// The battery called `name`, or an error for `field` listing those that exist.
    pub fn battery(&self, field: &str, name: &str) -> Result<&dyn BatteryDef> {
        self.batteries().find(|b| b.name() == name).ok_or_else(|| {
            let known: Vec<&str> = self.batteries().map(|b| b.name()).collect();
            Error::invalid(
                field,
                format!("\"{name}\""),
                &format!(
                    "unknown battery{}; known: {}",
                    suggest(name, known.iter().copied()),
                    known.join(", ")
                ),
            )
        })
    }

    /// The task names a config's `rules` stand for: the list itself, or a named set given alone
    /// (`["all"]`). Errors name the entry that is unknown or repeated.
    pub fn task_names(&self, cfg: &TaskConfig) -> Result<Vec<String>> {
        let battery = self.battery("task.battery", &cfg.battery)?;
        let all = battery.task_names();
        if let [only] = cfg.rules.as_slice() {
            if only == "all" {
                return Ok(all);
            }
            if let Some((_, set)) = battery.sets().into_iter().find(|(n, _)| n == only) {
                return Ok(set);
            }
        }
        let mut out: Vec<String> = vec![];
        for (i, name) in cfg.rules.iter().enumerate() {
            let field = format!("task.rules[{i}]");
            let name = &battery.alias(name).unwrap_or_else(|| name.clone());
            if !all.contains(name) {
                return Err(unknown_task(&field, name, battery));
            }
            if out.contains(name) {
                return Err(Error::invalid(
                    &field,
                    format!("\"{name}\""),
                    "listed twice",
                ));
            }
            out.push(name.clone());
        }
        Ok(out)
    }

    /// Build the tasks a config names, in its order.
    pub fn tasks(&self, cfg: &TaskConfig) -> Result<Vec<Arc<dyn Task>>> {
        let names = self.task_names(cfg)?;
        names
            .iter()
            .map(|name| self.task(&cfg.battery, name, cfg))
            .collect()
    }

    /// The numbers of inputs and outputs of a config's tasks.
    pub fn sizes(&self, cfg: &TaskConfig) -> Result<(usize, usize)> {
        let b = self.battery("task.battery", &cfg.battery)?;
        Ok((b.n_in(self.task_names(cfg)?.len()), b.n_out()))
    }

    /// One task of a battery, with the options of `cfg`. When `cfg` trains that battery and names
    /// the task, the task is built for that run; otherwise for a run of the whole battery.
    pub fn task(&self, battery: &str, name: &str, cfg: &TaskConfig) -> Result<Arc<dyn Task>> {
        self.named_task("task", battery, name, cfg)
    }

    /// [`Registry::task`], with errors about the name given as the field `field`.
    pub fn named_task(
        &self,
        field: &str,
        battery: &str,
        name: &str,
        cfg: &TaskConfig,
    ) -> Result<Arc<dyn Task>> {
        let b = self.battery("task.battery", battery)?;
        let run_names = (cfg.battery == battery)
            .then(|| self.task_names(cfg).ok())
            .flatten()
            .filter(|names| names.iter().any(|n| n == name));
        let names = run_names.unwrap_or_else(|| b.task_names());
        let ctx = Context { cfg, names: &names };
        let Some(task) = b.build(name, &ctx, self) else {
            // a battery that cannot build a task it lists (its data missing) says why
            if b.task_names().iter().any(|n| n == name) {
                b.validate(cfg)?;
            }
            return Err(unknown_task(field, name, b));
        };
        let n_in = b.n_in(names.len());
        if (task.n_in(), task.n_out()) != (n_in, b.n_out()) {
            return Err(Error::invalid(
                field,
                format!("\"{name}\""),
                &format!(
                    "battery {} declares {} inputs and {} outputs but its task has {} and {}",
                    b.name(),
                    n_in,
                    b.n_out(),
                    task.n_in(),
                    task.n_out()
                ),
            ));
        }
        Ok(task)
    }
}

fn unknown_task(field: &str, name: &str, battery: &dyn BatteryDef) -> Error {
    let all = battery.task_names();
    let mut sets = vec!["all".to_string()];
    sets.extend(battery.sets().into_iter().map(|(n, _)| n.to_string()));
    Error::invalid(
        field,
        format!("\"{name}\""),
        &format!(
            "unknown task in battery {}{}; known: {} (or one set alone: {})",
            battery.name(),
            suggest(name, all.iter().map(|s| s.as_str())),
            all.join(", "),
            sets.join(", ")
        ),
    )
}

/// The 20 tasks of Yang et al. (2019), [`crate::yang`].
struct Yang20;

impl BatteryDef for Yang20 {
    fn name(&self) -> &'static str {
        "yang20"
    }
    fn description(&self) -> String {
        format!(
            "Yang et al. 2019: {} inputs (0 fixation, 1-32 ring 1, 33-64 ring 2, 65-84 rule), {} outputs (0 fixation, 1-32 ring)",
            crate::yang::N_INPUT,
            crate::yang::N_OUTPUT
        )
    }
    fn n_in(&self, _: usize) -> usize {
        crate::yang::N_INPUT
    }
    fn n_out(&self) -> usize {
        crate::yang::N_OUTPUT
    }
    fn task_names(&self) -> Vec<String> {
        YangRule::ALL.iter().map(|r| r.name().to_string()).collect()
    }
    fn build(&self, name: &str, ctx: &Context, _: &Registry) -> Option<Arc<dyn Task>> {
        let rule = YangRule::from_name(name)?;
        Some(Arc::new(YangTask {
            rule,
            easy: ctx.cfg.easy,
        }))
    }
}

/// The re-timed suite of Soo et al. (2023), [`crate::temporalskip`].
struct TemporalSkip;

impl BatteryDef for TemporalSkip {
    fn name(&self) -> &'static str {
        "temporalskip"
    }
    fn description(&self) -> String {
        format!(
            "Soo et al. 2023 (Yang's tasks re-timed for dt = 5 ms, a 1 s pre-trial, loss lsq_mean): {} inputs (0 fixation, 1-32 ring 1, 33-64 ring 2, 65-84 rule), {} outputs (0 fixation, 1-32 ring)",
            crate::temporalskip::N_INPUT,
            crate::temporalskip::N_OUTPUT
        )
    }
    fn n_in(&self, _: usize) -> usize {
        crate::temporalskip::N_INPUT
    }
    fn n_out(&self) -> usize {
        crate::temporalskip::N_OUTPUT
    }
    fn task_names(&self) -> Vec<String> {
        TsRule::ALL.iter().map(|r| r.name().to_string()).collect()
    }
    fn sets(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![(
            "trained",
            TsRule::TRAINED
                .iter()
                .map(|r| r.name().to_string())
                .collect(),
        )]
    }
    fn build(&self, name: &str, _: &Context, _: &Registry) -> Option<Arc<dyn Task>> {
        Some(Arc::new(TsTask::new(TsRule::from_name(name)?)))
    }
}

/// Mod-Cog, [`crate::modcog`]: 126 tasks; a run's one-hot input covers the tasks it trains.
struct ModCog;

impl BatteryDef for ModCog {
    fn name(&self) -> &'static str {
        "modcog"
    }
    fn description(&self) -> String {
        format!(
            "Khona et al. 2023, mikailkhona/Mod_Cog: {} + n inputs (0 fixation, 1-16 ring 1, 17-32 ring 2, then the one-hot of the run's n tasks), {} outputs (classes: 0 fixate, k + 1 ring unit k)",
            crate::modcog::N_OBS,
            crate::modcog::N_ACTIONS
        )
    }
    fn n_in(&self, n_tasks: usize) -> usize {
        crate::modcog::N_OBS + n_tasks
    }
    fn n_out(&self) -> usize {
        crate::modcog::N_ACTIONS
    }
    fn validate(&self, cfg: &TaskConfig) -> Result<()> {
        if !crate::modcog::dt_fits(cfg.dt) {
            return Err(Error::invalid(
                "task.dt",
                cfg.dt,
                "allowed for modcog: a step that divides 100 ms (100, 50, 25, 20, 10, 5, ...)",
            ));
        }
        let options = &cfg.modcog;
        if options.faithful_shared_seed && options.ring_order != crate::modcog::RingOrder::Alternate
        {
            return Err(Error::invalid(
                "task.modcog.ring_order",
                "random",
                "allowed with faithful_shared_seed = true: \"alternate\" (the copies it pairs take turns)",
            ));
        }
        Ok(())
    }
    fn task_names(&self) -> Vec<String> {
        Variant::all().iter().map(|v| v.name()).collect()
    }
    fn sets(&self) -> Vec<(&'static str, Vec<String>)> {
        let all = self.task_names();
        let pick = |f: &dyn Fn(&Variant) -> bool| -> Vec<String> {
            Variant::all()
                .iter()
                .filter(|v| f(v))
                .map(|v| v.name())
                .collect()
        };
        vec![
            ("modcog82", all[..82].to_vec()),
            ("modcog126", all),
            ("base", pick(&|v| v.int == 0 && v.seq == 0)),
            ("seq", pick(&|v| v.int == 0 && v.seq != 0)),
            ("int", pick(&|v| v.int != 0 && v.seq == 0)),
            ("intseq", pick(&|v| v.int != 0 && v.seq != 0)),
        ]
    }
    fn alias(&self, name: &str) -> Option<String> {
        name.strip_suffix("intseq")
            .map(|base| format!("{base}intrseqr"))
    }
    fn build(&self, name: &str, ctx: &Context, _: &Registry) -> Option<Arc<dyn Task>> {
        let variant = Variant::from_name(name)?;
        let canonical = variant.name();
        let key = Variant::all().iter().position(|v| *v == variant)? as u64;
        let channel = ctx
            .names
            .iter()
            .position(|n| n == name || *n == canonical)?;
        Some(Arc::new(ModCogTask::new(
            variant,
            key,
            (channel, ctx.names.len()),
            ctx.cfg.modcog,
        )))
    }
}

/// Row-wise digits ([`crate::digits`]): one task, `digits`, its images from `[task.digits]`.
struct DigitsBattery;

impl BatteryDef for DigitsBattery {
    fn name(&self) -> &'static str {
        "digits"
    }
    fn description(&self) -> String {
        "row-wise binary digits (CogControlLab/R2N2 exp_mnist): 28 inputs (one image row a step), 10 outputs (the class, read at the last step); images from [task.digits]".into()
    }
    fn n_in(&self, _: usize) -> usize {
        crate::digits::SIDE
    }
    fn n_out(&self) -> usize {
        crate::digits::CLASSES
    }
    fn validate(&self, cfg: &TaskConfig) -> Result<()> {
        crate::digits::DigitsTask::new(&cfg.digits).map(|_| ())
    }
    fn task_names(&self) -> Vec<String> {
        vec!["digits".into()]
    }
    fn build(&self, name: &str, ctx: &Context, _: &Registry) -> Option<Arc<dyn Task>> {
        if name != "digits" {
            return None;
        }
        // validate has read the images; a failure here is reported there
        let task = crate::digits::DigitsTask::new(&ctx.cfg.digits).ok()?;
        Some(Arc::new(task))
    }
}

/// a^n b^n next-symbol prediction ([`crate::anbn`]): one task per dataset n = m .. m + 3.
struct AnbnBattery;

impl BatteryDef for AnbnBattery {
    fn name(&self) -> &'static str {
        "anbn"
    }
    fn description(&self) -> String {
        "a^n b^n (CogControlLab/R2N2 data/anbngen.py): 3 inputs and 3 outputs, one-hot a, b, EOL; task anbn<m> draws n from m .. m + 3".into()
    }
    fn n_in(&self, _: usize) -> usize {
        crate::anbn::SYMBOLS
    }
    fn n_out(&self) -> usize {
        crate::anbn::SYMBOLS
    }
    fn task_names(&self) -> Vec<String> {
        crate::anbn::MS.iter().map(|m| format!("anbn{m}")).collect()
    }
    fn build(&self, name: &str, _: &Context, _: &Registry) -> Option<Arc<dyn Task>> {
        let m: usize = name.strip_prefix("anbn")?.parse().ok()?;
        let key = crate::anbn::MS.iter().position(|x| *x == m)? as u64;
        Some(Arc::new(crate::anbn::AnbnTask::new(m, key)))
    }
}
