"""The research config: its models (`schema`), loading (`loading`), Agent Laboratory keys (`agentlab`), phase and role names (`names`)."""
