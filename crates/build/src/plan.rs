//! Which stages a build runs and in what order. Stages form a graph:
//! `FROM <earlier stage>`, `COPY --from=<stage or index>` and
//! `RUN --mount=...,from=<stage>` are edges. Only the stages the target
//! reaches run, grouped into levels whose stages only need earlier levels,
//! so each level can run in parallel.
//!
//! `FROM` lines see only the `ARG`s declared before the first `FROM` (with
//! `--build-arg` overriding their defaults) and BuildKit's automatic
//! platform args (`TARGETARCH` ...).
//!
//! A `--from` value that is neither a stage name nor an index is an image,
//! as for docker, bare words included (`--from=busybox`); the executor
//! uses the local image or pulls it, and a misspelt stage name fails there,
//! saying that no stage or image of that name exists.

use std::collections::BTreeMap;

use berth_dockerfile::{expand, Dockerfile, Instruction};

use crate::error::{BuildError, Location};

/// What a plan is computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions<'a> {
    /// The Dockerfile's name, for messages.
    pub file: &'a str,
    /// `--target`; the last stage when `None`.
    pub target: Option<&'a str>,
    /// `--build-arg` values.
    pub build_args: &'a BTreeMap<String, String>,
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty file system.
    Scratch,
    /// An earlier stage's result, by index.
    Stage(usize),
    /// An image reference, variables expanded.
    Image(String),
}

/// An image used by `COPY --from` or `RUN --mount from=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    pub reference: String,
    pub at: Location,
}

/// One stage to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan {
    /// Index into [`Dockerfile::stages`].
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    /// `FROM --platform`, variables expanded.
    pub platform: Option<String>,
    /// The stages this one needs finished first (its base included), sorted.
    pub depends_on: Vec<usize>,
    /// Images it copies or mounts from.
    pub images: Vec<ImageUse>,
}

/// The stages a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The stage whose result is the built image.
    pub target: usize,
    /// The stages the target needs (itself included), level by level.
    pub stages: Vec<StagePlan>,
    /// Stage indices grouped by level: every stage of a level depends only
    /// on stages of earlier levels.
    pub levels: Vec<Vec<usize>>,
    /// The global scope: automatic platform args and the values of the
    /// `ARG`s before the first `FROM`. An `ARG NAME` inside a stage without
    /// a default takes its value from here.
    pub meta_args: BTreeMap<String, String>,
}

impl Plan {
    /// The planned stage with this Dockerfile index, if the target needs it.
    pub fn stage(&self, index: usize) -> Option<&StagePlan> {
        self.stages.iter().find(|stage| stage.index == index)
    }
}

/// BuildKit's automatic platform args for a build on this host for this
/// host (`TARGETPLATFORM=linux/amd64` ...).
pub fn host_platform_args() -> BTreeMap<String, String> {
    let (arch, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", ""),
        "x86" => ("386", ""),
        "aarch64" => ("arm64", ""),
        "arm" => ("arm", "v7"),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", ""),
        "loongarch64" => ("loong64", ""),
        other => (other, ""),
    };
    let os = "linux";
    let platform = if variant.is_empty() {
        format!("{os}/{arch}")
    } else {
        format!("{os}/{arch}/{variant}")
    };
    let mut args = BTreeMap::new();
    for prefix in ["BUILD", "TARGET"] {
        args.insert(format!("{prefix}PLATFORM"), platform.clone());
        args.insert(format!("{prefix}OS"), os.to_string());
        args.insert(format!("{prefix}ARCH"), arch.to_string());
        args.insert(format!("{prefix}VARIANT"), variant.to_string());
    }
    args
}

/// A dependency of one stage on another, and the line that makes it.
#[derive(Debug, Clone, Copy)]
struct Edge {
    stage: usize,
    line: usize,
}

