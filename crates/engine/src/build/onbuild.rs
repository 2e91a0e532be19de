//! `ONBUILD` triggers: the instructions a base image left for the builds
//! that use it, run right after `FROM` as docker's classic builder runs
//! them: `# Executing N build triggers`, then each trigger as a step without
//! a `Step` line of its own. A trigger's errors point at the `FROM` line.

use berth_dockerfile::{parse_instruction, Instruction, Located};
use serde_json::Value;

use super::{step_error, Builder, Current, StageScope};
use crate::EngineError;

impl Builder<'_> {
    pub(super) fn onbuild(
        &mut self,
        mut current: Current,
        scope: &mut StageScope,
        from_line: usize,
        triggers: &[Value],
    ) -> Result<Current, EngineError> {
        let at = self.at(from_line);
        self.say(&format!(
            "# Executing {} build {}",
            triggers.len(),
            if triggers.len() == 1 {
                "trigger"
            } else {
                "triggers"
            }
        ));
        let meta_args = self.meta_args;
        for trigger in triggers {
            let text = trigger.as_str().ok_or_else(|| {
                step_error(&at, "FROM", format!("invalid ONBUILD trigger {trigger}"))
            })?;
            let instruction = parse_instruction(text)
                .map_err(|e| step_error(&at, "FROM", format!("ONBUILD trigger {text:?}: {e}")))?;
            if matches!(
                instruction,
                Instruction::From(_) | Instruction::Onbuild(_) | Instruction::Maintainer(_)
            ) {
                return Err(step_error(
                    &at,
                    "FROM",
                    format!("{} isn't allowed as an ONBUILD trigger", instruction.name()),
                ));
            }
            let located = Located {
                line: from_line,
                end_line: from_line,
                original: text.to_string(),
                value: instruction,
            };
            current = self.execute(current, scope, meta_args, &located)?;
        }
        Ok(current)
    }
}
