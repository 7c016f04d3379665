"""The plan on a screen: server-rendered pages per role, a read model fed by the plan's events, exports."""