/// Plans a build of `dockerfile`.
pub fn plan(dockerfile: &Dockerfile, options: &PlanOptions) -> Result<Plan, BuildError> {
    let at = |line: usize| Location::new(options.file, line);
    let meta_args = meta_args(dockerfile, options)?;
    let lookup = |name: &str| meta_args.get(name).cloned();
    let escape = dockerfile.directives.escape;
    let names: Vec<Option<&str>> = dockerfile
        .stages
        .iter()
        .map(|stage| stage.name.as_deref())
        .collect();

    let mut planned = Vec::with_capacity(dockerfile.stages.len());
    let mut edges: Vec<Vec<Edge>> = Vec::with_capacity(dockerfile.stages.len());
    for (index, stage) in dockerfile.stages.iter().enumerate() {
        let from = &stage.from;
        let expand_from = |word: &str| {
            expand(word, escape, &lookup).map_err(|error| BuildError::Expand {
                at: at(from.line),
                instruction: "FROM",
                error,
            })
        };
        let image = expand_from(&from.value.image)?;
        if image.is_empty() {
            return Err(BuildError::BlankBaseName {
                at: at(from.line),
                written: from.value.image.clone(),
            });
        }
        let platform = from
            .value
            .platform
            .as_deref()
            .map(expand_from)
            .transpose()?;
        let mut stage_edges = Vec::new();
        // Only an earlier stage can be a base; a later name is an image.
        let base = if image == "scratch" {
            Base::Scratch
        } else if let Some(base) = names[..index]
            .iter()
            .position(|name| *name == Some(image.as_str()))
        {
            stage_edges.push(Edge {
                stage: base,
                line: from.line,
            });
            Base::Stage(base)
        } else {
            Base::Image(image)
        };
        let mut images = Vec::new();
        for instruction in &stage.instructions {
            let (name, sources): (&'static str, Vec<&str>) = match &instruction.value {
                Instruction::Copy(copy) => ("COPY", copy.from.as_deref().into_iter().collect()),
                Instruction::Run(run) => (
                    "RUN",
                    run.mounts
                        .iter()
                        .filter_map(|mount| mount.from.as_deref())
                        .collect(),
                ),
                _ => continue,
            };
            for source in sources {
                match stage_reference(&names, source) {
                    Reference::Stage(stage) => stage_edges.push(Edge {
                        stage,
                        line: instruction.line,
                    }),
                    Reference::Image => images.push(ImageUse {
                        reference: source.to_string(),
                        at: at(instruction.line),
                    }),
                    Reference::BadIndex => {
                        return Err(BuildError::StageIndex {
                            at: at(instruction.line),
                            instruction: name,
                            index: source.to_string(),
                        })
                    }
                }
            }
        }
        let mut depends_on: Vec<usize> = stage_edges.iter().map(|edge| edge.stage).collect();
        depends_on.sort_unstable();
        depends_on.dedup();
        planned.push(StagePlan {
            index,
            name: stage.name.clone(),
            base,
            platform,
            depends_on,
            images,
        });
        edges.push(stage_edges);
    }

    check_cycles(&edges, &names, options.file)?;

    let target = match options.target {
        None => dockerfile.stages.len() - 1,
        Some(target) => {
            let wanted = target.to_lowercase();
            names
                .iter()
                .position(|name| *name == Some(wanted.as_str()))
                .ok_or_else(|| BuildError::TargetNotFound(target.to_string()))?
        }
    };

    let levels_by_stage = levels(&planned, target);
    let depth = levels_by_stage
        .iter()
        .flatten()
        .max()
        .map_or(0, |max| max + 1);
    let mut levels = vec![Vec::new(); depth];
    for (index, level) in levels_by_stage.iter().enumerate() {
        if let Some(level) = level {
            levels[*level].push(index);
        }
    }
    let stages = levels
        .iter()
        .flatten()
        .map(|&index| planned[index].clone())
        .collect();
    Ok(Plan {
        target,
        stages,
        levels,
        meta_args,
    })
}

/// The global scope `FROM` lines expand with.
fn meta_args(
    dockerfile: &Dockerfile,
    options: &PlanOptions,
) -> Result<BTreeMap<String, String>, BuildError> {
    let mut scope = host_platform_args();
    for arg in &dockerfile.args_before_from {
        for decl in &arg.value.args {
            let value = match (options.build_args.get(&decl.name), &decl.default) {
                (Some(given), _) => given.clone(),
                (None, Some(default)) => {
                    let lookup = |name: &str| scope.get(name).cloned();
                    expand(default, dockerfile.directives.escape, &lookup).map_err(|error| {
                        BuildError::Expand {
                            at: Location::new(options.file, arg.line),
                            instruction: "ARG",
                            error,
                        }
                    })?
                }
                // Declared without a value: empty, unless it is one of the
                // automatic args, which keeps its value.
                (None, None) => scope.get(&decl.name).cloned().unwrap_or_default(),
            };
            scope.insert(decl.name.clone(), value);
        }
    }
    Ok(scope)
}

enum Reference {
    Stage(usize),
    Image,
    BadIndex,
}

/// The stage a `--from` value names (by index or by name), or `None` when
/// it names an image. [`plan`] has refused indexes out of range.
pub fn stage_index(dockerfile: &Dockerfile, value: &str) -> Option<usize> {
    let names: Vec<Option<&str>> = dockerfile
        .stages
        .iter()
        .map(|stage| stage.name.as_deref())
        .collect();
    match stage_reference(&names, value) {
        Reference::Stage(index) => Some(index),
        Reference::Image | Reference::BadIndex => None,
    }
}

