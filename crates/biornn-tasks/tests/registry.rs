//! Tasks by name: the standard batteries, the errors a config gets, and a battery composed from
//! another's tasks through the registry.

use biornn_numerics::{RngStream, Streams};
use biornn_tasks::temporalskip::{TsRule, TsTask};
use biornn_tasks::yang::{YangRule, YangTask};
use biornn_tasks::{
    generate, BatchSpec, BatteryDef, Context, LastStep, Registry, Task, TaskBatch, TaskConfig,
    Timing, Trial,
};
use std::sync::Arc;

fn spec() -> BatchSpec {
    BatchSpec {
        dt: 20.0,
        batch_size: 4,
        timing: Timing::PerBatch,
        input_noise_std: 0.1,
    }
}

/// Two batches hold the same trials (latents may hold NaN, so compared bit for bit).
fn same(a: &TaskBatch, b: &TaskBatch) -> bool {
    let bits = |v: &[(&str, Vec<f64>)]| -> Vec<(String, Vec<u64>)> {
        v.iter()
            .map(|(n, x)| (n.to_string(), x.iter().map(|f| f.to_bits()).collect()))
            .collect()
    };
    (
        a.steps, a.batch, &a.x, &a.y, &a.cost, &a.y_loc, &a.class, &a.lengths, &a.epochs,
    ) == (
        b.steps, b.batch, &b.x, &b.y, &b.cost, &b.y_loc, &b.class, &b.lengths, &b.epochs,
    ) && bits(&a.latents) == bits(&b.latents)
}

fn config(battery: &str, rules: &[&str]) -> TaskConfig {
    TaskConfig {
        battery: battery.into(),
        rules: rules.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn yang_tasks_by_name_are_the_enum_tasks() {
    let cfg = TaskConfig {
        easy: true,
        ..config("yang20", &["all"])
    };
    let tasks = cfg.tasks().unwrap();
    assert_eq!(tasks.len(), 20);
    for (task, rule) in tasks.iter().zip(YangRule::ALL) {
        assert_eq!(task.name(), rule.name());
        assert_eq!(task.key(), rule.index() as u64);
        let direct = YangTask { rule, easy: true };
        let s = Streams::new(7);
        assert!(same(
            &generate(task, &spec(), &s, 3),
            &generate(&direct, &spec(), &s, 3)
        ));
    }
    assert_eq!(cfg.sizes().unwrap(), (85, 33));
    let picked = config("yang20", &["dm2", "fdgo"]).task_names().unwrap();
    assert_eq!(picked, ["dm2", "fdgo"]);
}

#[test]
fn temporalskip_is_a_battery_with_a_named_set() {
    let trained = config("temporalskip", &["trained"]).tasks().unwrap();
    let names: Vec<&str> = trained.iter().map(|t| t.name()).collect();
    let expected: Vec<&str> = TsRule::TRAINED.iter().map(|r| r.name()).collect();
    assert_eq!(names, expected);
    let dms = config("temporalskip", &["dms"]).tasks().unwrap();
    let s = Streams::new(1);
    assert!(same(
        &generate(&dms[0], &spec(), &s, 0),
        &generate(&TsTask::new(TsRule::Dms), &spec(), &s, 0)
    ));
    // a set name only stands for the set when given alone
    let err = config("temporalskip", &["trained", "dms"])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("task.rules[0]"), "{err}");
}

#[test]
fn bad_names_get_errors_that_name_the_field() {
    let err = config("yang21", &["fdgo"])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("task.battery"), "{err}");
    assert!(err.contains("did you mean `yang20`"), "{err}");
    assert!(err.contains("temporalskip"), "{err}");

    let err = config("yang20", &["fdgo", "dlygo"])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("task.rules[1]"), "{err}");
    assert!(err.contains("battery yang20"), "{err}");
    assert!(err.contains("did you mean `delaygo`"), "{err}");

    let err = config("yang20", &["fdgo", "fdgo"])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("task.rules[1]") && err.contains("listed twice"),
        "{err}"
    );

    let mut cfg = config("yang20", &["fdgo"]);
    cfg.rule_weights.insert("dm1".into(), 2.0);
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("task.rule_weights.dm1"), "{err}");
}

