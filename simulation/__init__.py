"""The main job: play the plan through the real services, then report and reconcile."""
