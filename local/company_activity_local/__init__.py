"""Company Activity Pipeline on a developer's or operator's machine: the `company-activity` CLI, the
offline stand-ins for Azure (ADF executor, T-SQL on DuckDB, Azurite, usage-API simulator, Slack
catcher), the demo and the dashboard. Imports the Functions app's contracts (`company_activity`); the
app never imports this package (the import contract in pyproject.toml is checked by `make test`)."""
