//! `render`: write the exact templates `up` deploys.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::cli::RenderArgs;
use crate::context::Context;
use crate::template::stackset::stack_set_template;
use crate::template::{self, RenderedStack, INLINE_BODY_LIMIT};

#[derive(Debug, Serialize)]
pub(crate) struct RenderReport {
    pub(crate) stacks: Vec<RenderedFile>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RenderedFile {
    #[serde(flatten)]
    pub(crate) stack: RenderedStack,
    pub(crate) path: PathBuf,
}

impl fmt::Display for RenderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.stacks {
            writeln!(f, "{}", s.path.display())?;
        }
        Ok(())
    }
}

pub fn run(ctx: &Context, args: &RenderArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let mut rendered = template::render_project(project)?;
    // A stage with targets deploys the StackSet's template: render that. It fills no
    // parameter from outputs (a StackSet makes no second pass; its queues have fixed names).
    if let Some(targets) = project.stage.as_ref().and_then(|s| s.targets.as_ref()) {
        for r in &mut rendered {
            let set = stack_set_template(project, targets, (&r.stack, &r.body), &r.functions)?;
            r.body = set.body;
            r.size_bytes = r.body.len();
            r.parameters_from_outputs.clear();
        }
    }
    for r in &rendered {
        for (parameter, value) in &r.parameters_from_outputs {
            ctx.reporter.line(format!(
                "note: stack {} parameter {parameter} is `{value}`, known only at deploy: the rendered template has its Default, and `up` sets it from the stack outputs",
                r.stack
            ));
        }
        if r.needs_s3_upload {
            ctx.reporter.line(format!(
                "note: stack {} template is {} bytes, over CloudFormation's {INLINE_BODY_LIMIT}-byte inline limit; `up` uploads it to `artifact_bucket` first",
                r.stack, r.size_bytes
            ));
        }
    }

    if args.stdout {
        let chosen = match (&args.stack, rendered.as_slice()) {
            (None, [only]) => only,
            (None, _) => bail!(crate::error::Problem::usage(format!(
                "the project has {} stacks; choose one with --stack ({})",
                rendered.len(),
                stack_names(&rendered)
            ))),
            (Some(name), _) => rendered.iter().find(|r| &r.stack == name).ok_or_else(|| {
                crate::error::Problem::usage(format!(
                    "unknown stack `{name}`; stacks: {}",
                    stack_names(&rendered)
                ))
            })?,
        };
        print!("{}", chosen.body);
        return Ok(());
    }

    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| project.artifact_dir().join("templates"));
    let mut files = Vec::new();
    for r in rendered {
        let path = out_dir.join(format!("{}.yaml", r.stack));
        crate::atomic_write::write_atomically(&path, r.body.as_bytes())
            .with_context(|| format!("writing rendered template {}", path.display()))?;
        files.push(RenderedFile { stack: r, path });
    }
    ctx.reporter.emit(&RenderReport { stacks: files })
}

fn stack_names(rendered: &[RenderedStack]) -> String {
    rendered
        .iter()
        .map(|r| r.stack.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
