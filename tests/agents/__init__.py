"""The real coding agents (Claude Code, Codex CLI, Gemini CLI) driven against failsoft."""