/// What a `--from` value names: a stage index, a stage name (stage names
/// are lower-case and cannot start with a digit, so the two never clash),
/// or an image.
fn stage_reference(names: &[Option<&str>], value: &str) -> Reference {
    if let Ok(index) = value.parse::<i64>() {
        return match usize::try_from(index) {
            Ok(index) if index < names.len() => Reference::Stage(index),
            _ => Reference::BadIndex,
        };
    }
    let lower = value.to_lowercase();
    match names.iter().position(|name| *name == Some(lower.as_str())) {
        Some(stage) => Reference::Stage(stage),
        None => Reference::Image,
    }
}

/// Refuses stages that copy from each other in a loop (BuildKit checks all
/// stages, needed or not).
fn check_cycles(edges: &[Vec<Edge>], names: &[Option<&str>], file: &str) -> Result<(), BuildError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(stage: usize, edges: &[Vec<Edge>], marks: &mut [Mark]) -> Option<(usize, Edge)> {
        marks[stage] = Mark::OnPath;
        for edge in &edges[stage] {
            match marks[edge.stage] {
                Mark::OnPath => return Some((stage, *edge)),
                Mark::New => {
                    if let Some(found) = visit(edge.stage, edges, marks) {
                        return Some(found);
                    }
                }
                Mark::Done => {}
            }
        }
        marks[stage] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; edges.len()];
    for stage in 0..edges.len() {
        if marks[stage] != Mark::New {
            continue;
        }
        if let Some((from, edge)) = visit(stage, edges, &mut marks) {
            let shown = names[from].map_or_else(|| from.to_string(), str::to_string);
            return Err(BuildError::CircularDependency {
                at: Location::new(file, edge.line),
                stage: shown,
            });
        }
    }
    Ok(())
}

