"""Local stand-ins for the services around the pipeline: Azurite, the usage-API simulator, a Slack
catcher, background services (`services up`), and the synthetic data they serve."""