/// A modifier: the base task with its stimulus inputs (not fixation or rule) scaled by two.
struct Louder(Arc<dyn Task>);

impl Task for Louder {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn key(&self) -> u64 {
        100 + self.0.key()
    }
    fn n_in(&self) -> usize {
        self.0.n_in()
    }
    fn n_out(&self) -> usize {
        self.0.n_out()
    }
    fn summary(&self) -> String {
        format!("{}, stimuli doubled", self.0.summary())
    }
    fn epoch_names(&self) -> &'static [&'static str] {
        self.0.epoch_names()
    }
    fn trial_into(
        &self,
        dt: f64,
        shared: &mut RngStream,
        content: &mut RngStream,
        out: &mut Trial,
    ) {
        self.0.trial_into(dt, shared, content, out);
        let n_in = self.n_in();
        for (i, x) in out.x.iter_mut().enumerate() {
            if (1..65).contains(&(i % n_in)) {
                *x *= 2.0;
            }
        }
    }
    fn correct(&self, last: &LastStep) -> bool {
        self.0.correct(last)
    }
}

/// A battery composed from yang20's go tasks through the registry.
struct LoudGo;

impl BatteryDef for LoudGo {
    fn name(&self) -> &'static str {
        "loudgo"
    }
    fn description(&self) -> String {
        "yang20's go tasks, stimuli doubled".into()
    }
    fn n_in(&self, _: usize) -> usize {
        85
    }
    fn n_out(&self) -> usize {
        33
    }
    fn task_names(&self) -> Vec<String> {
        vec!["fdgo".into(), "delaygo".into()]
    }
    fn build(&self, name: &str, ctx: &Context, registry: &Registry) -> Option<Arc<dyn Task>> {
        if !self.task_names().iter().any(|n| n == name) {
            return None;
        }
        let base = registry.task("yang20", name, ctx.cfg).ok()?;
        Some(Arc::new(Louder(base)))
    }
}

#[test]
fn a_battery_composes_from_another_through_the_registry() {
    let mut registry = Registry::standard();
    registry.register(Box::new(LoudGo));
    let cfg = config("loudgo", &["all"]);
    cfg.validate_in(&registry).unwrap();
    // the standard registry does not know it
    assert!(cfg.validate().is_err());
    let tasks = registry.tasks(&cfg).unwrap();
    assert_eq!(tasks.len(), 2);
    let base = registry
        .tasks(&config("yang20", &["fdgo", "delaygo"]))
        .unwrap();
    let quiet = BatchSpec {
        input_noise_std: 0.0,
        ..spec()
    };
    for (loud, base) in tasks.iter().zip(&base) {
        let s = Streams::new(5);
        let a = generate(loud, &quiet, &s, 2);
        let b = generate(base, &quiet, &s, 2);
        assert!(a.y == b.y && a.cost == b.cost && a.y_loc == b.y_loc);
        let mut changed = 0;
        for (i, (xa, xb)) in a.x.iter().zip(&b.x).enumerate() {
            if (1..65).contains(&(i % 85)) {
                assert_eq!(*xa, 2.0 * xb);
                changed += (*xb != 0.0) as usize;
            } else {
                assert_eq!(xa, xb);
            }
        }
        assert!(changed > 0);
    }
}

/// A battery that declares sizes its tasks do not have is refused when a task is built.
struct Mislabelled;

impl BatteryDef for Mislabelled {
    fn name(&self) -> &'static str {
        "mislabelled"
    }
    fn description(&self) -> String {
        String::new()
    }
    fn n_in(&self, _: usize) -> usize {
        33
    }
    fn n_out(&self) -> usize {
        17
    }
    fn task_names(&self) -> Vec<String> {
        vec!["fdgo".into()]
    }
    fn build(&self, name: &str, ctx: &Context, registry: &Registry) -> Option<Arc<dyn Task>> {
        registry.task("yang20", name, ctx.cfg).ok()
    }
}

#[test]
fn a_battery_whose_tasks_do_not_fit_its_sizes_is_refused() {
    let mut registry = Registry::standard();
    registry.register(Box::new(Mislabelled));
    let err = registry
        .tasks(&config("mislabelled", &["fdgo"]))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("33 inputs and 17 outputs"), "{err}");
}
