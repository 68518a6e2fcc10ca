"""Agents: roles, their prompts (template files) and the dialogue mechanics."""