/// Each stage's level if the target needs it: 0 without dependencies, else
/// one more than its deepest dependency. The graph is acyclic by now.
fn levels(stages: &[StagePlan], target: usize) -> Vec<Option<usize>> {
    fn level_of(stage: usize, stages: &[StagePlan], memo: &mut [Option<usize>]) -> usize {
        if let Some(level) = memo[stage] {
            return level;
        }
        let level = stages[stage]
            .depends_on
            .iter()
            .map(|&dep| level_of(dep, stages, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[stage] = Some(level);
        level
    }
    let mut memo = vec![None; stages.len()];
    level_of(target, stages, &mut memo);
    memo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Dockerfile {
        berth_dockerfile::parse("Dockerfile", src).unwrap()
    }

    fn plan_of(src: &str, target: Option<&str>, args: &[(&str, &str)]) -> Result<Plan, BuildError> {
        let build_args: BTreeMap<String, String> = args
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        plan(
            &parse(src),
            &PlanOptions {
                file: "Dockerfile",
                target,
                build_args: &build_args,
            },
        )
    }

    const MULTI: &str = "\
FROM golang:1.22 AS build
RUN go build -o /app .

FROM alpine:3.19 AS assets
RUN echo assets > /a

FROM build AS test
RUN go test ./...

FROM busybox AS unused
RUN true

FROM scratch
COPY --from=build /app /app
COPY --from=assets /a /a
";

    #[test]
    fn runs_only_what_the_target_needs_in_levels() {
        let plan = plan_of(MULTI, None, &[]).unwrap();
        assert_eq!(plan.target, 4);
        assert_eq!(plan.levels, [vec![0, 1], vec![4]]);
        let order: Vec<usize> = plan.stages.iter().map(|stage| stage.index).collect();
        assert_eq!(order, [0, 1, 4]);
        assert_eq!(plan.stage(4).unwrap().base, Base::Scratch);
        assert_eq!(plan.stage(4).unwrap().depends_on, [0, 1]);
        assert_eq!(
            plan.stage(0).unwrap().base,
            Base::Image("golang:1.22".into())
        );

        let test = plan_of(MULTI, Some("TEST"), &[]).unwrap();
        assert_eq!(test.target, 2);
        assert_eq!(test.levels, [vec![0], vec![2]]);
        assert_eq!(test.stage(2).unwrap().base, Base::Stage(0));
    }

    #[test]
    fn an_unknown_target_is_docker_s_error() {
        let err = plan_of(MULTI, Some("nope"), &[]).unwrap_err();
        assert_eq!(err.to_string(), "target stage \"nope\" could not be found");
    }

    #[test]
    fn copy_from_accepts_indexes_names_and_images() {
        let src = "\
FROM busybox AS one
FROM busybox
COPY --from=0 /a /a
COPY --from=ONE /b /b
COPY --from=nginx:latest /etc/nginx/nginx.conf /nginx.conf
RUN --mount=type=bind,from=one,target=/mnt true
";
        let plan = plan_of(src, None, &[]).unwrap();
        let last = plan.stage(1).unwrap();
        assert_eq!(last.depends_on, [0]);
        assert_eq!(
            last.images,
            [ImageUse {
                reference: "nginx:latest".into(),
                at: Location::new("Dockerfile", 5),
            }]
        );
    }

    #[test]
    fn a_bare_word_that_is_no_stage_is_an_image() {
        let src = "FROM busybox AS builder\nFROM scratch\nCOPY --from=busybox /bin/busybox /x\nRUN --mount=from=tools,target=/t true\n";
        let plan = plan_of(src, None, &[]).unwrap();
        let last = plan.stage(1).unwrap();
        assert!(last.depends_on.is_empty());
        let images: Vec<(&str, usize)> = last
            .images
            .iter()
            .map(|use_| (use_.reference.as_str(), use_.at.line))
            .collect();
        assert_eq!(images, [("busybox", 3), ("tools", 4)]);
        // Only the target's needs run: the stage named like the image is
        // not one of them.
        assert_eq!(plan.levels, [vec![1]]);

        let dockerfile = parse(src);
        assert_eq!(stage_index(&dockerfile, "BUILDER"), Some(0));
        assert_eq!(stage_index(&dockerfile, "1"), Some(1));
        assert_eq!(stage_index(&dockerfile, "busybox"), None);
        assert_eq!(stage_index(&dockerfile, "alpine:3.19"), None);
    }

    #[test]
    fn a_bad_stage_index_names_file_and_line() {
        let index = "FROM busybox\nCOPY --from=3 /a /a\n";
        assert_eq!(
            plan_of(index, None, &[]).unwrap_err().to_string(),
            "Dockerfile:2: COPY: invalid stage index 3"
        );
    }

    #[test]
    fn copy_loops_are_refused() {
        let src = "\
FROM busybox AS a
COPY --from=b /x /x
FROM busybox AS b
COPY --from=a /y /y
FROM busybox
";
        assert_eq!(
            plan_of(src, None, &[]).unwrap_err().to_string(),
            "Dockerfile:4: circular dependency detected on stage: b"
        );
        let own = "FROM busybox AS self\nCOPY --from=self /x /x\n";
        assert!(matches!(
            plan_of(own, None, &[]).unwrap_err(),
            BuildError::CircularDependency { .. }
        ));
    }

    #[test]
    fn from_sees_meta_args_with_build_arg_overrides() {
        let src = "\
ARG VERSION=3.18
ARG IMAGE=alpine:${VERSION}
ARG EMPTY
FROM $IMAGE AS base
FROM ${EMPTY:-busybox}
FROM --platform=$BUILDPLATFORM base
";
        let plan = plan_of(src, Some("base"), &[]).unwrap();
        assert_eq!(plan.stages[0].base, Base::Image("alpine:3.18".into()));
        assert_eq!(plan.meta_args["EMPTY"], "");

        let overridden = plan_of(
            src,
            Some("base"),
            &[("VERSION", "3.20"), ("UNDECLARED", "x")],
        )
        .unwrap();
        assert_eq!(overridden.stages[0].base, Base::Image("alpine:3.20".into()));
        assert!(!overridden.meta_args.contains_key("UNDECLARED"));

        let replaced = plan_of(src, Some("base"), &[("IMAGE", "debian:12")]).unwrap();
        assert_eq!(replaced.stages[0].base, Base::Image("debian:12".into()));

        let all = plan_of(src, None, &[]).unwrap();
        let last = all.stage(2).unwrap();
        assert_eq!(last.base, Base::Stage(0));
        assert_eq!(
            last.platform.as_deref(),
            Some(host_platform_args()["BUILDPLATFORM"].as_str())
        );
        assert_eq!(all.stage(1), None);
    }

    #[test]
    fn a_blank_base_name_is_refused() {
        let src = "ARG IMAGE\nFROM ${IMAGE}\n";
        assert_eq!(
            plan_of(src, None, &[]).unwrap_err().to_string(),
            "Dockerfile:2: FROM: base name (${IMAGE}) should not be blank"
        );
        assert!(plan_of(src, None, &[("IMAGE", "busybox")]).is_ok());
    }

    #[test]
    fn a_later_stage_name_in_from_is_an_image() {
        let src = "FROM later AS first\nFROM busybox AS later\n";
        let plan = plan_of(src, Some("later"), &[]).unwrap();
        assert_eq!(plan.levels, [vec![1]]);
        let first = plan_of(src, Some("first"), &[]).unwrap();
        assert_eq!(first.stages[0].base, Base::Image("later".into()));
    }
}
